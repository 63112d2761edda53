"""The live trickle: scripted visits through the real ingestion pipeline."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.core.messages import Message
from retenta.demo.generate import generate_store
from retenta.demo.trickle import LiveTrickle, Product, Visitor, visit_script
from tests.conftest import Workspace

CATALOG = [
    Product("SKU-000001", "Hata Cozy Red Mug", "Home/Kitchen/Mugs", "Hata", 199.0),
    Product("SKU-000002", "Nordvik Urban Black Sneakers", "Men/Shoes/Sneakers", "Nordvik", 2399.0),
]


def test_visit_scripts_are_believable() -> None:
    rnd = random.Random(1)
    names: set[str | None] = set()
    for _ in range(300):
        visitor, steps = visit_script(rnd, Visitor("anon-1"), CATALOG)
        assert steps[0].event == "Home"
        names |= {s.event for s in steps}
        if any(s.type == "identify" for s in steps):
            assert visitor.user_id
            assert visitor.email
            assert all(s.user_id == visitor.user_id for s in steps[1:])
        if any(s.event == "Order Completed" for s in steps):
            assert visitor.user_id is not None  # only known people check out
    assert {"Product Viewed", "Product Added", "Order Completed", "Signed Up"} <= names


def _count(container: Container, ws: str) -> int:
    with container.db.read() as cur:
        row = cur.execute("SELECT count(*) FROM all_events WHERE workspace_id = ?", [ws]).fetchone()
    assert row is not None
    return int(row[0])


def _registered_live(container: Container, ws: str) -> list[tuple[int, int]]:
    """(contact, anonymous events before sign-up) of visitors who registered live."""
    with container.db.read() as cur:
        return cur.execute(
            "SELECT i.contact_id, (SELECT count(*) FROM all_events e"
            "  WHERE e.contact_id = i.contact_id AND e.user_id IS NULL) FROM identities i"
            " WHERE i.workspace_id = ? AND i.type = 'external_id' AND i.value LIKE 'live-%'",
            [ws],
        ).fetchall()


def test_trickle_flows_through_the_pipeline(container: Container, ws: Workspace) -> None:
    generate_store(container.db, ws.id, contacts=60, seed=3, now=datetime.now(UTC))
    before = _count(container, ws.id)
    trickle = LiveTrickle(
        db=container.db, ingest=container.ingest, workspace_id=ws.id, rate=500, seed=9
    )

    async def run() -> None:
        await trickle.start()
        for _ in range(100):  # until a new visitor has registered (usually < 2 s)
            await asyncio.sleep(0.1)
            if await asyncio.to_thread(_registered_live, container, ws.id):
                break
        await trickle.stop()

    asyncio.run(run())
    assert trickle.failures == 0
    assert trickle.sent > 5
    # a batch in flight when the loop is cancelled may land without being counted
    assert before + trickle.sent <= _count(container, ws.id) <= before + trickle.sent + 2
    registered = _registered_live(container, ws.id)
    assert registered  # identity resolution created the new contacts
    # the "Home" page viewed before signing up is part of the new contact's history
    assert all(anonymous >= 1 for _, anonymous in registered)


def test_generated_contact_reads_back_through_the_api(
    container: Container, client: TestClient, ws: Workspace
) -> None:
    generate_store(container.db, ws.id, contacts=80, seed=4, now=datetime(2026, 6, 1, tzinfo=UTC))
    with container.db.read() as cur:
        contact_id, orders, email = cur.execute(
            "SELECT o.contact_id, count(*), any_value(i.value) FROM orders o JOIN identities i"
            " ON i.contact_id = o.contact_id AND i.type = 'email' WHERE o.workspace_id = ?"
            " GROUP BY o.contact_id ORDER BY 2 DESC LIMIT 1",
            [ws.id],
        ).fetchone()
    found = client.get("/api/v1/contacts/lookup", params={"email": email}, headers=ws.api_headers)
    assert found.status_code == 200, found.text
    assert found.json()["id"] == contact_id
    profile = client.get(f"/api/v1/contacts/{contact_id}", headers=ws.api_headers).json()
    assert profile["traits"]["orders"] == orders
    assert {i["type"] for i in profile["identifiers"]} >= {"email", "external_id"}
    timeline = client.get(f"/api/v1/contacts/{contact_id}/events", headers=ws.api_headers).json()
    assert timeline["items"]


def _messages_of(container: Container, ws: str, contact_id: int, target_ws: str) -> list[Message]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT message_id, type, event, user_id, anonymous_id, timestamp, received_at,"
            " properties::VARCHAR, traits::VARCHAR, context::VARCHAR FROM events"
            " WHERE workspace_id = ? AND contact_id = ? ORDER BY timestamp",
            [ws, contact_id],
        ).fetchall()
    return [
        Message(
            workspace_id=target_ws,
            message_id=mid,
            type=typ,
            timestamp=ts,
            received_at=rec,
            event=event,
            user_id=uid,
            anonymous_id=anon,
            original_timestamp=ts,
            sent_at=rec,
            properties=orjson.loads(p or "{}"),
            traits=orjson.loads(t or "{}"),
            context=orjson.loads(c or "{}"),
            source="demo",
        )
        for mid, typ, event, uid, anon, ts, rec, p, t, c in rows
    ]


def _profile(container: Container, ws: str, contact_id: int) -> tuple[Any, ...]:
    with container.db.read() as cur:
        ids = cur.execute(
            "SELECT type, value FROM identities WHERE workspace_id = ? AND contact_id = ?"
            " ORDER BY ALL",
            [ws, contact_id],
        ).fetchall()
        row = cur.execute(
            "SELECT attributes::VARCHAR, language, timezone FROM contacts WHERE id = ?",
            [contact_id],
        ).fetchone()
        orders = cur.execute(
            "SELECT order_id, total, status FROM orders WHERE contact_id = ? ORDER BY ALL",
            [contact_id],
        ).fetchall()
    assert row is not None
    return ids, orjson.loads(row[0]), row[1], row[2], orders


def test_replaying_a_generated_person_through_the_pipeline_gives_the_same_profile(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    generate_store(container.db, ws.id, contacts=150, seed=8, now=datetime(2026, 6, 1, tzinfo=UTC))
    with container.db.read() as cur:
        (contact_id,) = cur.execute(
            "SELECT o.contact_id FROM orders o JOIN identities a ON a.contact_id = o.contact_id"
            " AND a.type = 'anonymous_id' WHERE o.workspace_id = ? GROUP BY ALL"
            " ORDER BY count(*) DESC, 1 LIMIT 1",
            [ws.id],
        ).fetchone()
    messages = _messages_of(container, ws.id, contact_id, other_ws.id)
    container.ingest.ingest_sync(messages)
    replayed = container.identity.lookup(
        workspace_id=other_ws.id, id_type="anonymous_id", value=messages[0].anonymous_id or ""
    )
    assert replayed is not None
    generated, live = (
        _profile(container, ws.id, contact_id),
        _profile(container, other_ws.id, replayed),
    )
    assert live[0] == generated[0]  # identifiers
    assert live[1] == generated[1]  # attributes
    assert live[2:4] == generated[2:4]  # language, timezone
    assert [o[1:] for o in live[4]] == [o[1:] for o in generated[4]]  # orders: totals, statuses
