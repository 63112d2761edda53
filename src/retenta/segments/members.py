"""Reading a segment's members and its entry/exit events.

Members come from REALTIME's stored membership (``segment_membership``) when the segment's
last full pass evaluated its current revision; otherwise they are computed from the
definition on the spot (then ``entered_at`` is unknown).
"""

from __future__ import annotations

from typing import Any

from retenta.contacts.queries import list_rows
from retenta.contacts.traits import decode_id_cursor, encode_id_cursor
from retenta.segments import store

STORED_MEMBERS = (
    "SELECT contact_id, min(entered_at) AS entered_at FROM segment_membership"
    " WHERE workspace_id = $ws AND segment_id = $seg AND exited_at IS NULL GROUP BY contact_id"
)


def stored_is_current(cur: Any, seg: store.SegmentRow) -> bool:
    """Whether stored membership reflects the segment's current revision."""
    if not store.table_exists(cur, "segment_membership_state"):
        return False
    row = cur.execute(
        "SELECT revision FROM segment_membership_state WHERE workspace_id = ? AND segment_id = ?",
        [seg.workspace_id, seg.id],
    ).fetchone()
    return row is not None and int(row[0]) == seg.revision


def current_sizes(cur: Any, workspace_id: str) -> dict[str, int]:
    """Current member counts of the segments with stored membership of their current revision."""
    if not store.table_exists(cur, "segment_membership_state"):
        return {}
    rows = cur.execute(
        """
        SELECT st.segment_id, count(DISTINCT m.contact_id)
        FROM segment_membership_state st
        JOIN segments s ON s.workspace_id = st.workspace_id AND s.id = st.segment_id
            AND s.revision = st.revision AND s.deleted_at IS NULL
        LEFT JOIN segment_membership m ON m.workspace_id = st.workspace_id
            AND m.segment_id = st.segment_id AND m.exited_at IS NULL
        WHERE st.workspace_id = ?
        GROUP BY st.segment_id
        """,
        [workspace_id],
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def page(
    cur: Any,
    workspace_id: str,
    members_sql: str,
    params: dict[str, Any],
    *,
    entered: bool,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of members in contact id order, with email and name.

    ``members_sql`` yields ``contact_id`` (and ``entered_at`` when ``entered``).
    """
    after = decode_id_cursor(cursor) if cursor else 0
    entered_col = "entered_at" if entered else "CAST(NULL AS TIMESTAMPTZ)"
    rows = cur.execute(
        f"SELECT contact_id, {entered_col} FROM ({members_sql}) AS m"
        " WHERE contact_id > $after ORDER BY contact_id LIMIT $limit",
        {**params, "after": after, "limit": limit + 1},
    ).fetchall()
    shown = rows[:limit]
    people = {r["id"]: r for r in list_rows(cur, workspace_id, [int(r[0]) for r in shown])}
    items = [
        {
            "contact_id": int(cid),
            "email": people.get(int(cid), {}).get("email"),
            "name": people.get(int(cid), {}).get("name"),
            "entered_at": at,
        }
        for cid, at in shown
    ]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_id_cursor(int(shown[-1][0])) if more else None}


def events(cur: Any, workspace_id: str, segment_id: str, limit: int) -> list[dict[str, Any]]:
    """Entries and exits, newest first (empty until the segment is refreshed)."""
    if not store.table_exists(cur, "segment_events"):
        return []
    rows = cur.execute(
        'SELECT contact_id, kind, "at", cause FROM segment_events'
        ' WHERE workspace_id = ? AND segment_id = ? ORDER BY "at" DESC, contact_id LIMIT ?',
        [workspace_id, segment_id, limit],
    ).fetchall()
    people = {r["id"]: r for r in list_rows(cur, workspace_id, sorted({int(r[0]) for r in rows}))}
    return [
        {
            "contact_id": int(cid),
            "email": people.get(int(cid), {}).get("email"),
            "name": people.get(int(cid), {}).get("name"),
            "kind": kind,
            "at": at,
            "cause": cause,
        }
        for cid, kind, at, cause in rows
    ]
