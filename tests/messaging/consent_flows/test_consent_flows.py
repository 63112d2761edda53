"""Double opt-in and the preference centre over HTTP, as a contact would use them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.consent_flows.doi import DoubleOptIn
from retenta.messaging.services import for_container
from tests.conftest import Workspace


def consents(
    container: Container, ws: Workspace, contact_id: int
) -> dict[tuple[str, str], tuple[str, str]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT channel, topic, arg_max(status, changed_at), arg_max(source, changed_at)"
            " FROM consents WHERE workspace_id = ? AND contact_id = ? GROUP BY ALL",
            [ws.id, contact_id],
        ).fetchall()
    return {(c, t): (s, src) for c, t, s, src in rows}


def test_double_opt_in_end_to_end(client: TestClient, container: Container, ws: Workspace) -> None:
    answer = client.post(
        "/api/v1/consent/double-opt-in",
        headers=ws.api_headers,
        json={"contact": {"email": "New@Example.net"}, "topics": ["*"], "source": "footer_form"},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    contact_id, path = body["contact_id"], body["confirm_url"].removeprefix("http://testserver")
    assert consents(container, ws, contact_id)[("email", "*")][0] == "pending"
    page = client.get(path)  # a link scanner's GET confirms nothing
    assert page.status_code == 200
    assert "<button" in page.text
    assert consents(container, ws, contact_id)[("email", "*")][0] == "pending"
    done = client.post(path, headers={"user-agent": "Mozilla/5.0 test"})
    assert "Subscription confirmed" in done.text
    assert consents(container, ws, contact_id)[("email", "*")] == ("subscribed", "double_opt_in")
    again = client.post(path)
    assert "Already confirmed" in again.text
    with container.db.read() as cur:
        proof = cur.execute(
            "SELECT source, user_agent, confirmed_at >= requested_at FROM consent_proofs"
            " WHERE workspace_id = ? AND contact_id = ?",
            [ws.id, contact_id],
        ).fetchall()
    assert proof == [("footer_form", "Mozilla/5.0 test", True)]
    edited = path[:-2] + ("aa" if not path.endswith("aa") else "bb")
    assert client.post(edited).status_code == 404
    assert client.get(edited).status_code == 404


def test_an_expired_confirmation_changes_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    made = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={"identifiers": {"email": "late@example.net"}},
    )
    contact_id = int(made.json()["id"])
    doi = DoubleOptIn(container.db, for_container(container).keyring)
    token = asyncio.run(doi.request(ws.id, contact_id, topics=["news"]))
    later = datetime.now(UTC) + timedelta(days=8)
    result = asyncio.run(doi.confirm(token, now=later))
    assert result is not None
    assert result.status == "expired"
    assert consents(container, ws, contact_id)[("email", "news")][0] == "pending"


def test_double_opt_in_validation(client: TestClient, ws: Workspace) -> None:
    two = client.post(
        "/api/v1/consent/double-opt-in",
        headers=ws.api_headers,
        json={"contact": {"email": "a@b.example", "phone": "+380501234567"}},
    )
    assert two.status_code == 422
    unknown = client.post(
        "/api/v1/consent/double-opt-in",
        headers=ws.api_headers,
        json={"contact": {"external_id": "nobody"}},
    )
    assert unknown.status_code == 404
    bad_channel = client.post(
        "/api/v1/consent/double-opt-in",
        headers=ws.api_headers,
        json={"contact": {"email": "a@b.example"}, "channel": "E-Mail"},
    )
    assert bad_channel.status_code == 422
    assert bad_channel.json()["error"]["field"] == "channel"


def test_preference_centre(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    topics = [{"topic": "news", "name": "News"}, {"topic": "promo", "name": "Sales"}]
    assert (
        client.put("/api/v1/consent/topics", headers=ws.api_headers, json=topics).status_code == 200
    )
    made = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={
            "identifiers": {"email": "p@example.net"},
            "consents": [{"channel": "email", "topic": "*", "status": "subscribed"}],
        },
    )
    contact_id = int(made.json()["id"])
    link = client.get(f"/api/v1/contacts/{contact_id}/preference-link", headers=ws.api_headers)
    path = link.json()["url"].removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200
    assert 'name="channel:email" checked' in page.text
    assert 'name="topic:promo" checked' in page.text
    saved = client.post(
        path, data={"channel:email": "on", "topic:news": "on", "frequency": "weekly"}
    )
    assert "Saved." in saved.text
    assert 'value="weekly" checked' in saved.text
    state = consents(container, ws, contact_id)
    assert state[("email", "promo")] == ("unsubscribed", "preference_centre")
    assert state[("email", "*")][0] == "subscribed"
    assert ("email", "news") not in state
    client.post(path, data={"unsubscribe_all": "1"})
    assert consents(container, ws, contact_id)[("email", "*")][0] == "unsubscribed"
    foreign = client.get(
        f"/api/v1/contacts/{contact_id}/preference-link", headers=other_ws.api_headers
    )
    other_path = foreign.json()["url"].removeprefix("http://testserver")
    assert client.get(other_path).status_code == 404  # that contact is not in other_ws
