"""``apply_pending``: the keys of stored events whose appliers have not committed yet.

The writer appends a unit's keys in the transaction that stores its events; the apply lane
deletes them in the transaction that applies them. What a crash leaves between the two is
read back here as messages, from the event log, in unit order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from retenta.core.messages import Message

_RECOVER_SQL = """
    SELECT p.seq, e.workspace_id, e.message_id, e.contact_id, e.type, e.event, e.user_id,
           e.anonymous_id, e.timestamp, e.original_timestamp, e.sent_at, e.received_at,
           e.properties, e.traits, e.context, e.source
    FROM apply_pending AS p
    JOIN all_events AS e ON e.workspace_id = p.workspace_id AND e.message_id = p.message_id
    WHERE p.seq = ?
    ORDER BY p.position
"""


def insert_pending(conn: Any, seq: int, events: pa.Table) -> None:
    """The keys of ``events`` (a unit's stored rows, in order) as pending under ``seq``."""
    n = events.num_rows
    _pending = pa.table(
        {
            "seq": pa.array(np.full(n, seq, dtype=np.int64)),
            "workspace_id": events.column("workspace_id"),
            "message_id": events.column("message_id"),
            "position": pa.array(np.arange(n, dtype=np.int32)),
        }
    )
    conn.execute(
        "INSERT INTO apply_pending (seq, workspace_id, message_id, position)"
        " SELECT seq, workspace_id, message_id, position FROM _pending"
    )


def delete_pending(conn: Any, seqs: list[int]) -> None:
    """The pending keys of these units (applied in the caller's transaction)."""
    if len(seqs) == 1:
        conn.execute("DELETE FROM apply_pending WHERE seq = ?", seqs)
    elif seqs:
        conn.execute("DELETE FROM apply_pending WHERE seq IN (SELECT unnest(?))", [seqs])


def pending_seqs(conn: Any) -> list[int]:
    """The units left pending, oldest first."""
    rows = conn.execute("SELECT DISTINCT seq FROM apply_pending ORDER BY seq").fetchall()
    return [int(seq) for (seq,) in rows]


def pending_messages(conn: Any, seq: int) -> list[Message]:
    """A pending unit's stored events as messages, in their order (an event erased since is
    gone from the log, and skipped)."""
    return [_message(row) for row in conn.execute(_RECOVER_SQL, [seq]).fetchall()]


def _message(row: tuple[Any, ...]) -> Message:
    (_, workspace_id, message_id, contact_id, type_, event, user_id, anonymous_id,
     timestamp, original_timestamp, sent_at, received_at, properties, traits, context,
     source) = row  # fmt: skip
    return Message(
        workspace_id=workspace_id,
        message_id=message_id,
        type=type_,
        timestamp=timestamp,
        received_at=received_at,
        event=event,
        user_id=user_id,
        anonymous_id=anonymous_id,
        original_timestamp=original_timestamp,
        sent_at=sent_at,
        properties=_object(properties),
        traits=_object(traits),
        context=_object(context),
        source=source,
        contact_id=contact_id,
    )


def _object(text: str | None) -> dict[str, Any]:
    return orjson.loads(text) if text else {}
