"""Journeys end to end on a real store: an event starts a run, timers advance it, the send
reaches the send ledger once, and the trace explains every decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.engine import send_id_for, split_branch
from retenta.journeys.service import for_container
from tests.conftest import Workspace
from tests.journeys.test_definition import CART


def journey(client: TestClient, ws: Workspace, doc: dict[str, Any]) -> str:
    made = client.post("/api/v1/journeys", headers=ws.api_headers, json=doc)
    assert made.status_code == 201, made.text
    journey_id = str(made.json()["id"])
    live = client.post(f"/api/v1/journeys/{journey_id}/activate", headers=ws.api_headers)
    assert live.json()["status"] == "live"
    return journey_id


def track(client: TestClient, ws: Workspace, event: str, **properties: Any) -> None:
    body = {"userId": "u1", "event": event, "properties": properties}
    answer = client.post("/v1/track", json=body, auth=ws.write_auth)
    assert answer.status_code == 200, answer.text


def runs(container: Container, journey_id: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT run_id, contact_id, state, node_id, waiting_for FROM journey_runs"
            " WHERE journey_id = ? ORDER BY entered_at",
            [journey_id],
        ).fetchall()


def sends(container: Container, campaign: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT send_id, message_id, category, data->>'$.trigger.properties.total'"
            " FROM sends WHERE campaign_id = ? ORDER BY send_id",
            [campaign],
        ).fetchall()


def test_abandoned_cart_end_to_end(client: TestClient, container: Container, ws: Workspace) -> None:
    journey_id = journey(client, ws, CART)
    track(client, ws, "Checkout Started", total=20)  # below the trigger's filter: no run
    assert runs(container, journey_id) == []
    track(client, ws, "Checkout Started", total=80)
    track(client, ws, "Checkout Started", total=90)  # once per 7 days: no second run
    [(run_id, contact_id, state, _node, _waiting)] = runs(container, journey_id)
    assert state == "active"
    runner = for_container(container).runner
    now = datetime.now(UTC)
    assert runner.tick(now) == 1
    assert runs(container, journey_id)[0][2:] == ("active", "wait", "Order Completed")
    assert runner.tick(now + timedelta(minutes=30)) == 0  # not due yet
    runner.tick(now + timedelta(hours=1, seconds=1))
    runner.tick(now + timedelta(hours=1, seconds=2))  # nothing left to do
    assert runs(container, journey_id)[0][2] == "done"
    discount = split_branch(run_id, "ab", [90, 10]) == 0  # the run's own, fixed draw
    expected = [send_id_for(run_id, "remind")] + (
        [send_id_for(run_id, "discount")] if discount else []
    )
    got = sends(container, journey_id)
    assert [s[0] for s in got] == sorted(expected)
    assert got[0][2] == "trigger"
    assert {s[3] for s in got} == {"80"}  # the run carries its own trigger's cart
    trace = client.get(f"/api/v1/contacts/{contact_id}/journey-trace", headers=ws.api_headers)
    decisions = [item["decision"] for item in reversed(trace.json()["items"])]
    assert decisions[:3] == ["entered", "waiting", "branch"]
    assert decisions[-1] == "exit"


def test_the_awaited_event_wakes_the_run_and_ends_it(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = journey(client, ws, CART)
    track(client, ws, "Checkout Started", total=80)
    runner = for_container(container).runner
    runner.tick(datetime.now(UTC))
    track(client, ws, "Order Completed", total=80)  # wakes the waiting run at once
    runner.tick(datetime.now(UTC) + timedelta(seconds=1))
    assert runs(container, journey_id)[0][2] == "done"
    assert sends(container, journey_id) == []


def test_a_replayed_step_never_sends_twice(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = journey(client, ws, CART)
    track(client, ws, "Checkout Started", total=80)
    runner = for_container(container).runner
    later = datetime.now(UTC) + timedelta(hours=2)
    claimed = container.db.write(
        lambda conn: conn.execute(
            "SELECT run_id, workspace_id, journey_id, version, contact_id, node_id,"
            " node_entered_at, entered_at, context, wake_at FROM journey_runs"
        ).fetchall()
    )
    steps = runner._steps(claimed, later)
    runner._queue_sends(steps)  # the process "dies" here: sends queued, run not saved
    first = sends(container, journey_id)
    runner.tick(later)  # after restart the same step runs again
    assert sends(container, journey_id) == first
    assert runs(container, journey_id)[0][2] == "done"


def test_invalid_journeys_and_stopping(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    bad = client.post("/api/v1/journeys", headers=ws.api_headers,
                      json={**CART, "start": "missing"})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "start"
    journey_id = journey(client, ws, CART)
    track(client, ws, "Checkout Started", total=80)
    stopped = client.post(f"/api/v1/journeys/{journey_id}/stop", headers=ws.api_headers)
    assert stopped.json()["status"] == "stopped"
    assert runs(container, journey_id)[0][2] == "stopped"
    assert for_container(container).runner.tick(datetime.now(UTC) + timedelta(days=1)) == 0
