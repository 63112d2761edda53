"""The real-time round: every real-time segment of a workspace, for the candidates.

The members are read on a read cursor (``members_select``, in a worker thread: the writer
is not held while DuckDB plans and runs the member queries); the writer then only loads
them and diffs against the stored intervals in a handful of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from retenta.segments.membership.diff import CANDIDATES

NEW_BY_SEGMENT = "_segm_rt_new"
DIFF_BY_SEGMENT = "_segm_rt_diff"
ARROW_ROWS = "_segm_rt_rows"
IN_CANDIDATES = f"contact_id IN (SELECT contact_id FROM {CANDIDATES})"


def members_select(queries: Sequence[tuple[str, str]], merged: str | None) -> str:
    """``(segment_id, contact_id)`` of every query's members among the candidates
    (``merged``: the same as one query with the shared CTEs written once, when built)."""
    if merged is not None:
        return (
            "SELECT DISTINCT segment_id, CAST(contact_id AS BIGINT) AS contact_id"
            f" FROM ({merged}) m WHERE {IN_CANDIDATES}"
        )
    branches = [
        f"SELECT {_literal(seg)} AS segment_id, CAST(contact_id AS BIGINT) AS contact_id"
        f" FROM ({sql}) q{i} WHERE {IN_CANDIDATES}"
        for i, (seg, sql) in enumerate(queries)
    ]
    return f"SELECT DISTINCT segment_id, contact_id FROM ({' UNION ALL '.join(branches)})"


def _literal(value: str) -> str:
    """A SQL string literal built by sqlglot (segment ids are ours, still never spliced raw).

    >>> _literal("seg_a'b")
    "'seg_a''b'"
    """
    return exp.Literal.string(value).sql("duckdb")


def load_round(conn: Any, candidates: pa.Table, members: pa.Table) -> None:
    """The read phase's candidates and members as the writer's temp tables."""
    for table, rows in ((CANDIDATES, candidates), (NEW_BY_SEGMENT, members)):
        conn.complete()
        conn.register(ARROW_ROWS, rows)
        try:
            conn.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {ARROW_ROWS}")
        finally:
            conn.unregister(ARROW_ROWS)


def compute_and_write(
    conn: Any, workspace_id: str, segment_ids: Sequence[str], at: datetime
) -> list[tuple[str, int, str]]:
    """Diff against the candidates' current intervals, write it; ``(segment, contact, kind)``."""
    args = {"ws": workspace_id, "segs": list(segment_ids)}
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {DIFF_BY_SEGMENT} AS"
        " WITH current_members AS ("
        "   SELECT segment_id, contact_id FROM segment_membership"
        "   WHERE workspace_id = $ws AND segment_id IN (SELECT unnest($segs::VARCHAR[]))"
        f"   AND exited_at IS NULL AND {IN_CANDIDATES})"
        " SELECT c.segment_id, c.contact_id, 'exited' AS kind FROM current_members c"
        f" ANTI JOIN {NEW_BY_SEGMENT} n USING (segment_id, contact_id)"
        " UNION ALL"
        " SELECT n.segment_id, n.contact_id, 'entered' AS kind"
        f" FROM {NEW_BY_SEGMENT} n ANTI JOIN current_members c USING (segment_id, contact_id)",
        args,
    )
    rows = conn.execute(
        f"SELECT segment_id, contact_id, kind FROM {DIFF_BY_SEGMENT}"
        " ORDER BY segment_id, contact_id"
    ).fetchall()
    if not rows:
        return []
    conn.execute(
        "UPDATE segment_membership m SET exited_at = $at FROM "
        f"{DIFF_BY_SEGMENT} d WHERE m.workspace_id = $ws AND m.exited_at IS NULL"
        " AND d.kind = 'exited' AND m.segment_id = d.segment_id AND m.contact_id = d.contact_id",
        {"ws": workspace_id, "at": at},
    )
    conn.execute(
        "INSERT INTO segment_membership (workspace_id, segment_id, contact_id, entered_at)"
        f" SELECT $ws, segment_id, contact_id, $at FROM {DIFF_BY_SEGMENT} WHERE kind = 'entered'",
        {"ws": workspace_id, "at": at},
    )
    conn.execute(
        'INSERT INTO segment_events (workspace_id, segment_id, contact_id, kind, "at", cause)'
        f" SELECT $ws, segment_id, contact_id, kind, $at, 'event' FROM {DIFF_BY_SEGMENT}",
        {"ws": workspace_id, "at": at},
    )
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]
