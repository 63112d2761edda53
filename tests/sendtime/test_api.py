"""The send-time API over real HTTP: a contact's best time and the workspace histogram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.sendtime.helpers import add_contact, engage


def recent(hour: int, days_ago: int) -> datetime:
    """``hour``:30 UTC ``days_ago`` days back (inside the lookback window)."""
    today = datetime.now(UTC).replace(hour=hour, minute=30, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def test_best_time_of_a_contact(client: TestClient, container: Container, ws: Workspace
                                ) -> None:  # fmt: skip
    for _ in range(7):
        other = add_contact(container, ws.id, "UTC")
        engage(container, ws.id, other, [recent(9, d) for d in (2, 3, 4)])
    cid = add_contact(container, ws.id, "Asia/Kolkata")
    engage(container, ws.id, cid, [recent(5, d) for d in (2, 3, 4, 5)])
    asked = datetime.now(UTC)  # inside the best hour (05:xx UTC) the answer is the request's now
    r = client.get(f"/api/v1/contacts/{cid}/best-time", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    kolkata_hour = recent(5, 2).astimezone(ZoneInfo("Asia/Kolkata")).hour
    assert (body["hour"], body["source"], body["samples"]) == (kolkata_hour, "contact", 4)
    assert body["timezone"] == "Asia/Kolkata"
    next_at = datetime.fromisoformat(body["next_at"])
    assert timedelta(0) <= next_at - asked <= timedelta(hours=24)

    thin = add_contact(container, ws.id, "UTC")
    body = client.get(f"/api/v1/contacts/{thin}/best-time", headers=ws.api_headers).json()
    assert (body["hour"], body["source"], body["samples"]) == (9, "population", 0)

    container.db.write(lambda conn: conn.execute(
        "UPDATE contacts SET merged_into = ? WHERE id = ?", [cid, thin]))  # fmt: skip
    body = client.get(f"/api/v1/contacts/{thin}/best-time", headers=ws.api_headers).json()
    assert (body["contact_id"], body["source"], body["samples"]) == (cid, "contact", 4)


def test_unknown_and_foreign_contacts_are_not_found(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    theirs = add_contact(container, other_ws.id, "UTC")
    for cid in (theirs, 999_999):
        r = client.get(f"/api/v1/contacts/{cid}/best-time", headers=ws.api_headers)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/contacts/{theirs}/best-time").status_code == 401


def test_workspace_histogram(client: TestClient, container: Container, ws: Workspace) -> None:
    for hour in (8, 8, 8, 13):
        cid = add_contact(container, ws.id, "UTC")
        engage(container, ws.id, cid, [recent(hour, d) for d in range(1, 7)])
    r = client.get("/api/v1/send-time/histogram", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["hours"]) == 24
    assert (body["hours"][8], body["hours"][13], body["samples"]) == (18, 6, 24)
    assert (body["best"]["hour"], body["best"]["source"]) == (8, "population")
