"""The policy over HTTP and the send history it counts, on a real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.events import MessageEvent, SendContext, record
from retenta.policy.decide import decide
from retenta.policy.store import PolicyStore
from tests.conftest import Workspace


def test_policy_api(client: TestClient, ws: Workspace, other_ws: Workspace) -> None:
    policy = {
        "caps": [{"channel": "email", "max": 3, "per": {"amount": 7, "unit": "days"}}],
        "quiet_hours": {"start": "22:00", "end": "08:00"},
        "default_timezone": "Europe/Kyiv",
    }
    put = client.put("/api/v1/policy", headers=ws.api_headers, json=policy)
    assert put.status_code == 200, put.text
    assert client.get("/api/v1/policy", headers=ws.api_headers).json()["caps"][0]["max"] == 3
    assert client.get("/api/v1/policy", headers=other_ws.api_headers).json()["caps"] == []
    bad = client.put("/api/v1/policy", headers=ws.api_headers,
                     json={"caps": [{"channel": "email", "max": -1}]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "caps.0.max"


def test_history_counts_sends_and_human_opens(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    made = client.post("/api/v1/contacts", headers=ws.api_headers,
                       json={"identifiers": {"email": "h@example.net"}})  # fmt: skip
    person = int(made.json()["id"])
    now = datetime.now(UTC)

    def send(send_id: str, hours_ago: int, *extra: tuple[str, bool]) -> list[MessageEvent]:
        ctx = SendContext(ws.id, person, send_id, "email")
        at = now - timedelta(hours=hours_ago)
        return [MessageEvent(ctx, "sent", at)] + [
            MessageEvent(ctx, status, at + timedelta(minutes=5), machine=machine)
            for status, machine in extra
        ]

    events = (send("snd_a", 5, ("opened", True)) + send("snd_b", 3, ("opened", False))
              + send("snd_c", 1) + send("snd_old", 24 * 40))  # fmt: skip
    asyncio.run(record(container.db, events))
    store = PolicyStore(container.db)
    with container.db.read() as cur:
        history = store.history(cur, ws.id, [person], now=now)[person]
    assert sorted((h.at < now - timedelta(hours=4), h.opened) for h in history) == [
        (False, False), (False, True), (True, False),
    ]  # a machine open is not an open; 40 days ago is beyond the lookback  # fmt: skip
    policy = (
        PolicyStore(container.db)
        .get(ws.id)
        .model_validate({"fatigue": [{"channel": "email", "unopened": 2}]})
    )
    assert decide(policy, channel="email", category="promo", at=now, timezone=None,
                  history=history).allowed  # snd_b was opened by a person  # fmt: skip


def test_history_takes_each_send_category_from_the_ledger(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Categories are read from ``sends`` by key; a send the ledger does not hold (a direct
    provider event) counts as promo."""
    made = client.post("/api/v1/contacts", headers=ws.api_headers,
                       json={"identifiers": {"email": "c@example.net"}})  # fmt: skip
    person = int(made.json()["id"])
    now = datetime.now(UTC)
    ledger = [("snd_trg", "trigger"), ("snd_txn", "transactional")]
    container.db.write(lambda conn: conn.executemany(
        "INSERT INTO sends (send_id, workspace_id, contact_id, channel, \"cascade\", message_id,"
        " category, status, created_at, updated_at) VALUES (?, ?, ?, 'email', '[\"email\"]',"
        " 'msg_1', ?, 'sent', ?, ?)",
        [[sid, ws.id, person, category, now, now] for sid, category in ledger]))  # fmt: skip
    hour_ago = now - timedelta(hours=1)
    events = [MessageEvent(SendContext(ws.id, person, sid, "email"), "sent", hour_ago)
              for sid in ("snd_trg", "snd_txn", "snd_elsewhere")]  # fmt: skip
    asyncio.run(record(container.db, events))
    with container.db.read() as cur:
        history = PolicyStore(container.db).history(cur, ws.id, [person], now=now)[person]
    assert sorted(h.category for h in history) == ["promo", "transactional", "trigger"]
