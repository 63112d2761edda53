"""The delivery log: one send with its events, and the sends of a workspace, newest first."""

from __future__ import annotations

from typing import Any

import orjson

from retenta.messaging.outbox.model import decode_cursor, encode_cursor
from retenta.storage.base import Database, rows_as_dicts

PUBLIC_COLUMNS = (
    'send_id, workspace_id, contact_id, channel, "cascade", message_id, message_revision,'
    " versions_used, category, topic, campaign_id, language, data, status, attempts,"
    " next_attempt_at, last_error, remote_id, created_at, updated_at"
)


def get_send(db: Database, workspace_id: str, send_id: str) -> dict[str, Any] | None:
    """One send of this workspace with its message events, oldest first."""
    with db.read() as cur:
        # The key alone is the filter so DuckDB probes the primary key's index; the
        # workspace is checked on the row.
        cur.execute(f"SELECT {PUBLIC_COLUMNS} FROM sends WHERE send_id = ?", [send_id])
        found = [_public(r) for r in rows_as_dicts(cur) if r["workspace_id"] == workspace_id]
        if not found:
            return None
        cur.execute(
            'SELECT status, channel, "at", machine, properties FROM message_events'
            ' WHERE workspace_id = ? AND send_id = ? ORDER BY "at"',
            [workspace_id, send_id],
        )
        events = [{**e, "properties": orjson.loads(e["properties"])} for e in rows_as_dicts(cur)]
    return {**found[0], "events": events}


def list_sends(
    db: Database,
    workspace_id: str,
    *,
    contact_id: int | None = None,
    message_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The delivery log, newest first, ``limit`` at a time (``next_cursor`` for more)."""
    after = decode_cursor(cursor) if cursor else None
    sql = (
        f"SELECT {PUBLIC_COLUMNS}, epoch_us(created_at) AS _us FROM sends"
        " WHERE workspace_id = ? AND (? IS NULL OR contact_id = ?)"
        " AND (? IS NULL OR message_id = ?) AND (? IS NULL OR status = ?)"
        " AND (? IS NULL OR (epoch_us(created_at), send_id) < (?, ?))"
        " ORDER BY created_at DESC, send_id DESC LIMIT ?"
    )
    us, sid = after if after else (None, None)
    params = [
        workspace_id,
        contact_id,
        contact_id,
        message_id,
        message_id,
        status,
        status,
        us,
        us,
        sid,
        limit + 1,
    ]
    with db.read() as cur:
        cur.execute(sql, params)
        rows = list(rows_as_dicts(cur))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["_us"], rows[-1]["send_id"]) if more else None
    return {
        "sends": [_public({k: v for k, v in r.items() if k != "_us"}) for r in rows],
        "next_cursor": next_cursor,
    }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("cascade", "versions_used", "data"):
        if isinstance(row.get(name), str):
            row[name] = orjson.loads(row[name])
    return row
