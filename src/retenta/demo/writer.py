"""Bulk loading of generated Arrow tables through the single writer.

One unit of work per chunk: every table of the chunk lands in one transaction (a crash
leaves whole chunks only). Each table goes in with one ``INSERT … SELECT`` from a
registered Arrow table; money arrives as integer cents and is scaled to DECIMAL(18,2)
exactly in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from retenta.ingest.dedup import insert_keys
from retenta.storage.duckdb.events import append_events

# table -> {column: SQL expression over the registered Arrow table}; other columns copy as-is.
MONEY = "CAST({col}_cents * 0.01 AS DECIMAL(18, 2))"
SPECIAL: dict[str, dict[str, str]] = {
    "products": {
        "price": MONEY.format(col="price"),
        "sale_price": f"CASE WHEN sale_cents < 0 THEN NULL ELSE {MONEY.format(col='sale')} END",
        "in_stock": "stock > 0",
    },
    "orders": {
        "total": MONEY.format(col="total"),
        "revenue": MONEY.format(col="revenue"),
        "discount": MONEY.format(col="discount"),
        "shipping": MONEY.format(col="shipping"),
        "tax": "CAST(0 AS DECIMAL(18, 2))",
    },
    "order_items": {"price": MONEY.format(col="price")},
    "order_returns": {"amount": MONEY.format(col="amount")},
    "cart_items": {"price": MONEY.format(col="price")},
}
# Loading order inside a chunk's transaction (parents first, events last).
TABLE_ORDER = (
    "contacts", "identities", "consents", "orders", "order_items", "order_status_history",
    "order_returns", "carts", "cart_items", "wishlist_items", "searches",
)  # fmt: skip


def _columns(table: str, arrow: pa.Table) -> tuple[list[str], list[str]]:
    special = SPECIAL.get(table, {})
    plain = [c for c in arrow.column_names if not c.endswith("_cents") and c not in special]
    targets = plain + list(special)
    return targets, plain + list(special.values())


def insert_arrow(conn: Any, table: str, arrow: pa.Table) -> int:
    """``INSERT INTO table`` from an Arrow table in one statement; returns rows written."""
    if arrow.num_rows == 0:
        return 0
    targets, exprs = _columns(table, arrow)
    name = f"_demo_{table}"
    conn.register(name, arrow)
    try:
        conn.execute(
            f"INSERT INTO {table} ({', '.join(targets)}) SELECT {', '.join(exprs)} FROM {name}"
        )
    finally:
        conn.unregister(name)
    return int(arrow.num_rows)


def write_chunk(
    conn: Any, *, tables: Mapping[str, pa.Table], events: pa.Table, message_ids: bool = True
) -> dict[str, int]:
    """All of a chunk's rows; events go to the clustered ``events`` tier, already sorted.

    With ``message_ids`` the events' ids are also recorded for ingestion's exact dedup, as
    the live pipeline does, so a re-sent demo event is recognised as a duplicate.
    """
    counts = {
        name: insert_arrow(conn, name, tables[name]) for name in TABLE_ORDER if name in tables
    }
    counts["events"] = append_events(conn, events, target="events")
    if message_ids:
        insert_keys(conn, events)
        counts["message_ids"] = events.num_rows
    return counts


def reserve_contact_ids(conn: Any, *, n: int) -> np.ndarray:
    """``n`` ids from ``contact_id_seq`` (ascending), as the live pipeline would take them."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rel = conn.execute("SELECT nextval('contact_id_seq') AS id FROM range(?) ORDER BY id", [n])
    ids = rel.fetchnumpy()["id"]
    return np.asarray(ids, dtype=np.int64)
