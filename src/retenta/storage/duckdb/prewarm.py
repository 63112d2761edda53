"""Load the tables that point reads touch into DuckDB's buffer pool at start (like
PostgreSQL's ``pg_prewarm``), within a byte budget.

A profile or timeline read on a cold buffer pool reads each block it touches from the
file (256 KB each), and the first reads after a start also load every small tier's row
groups (L1's straddling runs: up to ~8 MB for one timeline page). Scanning the small,
per-contact tables once puts their blocks in the pool, where they stay until the memory
limit evicts them; the cold read is then left with what cannot be held (L2's events and
the ART indexes' nodes, `docs/contacts.md`). The pool is bounded by DuckDB's
``memory_limit``, so this moves no bound: it fills part of the pool sooner.
"""

from __future__ import annotations

from typing import Any

# The tables a profile, a timeline page or a lookup reads, most valuable first: what a
# cold profile would read from disk (the contact, its identifiers, the event summary,
# orders and lines), then the event tiers a timeline reads besides L2 (L0, then L1).
POINT_READ_TABLES = (
    "contacts",
    "identities",
    "event_summary",
    "orders",
    "order_items",
    "consents",
    "merges",
    "events_recent",
    "events_l1_runs",
    "events_l1",
)
DEFAULT_BUDGET_BYTES = 256 * 2**20


def table_bytes(cur: Any, table: str) -> int:
    """Bytes of the blocks holding ``table``'s columns (blocks it shares counted whole)."""
    row = cur.execute(
        "SELECT count(DISTINCT block_id) FROM pragma_storage_info(?) WHERE block_id >= 0",
        [table],
    ).fetchone()
    block_size = cur.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    return int(row[0]) * int(block_size[0])


def scan_sql(cur: Any, table: str) -> str:
    """One aggregate over every column of ``table``: reading it loads each column's blocks.

    ``count(*)`` would read no column, and ``count(col)`` may be answered from statistics.
    """
    columns = [
        r[0]
        for r in cur.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name ="
            " 'main' ORDER BY column_index",
            [table],
        ).fetchall()
    ]
    aggregates = ", ".join(f'max("{c}")' for c in columns)
    return f'SELECT {aggregates} FROM "{table}"'


def prewarm(
    cur: Any,
    *,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    tables: tuple[str, ...] = POINT_READ_TABLES,
) -> list[tuple[str, int]]:
    """Scan ``tables`` in order while their blocks fit the budget; a table that would
    overflow it is skipped (a later, smaller one may still fit). Returns ``(table,
    bytes)`` of the tables loaded."""
    loaded: list[tuple[str, int]] = []
    left = budget_bytes
    for table in tables:
        size = table_bytes(cur, table)
        if size == 0 or size > left:
            continue
        cur.execute(scan_sql(cur, table)).fetchall()
        loaded.append((table, size))
        left -= size
    return loaded
