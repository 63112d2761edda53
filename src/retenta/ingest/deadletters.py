"""The dead-letter store: invalid events kept whole, listed, fixed, replayed or discarded.

Dead letters are written in the same unit of work as the valid events of their request,
so a request's response (which names what was rejected) is only sent once both are
durable. A replay re-validates the (optionally fixed) payload and stores it through the
pipeline; because dedup is exact, replaying the same letter twice stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.errors import ApiError, not_found

STATUSES = ("pending", "replayed", "discarded")
_VIEW = "_incoming_dead_letters"
_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("endpoint", pa.string()),
        ("payload", pa.string()),
        ("errors", pa.string()),
    ]
)
_COLUMNS = "id, workspace_id, received_at, endpoint, payload, errors, status, resolved_at"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    workspace_id: str
    received_at: datetime
    endpoint: str
    payload: Any
    errors: list[dict[str, str]]


def insert_dead_letters(conn: Any, letters: list[DeadLetter]) -> None:
    """Append dead letters in one statement (inside the caller's unit of work)."""
    if not letters:
        return
    table = pa.table(
        {
            "workspace_id": [d.workspace_id for d in letters],
            "received_at": [d.received_at for d in letters],
            "endpoint": [d.endpoint for d in letters],
            "payload": [orjson.dumps(d.payload, default=str).decode() for d in letters],
            "errors": [orjson.dumps(d.errors).decode() for d in letters],
        },
        schema=_SCHEMA,
    )
    conn.register(_VIEW, table)
    try:
        conn.execute(
            f"INSERT INTO dead_letters (workspace_id, received_at, endpoint, payload, errors)"
            f" SELECT workspace_id, received_at, endpoint, payload::JSON, errors::JSON FROM {_VIEW}"
        )
    finally:
        conn.unregister(_VIEW)


def row_to_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[0],
        "workspace_id": row[1],
        "received_at": row[2],
        "endpoint": row[3],
        "payload": orjson.loads(row[4]),
        "errors": orjson.loads(row[5]),
        "status": row[6],
        "resolved_at": row[7],
    }


def list_dead_letters(
    cur: Any, *, workspace_id: str, status: str | None, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated by id."""
    if status is not None and status not in STATUSES:
        raise ApiError(
            422,
            "validation_error",
            f"status must be one of {', '.join(STATUSES)}",
            field="status",
        )
    sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE workspace_id = ?"
    params: list[Any] = [workspace_id]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [row_to_dict(r) for r in cur.execute(sql, params).fetchall()]


def oldest_pending_ids(cur: Any, *, workspace_id: str, limit: int) -> list[int]:
    """The ids of up to ``limit`` pending letters, oldest first (a bulk replay's order)."""
    rows = cur.execute(
        "SELECT id FROM dead_letters WHERE workspace_id = ? AND status = 'pending'"
        " ORDER BY id LIMIT ?",
        [workspace_id, limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def get_dead_letter(cur: Any, *, workspace_id: str, letter_id: int) -> dict[str, Any]:
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM dead_letters WHERE workspace_id = ? AND id = ?",
        [workspace_id, letter_id],
    ).fetchall()
    if not rows:
        raise not_found("dead letter")
    return row_to_dict(rows[0])


def resolve_dead_letter(conn: Any, *, workspace_id: str, letter_id: int, status: str) -> None:
    """Mark a pending letter replayed or discarded; 409 if it is no longer pending."""
    rows = conn.execute(
        "UPDATE dead_letters SET status = ?, resolved_at = now()"
        " WHERE workspace_id = ? AND id = ? AND status = 'pending' RETURNING id",
        [status, workspace_id, letter_id],
    ).fetchall()
    if rows:
        return
    current = get_dead_letter(conn, workspace_id=workspace_id, letter_id=letter_id)
    raise ApiError(
        409, "conflict", f"dead letter {letter_id} is already {current['status']}", field="status"
    )


def mark_resolved(
    conn: Any, *, workspace_id: str, letter_id: int, status: str, payload: Any = None
) -> None:
    """``resolve_dead_letter`` that also keeps the fixed payload a replay used."""
    resolve_dead_letter(conn, workspace_id=workspace_id, letter_id=letter_id, status=status)
    if payload is not None:
        conn.execute(
            "UPDATE dead_letters SET payload = ?::JSON WHERE workspace_id = ? AND id = ?",
            [orjson.dumps(payload).decode(), workspace_id, letter_id],
        )
