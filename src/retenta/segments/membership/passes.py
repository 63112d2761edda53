"""The periodic full pass, read off the writer: member sets are computed on a read cursor
(ingestion and real-time rounds go on meanwhile) and only the diff runs in the writer.

Contacts committed while the pass reads are left out of its diff — the real-time path
evaluates them on fresh data — so the pass never writes a stale answer over a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from retenta.segments.membership import diff, source
from retenta.segments.membership.model import Cause, SegmentSpec

ARROW_IDS = "_segm_arrow_ids"
FAMILY_OF_CANDIDATES = (
    "WITH RECURSIVE down(contact_id) AS ("
    f" SELECT contact_id FROM {diff.CANDIDATES}"
    " UNION"
    " SELECT c.id FROM contacts c JOIN down ON c.merged_into = down.contact_id"
    " WHERE c.workspace_id = $ws)"
    " SELECT contact_id FROM down"
)


@dataclass(frozen=True)
class PassRead:
    """What the read phase found: the members now and (time-dependent) before."""

    spec: SegmentSpec
    state: tuple[int, datetime] | None
    new: pa.Table
    prev: pa.Table | None
    seen: dict[int, datetime]

    @property
    def is_check(self) -> bool:
        """A check of stored state (not the first fill of this revision)."""
        return self.state is not None and self.state[0] == self.spec.revision

    @property
    def cause(self) -> Cause:
        if self.state is not None and self.state[0] != self.spec.revision:
            return "definition"
        return "refresh"


def register(cur: Any, name: str, table: pa.Table) -> None:
    """``cur.register`` after finishing any half-read result (DuckDB 2 refuses otherwise)."""
    cur.complete()
    cur.register(name, table)


def ids_table(contact_ids: Iterable[int]) -> pa.Table:
    return pa.table({"contact_id": pa.array(list(contact_ids), pa.int64())})


def member_ids(cur: Any, sql: str) -> pa.Table:
    """The distinct member ids of a query, as Arrow."""
    cur.complete()
    return cur.sql(
        f"SELECT DISTINCT CAST(contact_id AS BIGINT) AS contact_id FROM ({sql}) q"
    ).to_arrow_table()


def stored_members(cur: Any, workspace_id: str, segment_id: str) -> set[int]:
    cur.complete()
    rows = cur.sql(
        "SELECT contact_id FROM segment_membership"
        " WHERE workspace_id = $ws AND segment_id = $seg AND exited_at IS NULL",
        params={"ws": workspace_id, "seg": segment_id},
    ).fetchall()
    return {int(r[0]) for r in rows}


def previous_members(
    cur: Any,
    queries: source.MemberQueries,
    spec: SegmentSpec,
    pass_now: datetime,
    seen: dict[int, datetime],
    new: pa.Table,
) -> pa.Table:
    """Each contact's membership at the `now` it was last evaluated at (the previous pass,
    or its latest real-time round), on the data read now — evaluated only for the contacts
    whose stored membership differs from ``new`` (the rest cannot be in the diff), in one
    confined query per distinct `now`."""
    stored = stored_members(cur, spec.workspace_id, spec.segment_id)
    changed = set(new.column(0).to_pylist()) ^ stored
    members = stored - changed
    groups: dict[datetime, list[int]] = {}
    for cid in sorted(changed):
        groups.setdefault(seen.get(cid, pass_now), []).append(cid)
    for at, contact_ids in sorted(groups.items()):
        register(cur, diff.CANDIDATES, ids_table(contact_ids))
        family = cur.sql(FAMILY_OF_CANDIDATES, params={"ws": spec.workspace_id}).to_arrow_table()
        register(cur, diff.FAMILY, family)
        try:
            sql = queries.scoped_sql(cur, spec, now=at, candidates=diff.CANDIDATES)
            then = set(member_ids(cur, sql).column(0).to_pylist())
        finally:
            cur.unregister(diff.FAMILY)
            cur.unregister(diff.CANDIDATES)
        members.update(cid for cid in contact_ids if cid in then)
    return ids_table(sorted(members))


def apply_pass(
    conn: Any,
    read: PassRead,
    now: datetime,
    excluded: Iterable[int],
    *,
    next_pass_at: datetime,
    evaluated_at: datetime,
) -> tuple[diff.Changes, int] | None:
    """The writer half: diff the read member sets against the stored intervals, leaving out
    ``excluded`` contacts. None (nothing written) if another pass or an edit came between."""
    spec = read.spec
    if source.state_of(conn, spec.workspace_id, spec.segment_id) != read.state:
        return None
    try:
        _load(conn, diff.NEW, read.new)
        timed = read.prev is not None
        if read.prev is not None:
            _load(conn, diff.PREV, read.prev)
        diff.compute_diff(
            conn, spec.workspace_id, spec.segment_id, scoped=False, cause=read.cause, timed=timed
        )
        skipped = ids_table(sorted(set(excluded)))
        if skipped.num_rows:
            register(conn, ARROW_IDS, skipped)
            conn.execute(
                f"DELETE FROM {diff.DIFF} WHERE contact_id IN (SELECT contact_id FROM {ARROW_IDS})"
            )
            conn.unregister(ARROW_IDS)
        changes = diff.write_diff(conn, spec.workspace_id, spec.segment_id, now)
        size = diff.current_size(conn, spec.workspace_id, spec.segment_id)
        diff.save_state(
            conn,
            spec.revision,
            spec.workspace_id,
            spec.segment_id,
            evaluated_at=evaluated_at,
            size=size,
            next_pass_at=next_pass_at,
        )
    finally:
        diff.drop_temp_tables(conn)
    return changes, size


def _load(conn: Any, table: str, ids: pa.Table) -> None:
    register(conn, ARROW_IDS, ids)
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT contact_id FROM {ARROW_IDS}")
    finally:
        conn.unregister(ARROW_IDS)
