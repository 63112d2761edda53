"""Runs started by segment entries (the membership log) and by the API, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.service import for_container
from tests.conftest import Workspace
from tests.journeys.test_runs import journey, runs, sends


def simple(trigger: dict[str, Any], message: str) -> dict[str, Any]:
    return {
        "name": f"On {trigger['type']}",
        "entry": {"trigger": trigger, "rule": {"type": "every_time"}},
        "start": "s", "nodes": [{"id": "s", "type": "send", "message_id": message, "next": "x"},
                                {"id": "x", "type": "exit"}],
    }  # fmt: skip


def contact(client: TestClient, ws: Workspace, email: str) -> int:
    made = client.post("/api/v1/contacts", headers=ws.api_headers,
                       json={"identifiers": {"email": email}})  # fmt: skip
    return int(made.json()["id"])


def test_segment_entries_start_runs_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "seg@example.net")
    journey_id = journey(client, ws, simple({"type": "segment", "segment_id": "seg_vip"}, "m1"))
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)  # the journey's cursor starts now: earlier entries are not read

    def log(kind: str, at: datetime) -> None:  # what the membership engine writes
        container.db.write(lambda conn: conn.execute(
            "INSERT INTO segment_events VALUES (?, 'seg_vip', ?, ?, ?, 'event')",
            [ws.id, person, kind, at]))  # fmt: skip

    log("entered", now - timedelta(minutes=5))  # before the journey went live
    log("entered", now + timedelta(seconds=1))
    log("exited", now + timedelta(seconds=1))
    runner.tick(now + timedelta(seconds=2))
    runner.tick(now + timedelta(seconds=3))
    assert [r[1:3] for r in runs(container, journey_id)] == [(person, "done")]
    assert len(sends(container, journey_id)) == 1


def test_api_entries_with_an_idempotency_key(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact(client, ws, "lead@example.net")
    journey_id = journey(client, ws, simple({"type": "api"}, "m_call"))
    url = f"/api/v1/journeys/{journey_id}/runs"
    body = {"email": "lead@example.net", "data": {"lead": "hot"}}
    headers = ws.api_headers | {"Idempotency-Key": "lead-42"}
    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)
    assert first.status_code == 202, first.text
    assert first.json()["started"]
    assert not again.json()["started"]
    for_container(container).runner.tick(datetime.now(UTC) + timedelta(seconds=1))
    [(_, _, _, _)] = sends(container, journey_id)
    with container.db.read() as cur:
        data = cur.execute("SELECT data->>'$.trigger.data.lead' FROM sends").fetchone()
    assert data == ("hot",)
    unknown = client.post(url, headers=ws.api_headers, json={"email": "nobody@example.net"})
    assert unknown.status_code == 404
    event_journey = journey(client, ws, simple({"type": "event", "event": "X"}, "m2"))
    wrong = client.post(f"/api/v1/journeys/{event_journey}/runs", headers=ws.api_headers,
                        json={"email": "lead@example.net"})  # fmt: skip
    assert wrong.status_code == 409
