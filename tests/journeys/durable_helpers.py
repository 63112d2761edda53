"""Shared by the durable-execution and version tests: a journey whose runs wait for days."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace


def waits(days: int = 3, wait_id: str = "wait", bye: str = "msg_bye") -> dict[str, Any]:
    """Signed Up → hello → wait ``days`` → bye → exit (every time)."""
    return copy.deepcopy({
        "name": "Welcome",
        "entry": {"trigger": {"type": "event", "event": "Signed Up"},
                  "rule": {"type": "every_time", "max_concurrent": 5}},
        "start": "hello",
        "nodes": [
            {"id": "hello", "type": "send", "message_id": "msg_hello", "next": wait_id},
            {"id": wait_id, "type": "wait", "duration": {"amount": days, "unit": "days"},
             "next": "bye"},
            {"id": "bye", "type": "send", "message_id": bye, "next": "done"},
            {"id": "done", "type": "exit"},
        ],
    })  # fmt: skip


def sign_up(client: TestClient, ws: Workspace, *users: str) -> None:
    for user in users:
        body = {"userId": user, "event": "Signed Up", "properties": {"plan": "free"}}
        answer = client.post("/v1/track", json=body, auth=ws.write_auth)
        assert answer.status_code == 200, answer.text


def run_rows(container: Container, journey_id: str) -> list[tuple[Any, ...]]:
    """(contact, version, state, node) of every run, by contact."""
    with container.db.read() as cur:
        return cur.execute(
            "SELECT contact_id, version, state, node_id FROM journey_runs WHERE journey_id = ?"
            " ORDER BY contact_id",
            [journey_id],
        ).fetchall()


def send_rows(container: Container, journey_id: str) -> list[tuple[Any, ...]]:
    """(contact, message) of every send the journey queued, sorted."""
    with container.db.read() as cur:
        return cur.execute(
            "SELECT contact_id, message_id FROM sends WHERE campaign_id = ? ORDER BY ALL",
            [journey_id],
        ).fetchall()


def decisions(container: Container, journey_id: str, decision: str) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*) FROM journey_trace WHERE journey_id = ? AND decision = ?",
            [journey_id, decision],
        ).fetchone()
    return int(row[0])
