"""The live trickle: scripted visits through the real ingestion pipeline."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from retenta.app import Container
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
    assert _count(container, ws.id) == before + trickle.sent
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
