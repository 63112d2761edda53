"""A small store with merges (a chain), erasures and two workspaces, for the view tests.

Workspace A: contact 1 is live; 3 was merged into 1 and 2 into 3 (a chain 2 → 3 → 1);
4 is erased and 6 was merged into 4; 5 is live with nothing but a row. Workspace B: 101.
Rows sit in all three event tiers. Imported by test_views*, test_sql*, test_rfm*.
``last_seen_at`` is what identity keeps: the newest event's time (merged contacts' included),
except that contacts 1 and 101 have a newer hot-tier event not flushed there yet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retenta.app import Container

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
LIVE_A = {1, 5}
DEAD_A = {2, 3, 4, 6}


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _contacts(a: str, b: str) -> list[tuple[Any, ...]]:
    # (workspace, id, created_at, merged_into, erased_at, attributes, language, last_seen_at)
    return [
        (a, 1, _at(0), None, None, '{"city": "Kyiv", "first_name": "Olena"}', "uk", _at(3)),
        (a, 2, _at(1), 3, None, '{"city": "Lviv"}', "en", _at(9)),
        (a, 3, _at(2), 1, None, "{}", None, _at(3)),
        (a, 4, _at(3), None, _at(20), "{}", None, _at(5)),
        (a, 5, _at(4), None, None, '{"city": "Odesa"}', "en", None),
        (a, 6, _at(5), 4, None, "{}", None, _at(5)),
        (b, 101, _at(0), None, None, '{"city": "Kyiv"}', "uk", _at(2)),
    ]


def _events(a: str, b: str) -> list[tuple[Any, ...]]:
    # (tier, workspace, message_id, contact, event, day, properties)
    return [
        ("events", a, "e1", 1, "Product Viewed", 1, '{"category": "Shoes"}'),
        ("events", a, "e2", 2, "Product Viewed", 2, '{"category": "Bags"}'),
        ("events_l1", a, "e3", 3, "Product Viewed", 3, '{"category": "Bags"}'),
        ("events_recent", a, "e4", 2, "Order Completed", 9, '{"total": 120}'),
        ("events_recent", a, "e5", 4, "Product Viewed", 4, '{"category": "Hats"}'),
        ("events", a, "e6", 6, "Page", 5, "{}"),
        ("events", b, "e7", 101, "Product Viewed", 2, '{"category": "Hats"}'),
        ("events_recent", b, "e8", 101, "Product Viewed", 8, '{"category": "Hats"}'),
    ]


def _orders(a: str, b: str) -> list[tuple[Any, ...]]:
    # (workspace, order_id, contact, status, total, revenue, day, coupon)
    return [
        (a, "o1", 2, "paid", 100, 90, 5, None),
        (a, "o2", 3, "shipped", 50, None, 7, "SPRING"),
        (a, "o3", 1, "cancelled", 999, None, 8, None),
        (a, "o4", 1, "returned", 30, None, 9, None),  # no lines: worth nothing
        (a, "o5", 4, "paid", 70, None, 6, None),  # erased contact
        (a, "o6", 6, "paid", 10, None, 6, None),  # merged into an erased contact
        (b, "o7", 101, "paid", 500, 500, 3, None),
    ]


def _items(a: str, b: str) -> list[tuple[Any, ...]]:
    # (workspace, order_id, line_no, sku, category, brand, quantity, price, returned)
    return [
        (a, "o1", 1, "sku-1", None, None, 2, 30, 1),  # category from the product
        (a, "o1", 2, "sku-2", "Bags", "Acme", 1, 60, 0),
        (a, "o2", 1, "sku-1", None, None, 1, 50, 0),
        (a, "o5", 1, "sku-2", "Bags", None, 1, 70, 0),
        (b, "o7", 1, "sku-1", "Hats", None, 5, 100, 0),
    ]


def seed(container: Container, a: str, b: str) -> None:
    """Write the store of the module docstring into workspaces ``a`` and ``b``."""

    def work(conn: Any) -> None:
        for ws, cid, created, merged, erased, attrs, lang, seen in _contacts(a, b):
            conn.execute(
                "INSERT INTO contacts (workspace_id, id, created_at, updated_at, last_seen_at,"
                " merged_into, attributes, language, timezone, erased_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'Europe/Kyiv', ?)",
                [ws, cid, created, created, seen, merged, attrs, lang, erased],
            )
        for ws, winner, loser in ((a, 3, 2), (a, 1, 3), (a, 4, 6)):
            conn.execute(
                "INSERT INTO merges (workspace_id, winner_id, loser_id, rule, inputs, snapshot)"
                " VALUES (?, ?, ?, 'test', '{}', '{}')",
                [ws, winner, loser],
            )
        for ws, cid, kind, value, day in (
            (a, 1, "email", "old@a.ua", 1),
            (a, 1, "email", "olena@a.ua", 3),
            (a, 2, "phone", "+380671112233", 2),
            (a, 3, "external_id", "crm-3", 2),
            (a, 5, "email", "five@a.ua", 4),
            (b, 101, "email", "olena@a.ua", 1),
        ):
            conn.execute(
                "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?)",
                [ws, kind, value, cid, _at(0), _at(day)],
            )
        for tier, ws, mid, cid, name, day, props in _events(a, b):
            conn.execute(
                f"INSERT INTO {tier} (workspace_id, message_id, contact_id, type, event,"
                " timestamp, received_at, properties, context, source)"
                " VALUES (?, ?, ?, 'track', ?, ?, ?, ?, '{}', 'api')",
                [ws, mid, cid, name, _at(day), _at(day), props],
            )
        conn.execute(
            "INSERT INTO products (workspace_id, sku, name, price, currency, in_stock,"
            " category_path, brand, created_at, updated_at) VALUES"
            " (?, 'sku-1', 'Runner', 30, 'UAH', true, ['Women', 'Shoes'], 'Fleet', ?, ?),"
            " (?, 'sku-2', 'Tote', 60, 'UAH', false, ['Bags'], 'Acme', ?, ?),"
            " (?, 'sku-1', 'Cap', 100, 'UAH', true, ['Hats'], 'Other', ?, ?)",
            [a, _at(0), _at(0), a, _at(0), _at(0), b, _at(0), _at(0)],
        )
        for ws, oid, cid, status, total, revenue, day, coupon in _orders(a, b):
            conn.execute(
                "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, revenue,"
                " currency, coupon, placed_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'UAH', ?, ?, ?)",
                [ws, oid, cid, status, total, revenue, coupon, _at(day), _at(day)],
            )
        for row in _items(a, b):
            conn.execute(
                "INSERT INTO order_items (workspace_id, order_id, line_no, sku, category, brand,"
                " quantity, price, returned_quantity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                list(row),
            )
        for ws, cid, channel, status, day in (
            (a, 1, "email", "subscribed", 1),
            (a, 2, "email", "unsubscribed", 6),  # later, on a contact merged into 1
            (a, 3, "sms", "subscribed", 2),
            (a, 4, "email", "subscribed", 2),
            (b, 101, "email", "subscribed", 1),
        ):
            conn.execute(
                "INSERT INTO consents VALUES (?, ?, ?, '*', ?, 'api', ?)",
                [ws, cid, channel, status, _at(day)],
            )
        for ws, cid, send, status, day, machine in (
            (a, 2, "s1", "delivered", 5, False),
            (a, 2, "s1", "opened", 5.5, True),
            (a, 1, "s2", "clicked", 6, False),
            (a, 4, "s3", "opened", 6, False),
            (b, 101, "s4", "opened", 6, False),
        ):
            conn.execute(
                "INSERT INTO message_events (workspace_id, contact_id, send_id, channel,"
                ' campaign_id, message_id, tags, status, "at", machine)'
                " VALUES (?, ?, ?, 'email', 'c1', 'm1', ['promo'], ?, ?, ?)",
                [ws, cid, send, status, _at(day), machine],
            )
        for ws in (a, b):
            conn.execute(
                "INSERT INTO custom_tables (workspace_id, name, columns, key_columns, link,"
                " created_at) VALUES (?, 'loyalty', ?, ['card'], 'contact', ?)",
                [ws, LOYALTY_COLUMNS, _at(0)],
            )
        for ws, key, cid, data in (
            (a, "c-1", 3, '{"card": "c-1", "points": 120, "since": "2026-01-02T03:04:05Z"}'),
            (a, "c-4", 4, '{"card": "c-4", "points": 5, "since": null}'),
            (b, "c-9", 101, '{"card": "c-9", "points": 7, "since": null}'),
        ):
            conn.execute(
                "INSERT INTO custom_rows VALUES (?, 'loyalty', ?, ?, NULL, ?, ?)",
                [ws, key, cid, data, _at(0)],
            )

    container.db.write(work)


LOYALTY_COLUMNS = (
    '[{"name": "card", "type": "text", "required": true},'
    ' {"name": "points", "type": "integer", "required": false},'
    ' {"name": "since", "type": "datetime", "required": false}]'
)


def seed_workspaces(container: Container) -> tuple[str, str]:
    """Two new workspaces holding the store; ``(a, b)``."""
    a = container.tenancy.create_workspace(name="A")
    b = container.tenancy.create_workspace(name="B")
    seed(container, a, b)
    return a, b


@pytest.fixture
def seeded(container: Container) -> tuple[str, str]:
    return seed_workspaces(container)


def test_the_seed_holds_a_merge_chain(container: Container, seeded: tuple[str, str]) -> None:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT id, merged_into FROM contacts WHERE workspace_id = ? ORDER BY id", [seeded[0]]
        ).fetchall()
    assert rows[:3] == [(1, None), (2, 3), (3, 1)]
