"""The real-time round's diff: every real-time segment of a workspace, for the candidates,
in a handful of statements (writer side; statement count, not data, dominates a round).

``diff.CANDIDATES``/``diff.FAMILY`` are loaded first; each segment's member query (confined
to the candidates) becomes one branch of a UNION ALL tagged with its segment id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from retenta.segments.membership.diff import CANDIDATES

NEW_BY_SEGMENT = "_segm_rt_new"
DIFF_BY_SEGMENT = "_segm_rt_diff"
IN_CANDIDATES = f"contact_id IN (SELECT contact_id FROM {CANDIDATES})"


def current_revisions(conn: Any, workspace_id: str) -> dict[str, int]:
    """``{segment_id: revision}`` of the segments whose full pass is stored."""
    rows = conn.execute(
        "SELECT segment_id, revision FROM segment_membership_state WHERE workspace_id = ?",
        [workspace_id],
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def load_members(conn: Any, queries: Sequence[tuple[str, str]], merged: str | None = None) -> None:
    """``NEW_BY_SEGMENT(segment_id, contact_id)``: each query's members among the candidates
    (``merged``: the same as one query with shared CTEs, ``scope.merge_members``)."""
    if merged is not None:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {NEW_BY_SEGMENT} AS"
            " SELECT DISTINCT segment_id, CAST(contact_id AS BIGINT) AS contact_id"
            f" FROM ({merged}) m WHERE {IN_CANDIDATES}"
        )
        return
    branches = [
        f"SELECT $s{i} AS segment_id, CAST(contact_id AS BIGINT) AS contact_id"
        f" FROM ({sql}) q{i} WHERE {IN_CANDIDATES}"
        for i, (_, sql) in enumerate(queries)
    ]
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {NEW_BY_SEGMENT} AS"
        f" SELECT DISTINCT segment_id, contact_id FROM ({' UNION ALL '.join(branches)})",
        {f"s{i}": seg for i, (seg, _) in enumerate(queries)},
    )


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
