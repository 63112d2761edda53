"""``event_facts``: a narrow, time-ordered copy of the flushed event tiers for segment scans.

Why: the tiers are clustered by contact (timelines need that), so the window of an event
condition prunes no row group, and a property filter parses every matching row's JSON
``properties`` (at 1M contacts, "Product Viewed where category starts with … in 180 days"
read 9M documents, 1.55 GB of text: 1.66 s on a quiet machine). ``event_facts`` holds per
row of ``events`` (L2) and ``events_l1`` (L1) only the event name, the time, the raw
contact and the JSON text of a few hot properties, ordered by (workspace, event, time):
the name and the window prune row groups, and the properties are short dictionary
strings. ``events_recent`` (L0, small) is read as is, through the same view.

Exactness (members must not change): the compiler reads this table only when
``in_sync`` — its row count equals L1's + L2's — checked in the same snapshot as the
query (``snapshot``). That is exact because the table is a sub-multiset of L1 ∪ L2 at all
times: it is filled from them (``rebuild``, ``append_flushed``), rows leave the tiers only
by erasure, which deletes the same contacts' rows here in the same transaction
(``contacts.privacy`` deletes from every table with a ``contact_id`` column), and moves
between L1 and L2 keep their union. So equal counts mean equal sets; any flush not mirrored
here makes the counts differ and the segment reads the tiers as before (slower, same
members).

That argument needs every path that deletes rows of L1 or L2 to delete the same rows here
in the same transaction (erasure does, through the catalogue): a new one (retention, say)
must do so too, or a delete and an unmirrored flush of as many rows could cancel out.

Kept in sync by ``add_events`` inside the transaction that moves rows into L1 or L2: a
flush (``compaction.flush``) and a bulk append straight into a tier (``events.append_events``,
the demo generator) call it beside ``event_summary.add_events``; ``rebuild`` refills it.

>>> "category" in HOT_PROPERTIES
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from retenta.storage.duckdb import tier_members

TABLE = "event_facts"
# Properties builders filter on, stored as their JSON text (``properties ->> key``): the
# same value the JSON path reads, so every operator means the same on either.
HOT_PROPERTIES = ("category", "product_id", "sku", "brand", "price")
FLUSHED_TIERS = tier_members.FLUSHED_TABLES
ORDER = 'workspace_id, event, "timestamp"'
_COLUMNS = ", ".join(["workspace_id", "event", '"timestamp"', "contact_id", *HOT_PROPERTIES])
_PROJECTION = ", ".join(
    [
        "workspace_id",
        "event",
        '"timestamp"',
        "contact_id",
        *(f"properties ->> '$.{key}' AS {key}" for key in HOT_PROPERTIES),
    ]
)


def projection_sql(source: str) -> str:
    """``INSERT INTO event_facts`` of the event rows ``source`` selects (a table or a
    parenthesised subquery of ours), sorted.

    >>> projection_sql("events_l1").startswith("INSERT INTO event_facts")
    True
    """
    return (
        f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT {_PROJECTION} FROM {source} AS x ORDER BY {ORDER}"
    )


def add_events(conn: Any, source: str, params: list[Any] | None = None) -> None:
    """Mirror events that just entered L1 or L2, in the same transaction: ``source`` selects
    them (a flush: ``(SELECT * FROM events_recent WHERE rowid <= ?)``, before its DELETE).
    The same shape as ``storage.duckdb.event_summary.add_events``."""
    conn.execute(projection_sql(source), params or [])


def rebuild(conn: Any) -> int:
    """Refill the table from L1 and L2 in one transaction of the caller (the writer);
    returns its rows. Reads every flushed event once (at 53M events: minutes)."""
    conn.execute(f"DELETE FROM {TABLE}")
    union = " UNION ALL ".join(f"SELECT * FROM {tier}" for tier in FLUSHED_TIERS)
    conn.execute(projection_sql(f"({union})"))
    row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0


def in_sync(cur: Any) -> bool:
    """Whether the table holds exactly the rows of L1 and L2 (see the module docstring)."""
    counts = " + ".join(f"(SELECT count(*) FROM {tier})" for tier in FLUSHED_TIERS)
    row = cur.execute(f"SELECT (SELECT count(*) FROM {TABLE}) = {counts}").fetchone()
    return bool(row and row[0])


@contextmanager
def snapshot(cur: Any) -> Iterator[bool]:
    """One read transaction on ``cur`` for a sync check and the queries that rely on it;
    yields ``in_sync`` as of that snapshot."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield in_sync(cur)
    finally:
        cur.execute("ROLLBACK")  # read only: nothing to keep
