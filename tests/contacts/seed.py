"""Seed contacts, identities, events and orders straight through the writer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from retenta.app import Container
from retenta.storage.duckdb.events import EVENT_SCHEMA, append_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_contact(
    container: Container,
    ws: str,
    *,
    identities: Sequence[tuple[str, str]] = (),
    attributes: dict[str, Any] | None = None,
    merged_into: int | None = None,
    created_at: datetime = T0,
) -> int:
    """A contact with its identifiers; the id comes from the same sequence identity uses."""

    def work(c: Any) -> int:
        cid = int(c.execute("SELECT nextval('contact_id_seq')").fetchone()[0])
        c.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, last_seen_at,"
            " merged_into, attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ws,
                cid,
                created_at,
                created_at,
                created_at,
                merged_into,
                orjson.dumps(attributes or {}).decode(),
            ],
        )
        for id_type, value in identities:
            c.execute(
                "INSERT INTO identities (workspace_id, type, value, contact_id, first_seen,"
                " last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                [ws, id_type, value, cid, created_at, created_at],
            )
        return cid

    return container.db.write(work)


def event_table(
    ws: str, contact_id: int, n: int, *, start: datetime = T0, prefix: str = "m", step_s: int = 60
) -> pa.Table:
    """``n`` track events of one contact, one every ``step_s`` seconds from ``start``."""
    times = [start + timedelta(seconds=i * step_s) for i in range(n)]
    cols: dict[str, list[Any]] = {
        "workspace_id": [ws] * n,
        "message_id": [f"{prefix}-{contact_id}-{i:06d}" for i in range(n)],
        "contact_id": [contact_id] * n,
        "type": ["track"] * n,
        "event": ["Product Viewed"] * n,
        "user_id": [None] * n,
        "anonymous_id": [f"anon-{contact_id}"] * n,
        "timestamp": times,
        "original_timestamp": times,
        "sent_at": times,
        "received_at": times,
        "properties": [orjson.dumps({"i": i, "category": "Shoes"}).decode() for i in range(n)],
        "traits": [None] * n,
        "context": ['{"ip": "10.0.0.1"}'] * n,
        "source": ["api"] * n,
    }
    return pa.table(cols, schema=EVENT_SCHEMA)


def add_events(container: Container, table: pa.Table, target: str = "events_recent") -> int:
    return container.db.write(lambda c: append_events(c, table, target=target))


def add_order(
    container: Container,
    ws: str,
    contact_id: int,
    order_id: str,
    items: Sequence[tuple[str, str | None, int, float, int]],
    *,
    status: str = "paid",
    placed_at: datetime = T0,
) -> None:
    """An order and its lines ``(sku, category, quantity, price, returned_quantity)``."""
    total = sum(q * p for _, _, q, p, _ in items)

    def work(c: Any) -> None:
        c.execute(
            "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, currency,"
            " placed_at, updated_at) VALUES (?, ?, ?, ?, ?, 'EUR', ?, ?)",
            [ws, order_id, contact_id, status, total, placed_at, placed_at],
        )
        for n, (sku, category, qty, price, returned) in enumerate(items, 1):
            c.execute(
                "INSERT INTO order_items (workspace_id, order_id, line_no, sku, category,"
                " quantity, price, returned_quantity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [ws, order_id, n, sku, category, qty, price, returned],
            )

    container.db.write(work)


def all_message_ids(container: Container) -> list[str]:
    with container.db.read() as cur:
        return [r[0] for r in cur.execute("SELECT message_id FROM all_events").fetchall()]


def merge(container: Container, ws: str, *, winner: int, loser: int) -> None:
    """Record ``loser`` as merged into ``winner`` the way identity resolution does."""

    def work(c: Any) -> None:
        c.execute("UPDATE contacts SET merged_into = ? WHERE id = ?", [winner, loser])
        c.execute("UPDATE identities SET contact_id = ? WHERE contact_id = ?", [winner, loser])
        c.execute(
            "INSERT INTO merges (workspace_id, winner_id, loser_id, rule, inputs, snapshot)"
            " VALUES (?, ?, ?, 'email', '{}', '{}')",
            [ws, winner, loser],
        )
        container.db.tier_members.note_all(c)  # written around identity's insert_merges

    container.db.write(work)


def count_read_together(container: Container, monkeypatch: Any) -> list[int]:
    """How many reads each ``read_together`` call of the database ran side by side (a spy
    set with ``monkeypatch``; the list fills as reads happen)."""
    calls: list[int] = []
    real = container.db.read_together

    def spy(works: Any) -> Any:
        calls.append(len(works))
        return real(works)

    monkeypatch.setattr(container.db, "read_together", spy)
    return calls
