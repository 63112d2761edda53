"""Per-contact summary of the compacted event tiers, so a profile never reads their JSON.

A profile needs two figures from a contact's events: the newest event's time (last
activity) and how many ``Product Viewed`` events each category had (the favourite
category of someone who never bought). Read from the events, that is a scan of the
contact's row groups in every tier *including the ``properties`` JSON column*; with a few
unconsolidated L1 runs it was ~7 ms of a ~10 ms profile at 50M events.

``event_summary`` (migration 0005) holds those figures for the events in L1 and L2
(``events_l1`` + ``events``), one row per contact and write, each row
``(last_at, categories[], views[])``. The profile adds the few rows of L0
(``events_recent``, small and scanned whole anyway) itself. The invariant, for every
contact: folding its summary rows gives exactly the figures of its events in L1 ∪ L2.
Every move keeps it in the same transaction as the event rows:

- a flush L0 → L1 appends the summary of the rows it moves (``add_events``);
- a range pass only moves rows within L1 ∪ L2; its step folds the summary rows of the
  same contact range into one row per contact (``fold_range``), so the summary stays
  clustered by contact like the events (a point read touches one or two row groups);
- a bulk append straight into L1/L2 (the demo generator) adds its summary
  (``storage.duckdb.events.append_events``);
- erasure deletes the rows by ``contact_id`` like every other table of the person.

``rebuild`` recomputes it from scratch (the migration's backfill does the same).
"""

from __future__ import annotations

from typing import Any

from retenta.storage.duckdb.tier_members import FLUSHED_TABLES

SUMMARY = "event_summary"
VIEWED = "Product Viewed"

# One row per event: (workspace_id, contact_id, last_at, category, views), where only a
# product view carries a category and counts one view.
_EVENT_PARTS = (
    "SELECT workspace_id, contact_id, timestamp AS last_at,"
    f" CASE WHEN event = '{VIEWED}' THEN properties ->> 'category' END AS category,"
    f" CAST(event = '{VIEWED}' AS BIGINT) AS views FROM {{source}}"
)
# The same parts from summary rows: their time, and one part per (category, views).
_SUMMARY_PARTS = (
    "SELECT workspace_id, contact_id, last_at, CAST(NULL AS VARCHAR) AS category,"
    f" CAST(0 AS BIGINT) AS views FROM {SUMMARY} WHERE {{where}}"
    " UNION ALL SELECT workspace_id, contact_id, NULL, unnest(categories), unnest(views)"
    f" FROM {SUMMARY} WHERE {{where}}"
)
# Parts → one summary row per contact (categories sorted; a view without a category is
# not a category's view, so it is left out, as the profile leaves it out).
_FOLD = """
SELECT workspace_id, contact_id, max(last_at) AS last_at,
    coalesce(list(category ORDER BY category) FILTER (WHERE category IS NOT NULL AND views > 0),
             []) AS categories,
    coalesce(list(views ORDER BY category) FILTER (WHERE category IS NOT NULL AND views > 0),
             []) AS views
FROM (
    SELECT workspace_id, contact_id, category, sum(views)::BIGINT AS views,
        max(last_at) AS last_at
    FROM ({parts}) AS p GROUP BY ALL
) AS c
GROUP BY workspace_id, contact_id
ORDER BY contact_id
"""
_COLUMNS = "workspace_id, contact_id, last_at, categories, views"

# L1 and L2: every event a flush has moved out of L0.
FLUSHED = "(" + " UNION ALL ".join(f"SELECT * FROM {t}" for t in FLUSHED_TABLES) + ")"


def fold_sql(parts: str) -> str:
    """The query folding ``parts`` into summary rows, one per contact, in contact order."""
    return _FOLD.format(parts=parts)


def event_parts(source: str) -> str:
    """``_EVENT_PARTS`` of a table, view or subquery holding event rows."""
    return _EVENT_PARTS.format(source=source)


def insert_sql(parts: str) -> str:
    """The statement appending the summary rows of ``parts``."""
    return f"INSERT INTO {SUMMARY} ({_COLUMNS}) {fold_sql(parts)}"


def add_events(conn: Any, source: str, params: list[Any] | None = None) -> None:
    """Append the summary of the events ``source`` selects (they just entered L1/L2)."""
    conn.execute(insert_sql(event_parts(source)), params or [])


def fold_range(conn: Any, lo: int, hi: int) -> None:
    """Replace the summary rows of contacts ``lo <= id < hi`` by one row per contact."""
    where = "contact_id >= ? AND contact_id < ?"
    parts = _SUMMARY_PARTS.format(where=where)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE _summary_step AS {fold_sql(parts)}", [lo, hi, lo, hi]
    )
    conn.execute(f"DELETE FROM {SUMMARY} WHERE {where}", [lo, hi])
    conn.execute(f"INSERT INTO {SUMMARY} ({_COLUMNS}) SELECT {_COLUMNS} FROM _summary_step")
    conn.execute("DROP TABLE _summary_step")


def rebuild(conn: Any) -> None:
    """Recompute the whole summary from L1 and L2 (after a bulk load that bypassed it)."""
    conn.execute(f"DELETE FROM {SUMMARY}")
    add_events(conn, FLUSHED)


def figures_from_scratch(conn: Any) -> dict[int, tuple[Any, dict[str, int]]]:
    """Per contact, ``(last_at, {category: views})`` of L1 ∪ L2 computed from the events
    (what the summary must fold to; tests compare the two)."""
    rows = conn.execute(fold_sql(event_parts(FLUSHED))).fetchall()
    return {int(r[1]): (r[2], dict(zip(r[3], r[4], strict=True))) for r in rows}


def folded(conn: Any) -> dict[int, tuple[Any, dict[str, int]]]:
    """Per contact, the summary rows folded together (see ``figures_from_scratch``)."""
    rows = conn.execute(fold_sql(_SUMMARY_PARTS.format(where="true"))).fetchall()
    return {int(r[1]): (r[2], dict(zip(r[3], r[4], strict=True))) for r in rows}
