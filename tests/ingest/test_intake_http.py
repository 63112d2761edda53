"""Intake answers through the real app (TestClient, real DuckDB) where session 10 changed them."""

from __future__ import annotations

import base64

from tests.conftest import Workspace


def basic(ws: Workspace) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()}


def test_an_event_whose_type_is_a_list_is_rejected_alone(client, container, ws) -> None:
    """Its unhashable ``type`` made the parser raise: a 503 for the whole batch, forever."""
    batch = [
        {"type": ["track"], "userId": "u1", "event": "E", "messageId": "bad"},
        {"type": "track", "userId": "u1", "event": "E", "messageId": "good"},
    ]
    res = client.post("/v1/batch", json={"batch": batch}, headers=basic(ws))
    assert res.status_code == 200
    body = res.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [0]
    assert body["rejected"][0]["errors"][0]["field"] == "batch[0].type"
    with container.db.read() as cur:
        stored = cur.execute(
            "SELECT message_id FROM all_events WHERE workspace_id = ?", [ws.id]
        ).fetchall()
    assert stored == [("good",)]
