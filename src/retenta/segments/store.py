"""Segment rows in DuckDB: the current definition, revisions, sizes and where-used.

Functions take a cursor (reads) or the writer's connection (writes); they never open
transactions themselves, so the service composes them into one unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import orjson

SEGMENT_COLUMNS = (
    "id, workspace_id, name, description, owner, tags, kind, definition, sql, params,"
    " realtime, revision, created_at, updated_at, deleted_at"
)
USED_BY_SEGMENT = "segment"


@dataclass(frozen=True)
class SegmentRow:
    """One segment as stored (``definition`` and ``params`` decoded from JSON)."""

    id: str
    workspace_id: str
    name: str
    kind: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    owner: str | None = None
    tags: tuple[str, ...] = ()
    definition: dict[str, Any] | None = None
    sql: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    realtime: bool = False
    revision: int = 1
    deleted_at: datetime | None = None

    def changed(self, **changes: Any) -> SegmentRow:
        return replace(self, **changes)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _decoded(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _row(r: Sequence[Any]) -> SegmentRow:
    return SegmentRow(
        id=r[0],
        workspace_id=r[1],
        name=r[2],
        description=r[3] or "",
        owner=r[4],
        tags=tuple(r[5] or ()),
        kind=r[6],
        definition=_decoded(r[7]),
        sql=r[8],
        params=_decoded(r[9]) or {},
        realtime=bool(r[10]),
        revision=int(r[11]),
        created_at=r[12],
        updated_at=r[13],
        deleted_at=r[14],
    )


# --- reads ---------------------------------------------------------------------------------


def get(cur: Any, workspace_id: str, segment_id: str) -> SegmentRow | None:
    """A live (not deleted) segment of this workspace, or None."""
    row = cur.execute(
        f"SELECT {SEGMENT_COLUMNS} FROM segments"
        " WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
        [workspace_id, segment_id],
    ).fetchone()
    return _row(row) if row else None


def list_live(cur: Any, workspace_id: str) -> list[SegmentRow]:
    """Live segments of a workspace, most recently changed first."""
    rows = cur.execute(
        f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE workspace_id = ? AND deleted_at IS NULL"
        " ORDER BY updated_at DESC, id",
        [workspace_id],
    ).fetchall()
    return [_row(r) for r in rows]


def name_taken(cur: Any, workspace_id: str, name: str, except_id: str | None) -> bool:
    row = cur.execute(
        "SELECT 1 FROM segments WHERE workspace_id = ? AND deleted_at IS NULL"
        " AND lower(name) = lower(?) AND id IS DISTINCT FROM ?",
        [workspace_id, name, except_id],
    ).fetchone()
    return row is not None


def usages(
    cur: Any, workspace_id: str, segment_ids: Sequence[str]
) -> dict[str, list[dict[str, str]]]:
    """Who uses each segment: ``{segment_id: [{kind, id, name}]}``."""
    if not segment_ids:
        return {}
    rows = cur.execute(
        "SELECT segment_id, used_by_kind, used_by_id, used_by_name FROM segment_usages"
        " WHERE workspace_id = ? AND segment_id IN (SELECT unnest(?::VARCHAR[]))"
        " ORDER BY used_by_kind, used_by_name, used_by_id",
        [workspace_id, list(segment_ids)],
    ).fetchall()
    out: dict[str, list[dict[str, str]]] = {}
    for seg, kind, used_id, name in rows:
        out.setdefault(seg, []).append({"kind": kind, "id": used_id, "name": name})
    return out


def latest_sizes(cur: Any, workspace_id: str) -> dict[str, tuple[int, datetime]]:
    """The last measured size of each segment: ``{segment_id: (size, measured_at)}``."""
    rows = cur.execute(
        "SELECT segment_id, arg_max(size, day), max(measured_at) FROM segment_sizes"
        " WHERE workspace_id = ? GROUP BY segment_id",
        [workspace_id],
    ).fetchall()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def size_history(cur: Any, workspace_id: str, segment_id: str, since: date) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT day, size FROM segment_sizes WHERE workspace_id = ? AND segment_id = ?"
        " AND day >= ? ORDER BY day",
        [workspace_id, segment_id, since],
    ).fetchall()
    return [{"day": r[0].isoformat(), "size": int(r[1])} for r in rows]


def revisions(cur: Any, workspace_id: str, segment_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT revision, action, changed_at, changed_by, name, kind, definition, sql, params"
        " FROM segment_revisions WHERE workspace_id = ? AND segment_id = ? ORDER BY revision",
        [workspace_id, segment_id],
    ).fetchall()
    cols = ("revision", "action", "changed_at", "changed_by", "name", "kind")
    return [
        {
            **dict(zip(cols, r[:6], strict=True)),
            "definition": _decoded(r[6]),
            "sql": r[7],
            "params": _decoded(r[8]) or {},
        }
        for r in rows
    ]


def table_exists(cur: Any, name: str) -> bool:
    row = cur.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
    ).fetchone()
    return row is not None


# --- writes (inside the writer's transaction) ----------------------------------------------


def insert(conn: Any, seg: SegmentRow) -> None:
    conn.execute(
        f"INSERT INTO segments ({SEGMENT_COLUMNS}) VALUES ({', '.join('?' * 15)})",
        [
            seg.id,
            seg.workspace_id,
            seg.name,
            seg.description,
            seg.owner,
            list(seg.tags),
            seg.kind,
            _json(seg.definition),
            seg.sql,
            _json(seg.params or {}),
            seg.realtime,
            seg.revision,
            seg.created_at,
            seg.updated_at,
            seg.deleted_at,
        ],
    )


def update(conn: Any, seg: SegmentRow) -> None:
    conn.execute(
        "UPDATE segments SET name = ?, description = ?, tags = ?, kind = ?, definition = ?,"
        " sql = ?, params = ?, realtime = ?, revision = ?, updated_at = ?, deleted_at = ?"
        " WHERE workspace_id = ? AND id = ?",
        [
            seg.name,
            seg.description,
            list(seg.tags),
            seg.kind,
            _json(seg.definition),
            seg.sql,
            _json(seg.params or {}),
            seg.realtime,
            seg.revision,
            seg.updated_at,
            seg.deleted_at,
            seg.workspace_id,
            seg.id,
        ],
    )


def record_revision(conn: Any, seg: SegmentRow, *, action: str, by: str | None) -> None:
    conn.execute(
        "INSERT INTO segment_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            seg.workspace_id,
            seg.id,
            seg.revision,
            action,
            seg.deleted_at or seg.updated_at,
            by,
            seg.name,
            seg.description,
            list(seg.tags),
            seg.kind,
            _json(seg.definition),
            seg.sql,
            _json(seg.params or {}),
            seg.realtime,
        ],
    )


def replace_segment_usages(
    conn: Any, workspace_id: str, user: SegmentRow | None, user_id: str, used: Iterable[str]
) -> None:
    """The segments ``user_id`` (a segment) references become exactly ``used``."""
    conn.execute(
        "DELETE FROM segment_usages WHERE workspace_id = ? AND used_by_kind = ? AND used_by_id = ?",
        [workspace_id, USED_BY_SEGMENT, user_id],
    )
    targets = sorted(set(used))
    if user is None or not targets:
        return
    conn.execute(
        "INSERT INTO segment_usages SELECT ?, unnest(?::VARCHAR[]), ?, ?, ?",
        [workspace_id, targets, USED_BY_SEGMENT, user_id, user.name],
    )


def record_size(conn: Any, workspace_id: str, segment_id: str, size: int, at: datetime) -> None:
    """Today's (UTC) size of a segment; a later measurement of the same day replaces it."""
    conn.execute(
        "INSERT INTO segment_sizes VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
        " SET size = excluded.size, measured_at = excluded.measured_at",
        [workspace_id, segment_id, at.date(), size, at],
    )


# --- where-used, for the users of segments (campaigns, journeys) ----------------------------


def register_usage(
    conn: Any, workspace_id: str, segment_id: str, *, kind: str, used_by_id: str, name: str
) -> None:
    """Inside the caller's writer transaction: ``kind``/``used_by_id`` now uses the segment
    (which must be live in this workspace). Saving again only renames. Raises ``LookupError``."""
    if get(conn, workspace_id, segment_id) is None:
        raise LookupError(f"no segment {segment_id} in this workspace")
    conn.execute(
        "INSERT INTO segment_usages VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
        " SET used_by_name = excluded.used_by_name",
        [workspace_id, segment_id, kind, used_by_id, name],
    )


def unregister_usages(conn: Any, workspace_id: str, *, kind: str, used_by_id: str) -> None:
    """Inside the caller's writer transaction: ``kind``/``used_by_id`` uses no segment any more."""
    conn.execute(
        "DELETE FROM segment_usages WHERE workspace_id = ? AND used_by_kind = ? AND used_by_id = ?",
        [workspace_id, kind, used_by_id],
    )
