"""Set-based diff of a segment's member query against its stored intervals (writer side).

Every function takes the writer's connection and runs inside the caller's unit of work,
so a refresh lands whole or not at all. The temp tables are this module's own constant
names; user values reach SQL only as bound parameters, and the member query itself is
compiled by sqlglot (``retenta.segments.compiler``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NEW = "_segm_new"  # the members the query returns now
PREV = "_segm_prev"  # the members at the previous pass's `now`, on today's data
CANDIDATES = "_segm_candidates"  # the contacts a real-time evaluation is restricted to
DIFF = "_segm_diff"  # (contact_id, kind, cause) to write
FAMILY = "_segm_family"  # the candidates and every contact merged into them (scope.py)
TEMP_TABLES = (NEW, PREV, CANDIDATES, FAMILY, DIFF)
DRIFT_SAMPLE = 20

CURRENT = (
    "SELECT contact_id FROM segment_membership"
    " WHERE workspace_id = $ws AND segment_id = $seg AND exited_at IS NULL"
)


@dataclass(frozen=True)
class Changes:
    """What one diff wrote: ``(contact_id, kind, cause)`` rows."""

    rows: list[tuple[int, str, str]]

    @property
    def entered(self) -> int:
        return sum(1 for _, kind, _ in self.rows if kind == "entered")

    @property
    def exited(self) -> int:
        return sum(1 for _, kind, _ in self.rows if kind == "exited")

    def drifting(self) -> list[int]:
        """Contacts changed for no reason the pass could name (cause ``refresh``)."""
        return [cid for cid, _, cause in self.rows if cause == "refresh"]


def load_members(conn: Any, table: str, member_sql: str, *, scoped: bool) -> None:
    """Materialise a member query's distinct contact ids (restricted to the candidates)."""
    where = f" WHERE contact_id IN (SELECT contact_id FROM {CANDIDATES})" if scoped else ""
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS"
        f" SELECT DISTINCT CAST(contact_id AS BIGINT) AS contact_id FROM ({member_sql}) q{where}"
    )


def compute_diff(
    conn: Any,
    workspace_id: str,
    segment_id: str,
    *,
    scoped: bool,
    cause: str,
    timed: bool = False,
) -> None:
    """Fill ``DIFF``: current members missing from ``NEW`` exit, new ones enter.

    ``timed``: a change of a contact whose membership differs between ``PREV`` and ``NEW``
    (the same data at two `now`s) is explained by time and gets cause ``expiry``.
    """
    scope = f" AND contact_id IN (SELECT contact_id FROM {CANDIDATES})" if scoped else ""
    cause_sql = "$cause"
    if timed:
        cause_sql = (
            "CASE WHEN contact_id IN (SELECT contact_id FROM timed) THEN 'expiry' ELSE $cause END"
        )
    timed_cte = (
        f"timed AS ((SELECT contact_id FROM {NEW} EXCEPT SELECT contact_id FROM {PREV})"
        f" UNION ALL (SELECT contact_id FROM {PREV} EXCEPT SELECT contact_id FROM {NEW})),"
        if timed
        else ""
    )
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {DIFF} AS"
        f" WITH {timed_cte} current_members AS ({CURRENT}{scope}),"
        " changed AS ("
        f"   SELECT contact_id, 'exited' AS kind FROM current_members"
        f"   WHERE contact_id NOT IN (SELECT contact_id FROM {NEW})"
        "   UNION ALL"
        f"   SELECT contact_id, 'entered' AS kind FROM {NEW}"
        "   WHERE contact_id NOT IN (SELECT contact_id FROM current_members))"
        f" SELECT contact_id, kind, {cause_sql} AS cause FROM changed",
        {"ws": workspace_id, "seg": segment_id, "cause": cause},
    )


def write_diff(conn: Any, workspace_id: str, segment_id: str, at: datetime) -> Changes:
    """Close the exited intervals, open the entered ones, append the events."""
    args = {"ws": workspace_id, "seg": segment_id, "at": at}
    conn.execute(
        "UPDATE segment_membership SET exited_at = $at"
        " WHERE workspace_id = $ws AND segment_id = $seg AND exited_at IS NULL"
        f" AND contact_id IN (SELECT contact_id FROM {DIFF} WHERE kind = 'exited')",
        args,
    )
    conn.execute(
        "INSERT INTO segment_membership (workspace_id, segment_id, contact_id, entered_at)"
        f" SELECT $ws, $seg, contact_id, $at FROM {DIFF} WHERE kind = 'entered'",
        args,
    )
    conn.execute(
        'INSERT INTO segment_events (workspace_id, segment_id, contact_id, kind, "at", cause)'
        f" SELECT $ws, $seg, contact_id, kind, $at, cause FROM {DIFF}",
        args,
    )
    rows = conn.execute(
        f"SELECT contact_id, kind, cause FROM {DIFF} ORDER BY contact_id"
    ).fetchall()
    return Changes([(int(r[0]), str(r[1]), str(r[2])) for r in rows])


def current_size(conn: Any, workspace_id: str, segment_id: str) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM ({CURRENT})", {"ws": workspace_id, "seg": segment_id}
    ).fetchone()
    return int(row[0]) if row else 0


def save_state(
    conn: Any,
    spec_revision: int,
    workspace_id: str,
    segment_id: str,
    *,
    evaluated_at: datetime,
    size: int,
    next_pass_at: datetime | None,
) -> None:
    """Record a full pass: the revision and `now` it evaluated, and when the next is due."""
    conn.execute(
        "INSERT INTO segment_membership_state"
        " (workspace_id, segment_id, revision, evaluated_at, size, next_pass_at)"
        " VALUES ($ws, $seg, $rev, $at, $size, $next)"
        " ON CONFLICT (workspace_id, segment_id) DO UPDATE SET revision = excluded.revision,"
        " evaluated_at = excluded.evaluated_at, size = excluded.size,"
        " next_pass_at = excluded.next_pass_at",
        {
            "ws": workspace_id,
            "seg": segment_id,
            "rev": spec_revision,
            "at": evaluated_at,
            "size": size,
            "next": next_pass_at,
        },
    )


def record_drift(
    conn: Any,
    workspace_id: str,
    segment_id: str,
    *,
    checked_at: datetime,
    size: int,
    expired: int,
    drifting: Sequence[int],
) -> None:
    conn.execute(
        "INSERT INTO segment_drift"
        " (workspace_id, segment_id, checked_at, size, expired, drift, sample)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            workspace_id,
            segment_id,
            checked_at,
            size,
            expired,
            len(drifting),
            list(drifting[:DRIFT_SAMPLE]),
        ],
    )


def drop_temp_tables(conn: Any) -> None:
    for table in TEMP_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
