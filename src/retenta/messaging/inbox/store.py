"""The inbox table (migration 0020): store, list, mark read, delete; ``opened`` events.

Every write runs in the single writer; every query is bound to one workspace and to the
contact's *family* (the live contact and every contact merged into it), so a merged person
sees both inboxes and nobody else's.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.messaging import events
from retenta.messaging.inbox.models import CHANNEL, InAppMessage
from retenta.storage.base import Database

ROWS = pa.schema(
    [("workspace_id", pa.string()), ("send_id", pa.string()), ("contact_id", pa.int64()),
     ("title", pa.string()), ("body", pa.string()), ("url", pa.string()),
     ("image_url", pa.string()), ("payload", pa.string()),
     ("created_at", pa.timestamp("us", tz="UTC")), ("expires_at", pa.timestamp("us", tz="UTC"))]
)  # fmt: skip
_COLUMNS = ", ".join(ROWS.names)
INSERT_SQL = (
    f"INSERT INTO inbox_messages ({_COLUMNS}) SELECT {_COLUMNS} FROM _inbox_rows"
    " ON CONFLICT DO NOTHING"
)
FAMILY_SQL = """
WITH RECURSIVE family(id, root) AS (
    SELECT x, x FROM unnest(?::BIGINT[]) AS t(x)
    UNION
    SELECT c.id, family.root FROM contacts c JOIN family ON c.merged_into = family.id
    WHERE c.workspace_id = ?
)
SELECT id, root FROM family
"""
FIELDS = "send_id, title, body, url, image_url, payload, created_at, expires_at, read_at"
FACTS_SQL = """
SELECT send_id, any_value(campaign_id), any_value(message_id), any_value(tags)
FROM message_events WHERE workspace_id = ? AND list_contains(?, send_id) GROUP BY send_id
"""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    unread: int
    next_cursor: str | None


def family(cur: Any, workspace_id: str, contact_ids: Sequence[int]) -> dict[int, int]:
    """Each contact of the family → the contact (of ``contact_ids``) it was merged into."""
    rows = cur.execute(FAMILY_SQL, [sorted(set(contact_ids)), workspace_id]).fetchall()
    return {int(member): int(root) for member, root in rows}


def store(conn: Any, workspace_id: str, messages: Sequence[InAppMessage], now: datetime) -> int:
    """Writer-side: insert the messages (a send already stored is kept as it is)."""
    unique = list({m.send_id: m for m in messages}.values())
    if not unique:
        return 0
    table = pa.table(
        {
            "workspace_id": [workspace_id] * len(unique),
            "send_id": [m.send_id for m in unique],
            "contact_id": [m.contact_id for m in unique],
            "title": [m.title for m in unique],
            "body": [m.body for m in unique],
            "url": [m.url for m in unique],
            "image_url": [m.image_url for m in unique],
            "payload": [orjson.dumps(dict(m.payload)).decode() for m in unique],
            "created_at": [now] * len(unique),
            "expires_at": [m.expires_at for m in unique],
        },
        schema=ROWS,
    )
    conn.register("_inbox_rows", table)
    try:
        conn.execute(INSERT_SQL)
    finally:
        conn.unregister("_inbox_rows")
    return len(unique)


def encode_cursor(created_at: datetime, send_id: str) -> str:
    """An opaque position: the last item's time and id.

    >>> decode_cursor(encode_cursor(datetime(2026, 1, 2, tzinfo=UTC), "snd_1"))[1]
    'snd_1'
    """
    raw = orjson.dumps([created_at.isoformat(), send_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position of a cursor; a ValueError when it was not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, send_id = orjson.loads(raw)
        return datetime.fromisoformat(created), str(send_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a cursor this API returned") from exc


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    send_id, title, body, url, image_url, payload, created, expires, read_at = row
    return {
        "id": send_id,
        "title": title,
        "body": body,
        "url": url,
        "image_url": image_url,
        "payload": orjson.loads(payload) if payload else {},
        "created_at": created,
        "expires_at": expires,
        "read": read_at is not None,
        "read_at": read_at,
    }


def page(
    db: Database,
    workspace_id: str,
    contact_id: int,
    *,
    limit: int,
    cursor: str | None = None,
    unread_only: bool = False,
    now: datetime | None = None,
) -> Page:
    """The contact's live messages (not deleted, not expired), newest first, and unread count."""
    moment = now or datetime.now(UTC)
    where = (
        "workspace_id = ? AND list_contains(?, contact_id) AND deleted_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?)"
    )
    with db.read() as cur:
        ids = list(family(cur, workspace_id, [contact_id]))
        params: list[Any] = [workspace_id, ids, moment]
        unread = cur.execute(
            f"SELECT count(*) FROM inbox_messages WHERE {where} AND read_at IS NULL", params
        ).fetchone()[0]
        query, extra = f"SELECT {FIELDS} FROM inbox_messages WHERE {where}", []
        if unread_only:
            query += " AND read_at IS NULL"
        if cursor is not None:
            created, send_id = decode_cursor(cursor)
            query += " AND (created_at < ? OR (created_at = ? AND send_id < ?))"
            extra = [created, created, send_id]
        query += " ORDER BY created_at DESC, send_id DESC LIMIT ?"
        rows = cur.execute(query, [*params, *extra, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    following = encode_cursor(rows[-1][6], rows[-1][0]) if more else None
    return Page([_item(r) for r in rows], int(unread), following)


def for_contact(
    db: Database, workspace_id: str, contact_id: int, *, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Management view: every message of the contact's family, deleted and expired included."""
    with db.read() as cur:
        ids = list(family(cur, workspace_id, [contact_id]))
        query = (
            f"SELECT {FIELDS}, deleted_at, contact_id FROM inbox_messages"
            " WHERE workspace_id = ? AND list_contains(?, contact_id)"
        )
        params: list[Any] = [workspace_id, ids]
        if cursor is not None:
            created, send_id = decode_cursor(cursor)
            query += " AND (created_at < ? OR (created_at = ? AND send_id < ?))"
            params += [created, created, send_id]
        query += " ORDER BY created_at DESC, send_id DESC LIMIT ?"
        rows = cur.execute(query, [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    items = [_item(row[:9]) | {"deleted_at": row[9], "contact_id": row[10]} for row in rows[:limit]]
    last = rows[limit - 1] if more else None
    return items, encode_cursor(last[6], last[0]) if last is not None else None


def _events(
    conn: Any, workspace_id: str, sends: list[tuple[str, int]], status: str, at: datetime
) -> int:
    """Writer-side: one ``status`` event per ``(send, contact)``, with its send's facts."""
    if not sends:
        return 0
    facts = {
        row[0]: row[1:]
        for row in conn.execute(FACTS_SQL, [workspace_id, [s for s, _ in sends]]).fetchall()
    }
    rows = []
    for send_id, contact_id in sends:
        campaign, message, tags = facts.get(send_id, (None, None, None))
        send = events.SendContext(
            workspace_id, contact_id, send_id, CHANNEL, campaign, message, tuple(tags or ())
        )
        rows.append(events.MessageEvent(send, status, at, properties={"source": "inbox"}))
    return events.append(conn, rows)


def _mark_read(
    conn: Any, workspace_id: str, ids: list[int], send_id: str | None, at: datetime
) -> list[tuple[str, int]]:
    """Writer-side: set ``read_at`` on unread live messages and record their ``opened``."""
    query = (
        "UPDATE inbox_messages SET read_at = ? WHERE workspace_id = ?"
        " AND list_contains(?, contact_id) AND read_at IS NULL AND deleted_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?)"
    )
    params: list[Any] = [at, workspace_id, ids, at]
    if send_id is not None:
        query += " AND send_id = ?"
        params.append(send_id)
    rows = conn.execute(f"{query} RETURNING send_id, contact_id", params).fetchall()
    read = [(str(s), int(c)) for s, c in rows]
    _events(conn, workspace_id, read, "opened", at)
    return read


async def mark_read(
    db: Database,
    workspace_id: str,
    contact_id: int,
    send_id: str | None,
    *,
    now: datetime | None = None,
) -> tuple[int, bool]:
    """Mark one message (or all, when ``send_id`` is None) read; ``(newly read, found)``.

    The first read of a message records its ``opened`` event in the same writer unit, so
    two devices marking it at once give one event.
    """
    moment = now or datetime.now(UTC)

    def work(conn: Any) -> tuple[int, bool]:
        ids = list(family(conn, workspace_id, [contact_id]))
        read = _mark_read(conn, workspace_id, ids, send_id, moment)
        found = bool(read) or send_id is None or _exists(conn, workspace_id, ids, send_id, moment)
        return len(read), found

    return await db.awrite(work)


async def click(
    db: Database, workspace_id: str, contact_id: int, send_id: str, *, now: datetime | None = None
) -> str | bool | None:
    """The app opened the message's link: ``clicked`` (and ``opened`` if it was unread).

    Answers the message's URL (None when it has none), or False when there is no such live
    message in this contact's inbox.
    """
    moment = now or datetime.now(UTC)

    def work(conn: Any) -> str | bool | None:
        ids = list(family(conn, workspace_id, [contact_id]))
        row = conn.execute(
            "SELECT contact_id, url FROM inbox_messages WHERE workspace_id = ?"
            " AND list_contains(?, contact_id) AND send_id = ? AND deleted_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)",
            [workspace_id, ids, send_id, moment],
        ).fetchone()
        if row is None:
            return False
        _mark_read(conn, workspace_id, ids, send_id, moment)
        _events(conn, workspace_id, [(send_id, int(row[0]))], "clicked", moment)
        return str(row[1]) if row[1] is not None else None

    return await db.awrite(work)


async def delete(
    db: Database, workspace_id: str, contact_id: int, send_id: str, *, now: datetime | None = None
) -> bool:
    """Hide a message from the app (idempotent); False when the contact has no such message."""
    moment = now or datetime.now(UTC)

    def work(conn: Any) -> bool:
        ids = list(family(conn, workspace_id, [contact_id]))
        if not _exists(conn, workspace_id, ids, send_id):
            return False
        conn.execute(
            "UPDATE inbox_messages SET deleted_at = ? WHERE workspace_id = ?"
            " AND list_contains(?, contact_id) AND send_id = ? AND deleted_at IS NULL",
            [moment, workspace_id, ids, send_id],
        )
        return True

    return await db.awrite(work)


def _exists(
    conn: Any, workspace_id: str, ids: list[int], send_id: str, live_at: datetime | None = None
) -> bool:
    """Whether the family has this message (only a live one when ``live_at`` is given)."""
    query = (
        "SELECT 1 FROM inbox_messages WHERE workspace_id = ? AND list_contains(?, contact_id)"
        " AND send_id = ?"
    )
    params: list[Any] = [workspace_id, ids, send_id]
    if live_at is not None:
        query += " AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
        params.append(live_at)
    return conn.execute(query, params).fetchone() is not None
