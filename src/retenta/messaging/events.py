"""A send's life on the contact: rows of ``message_events`` (table from migration 0014).

Segments read them through the ``message_events`` view ("opened a promo in September").
Rows are appended in bulk from Arrow inside the single writer (one INSERT … SELECT per
batch, not a row at a time).

A channel result maps to the event it means: accepted → ``sent``; refused for good by the
receiving server → ``bounced`` (a synchronous hard bounce); failed before reaching a
server (template error, unusable address) → ``failed``. A *temporary* result records
nothing yet: the send is retried, and only its final outcome is an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.storage.base import Database

STATUSES = frozenset(
    {
        "queued", "sent", "delivered", "opened", "clicked", "bounced", "complained",
        "failed", "unsubscribed", "suppressed",
    }
)  # fmt: skip

ROWS = pa.schema(
    [("workspace_id", pa.string()), ("contact_id", pa.int64()), ("send_id", pa.string()),
     ("channel", pa.string()), ("campaign_id", pa.string()), ("message_id", pa.string()),
     ("tags", pa.list_(pa.string())), ("status", pa.string()),
     ("at", pa.timestamp("us", tz="UTC")), ("machine", pa.bool_()),
     ("properties", pa.string())]
)  # fmt: skip
_COLUMNS = ", ".join(f'"{name}"' for name in ROWS.names)
APPEND_SQL = f"INSERT INTO message_events ({_COLUMNS}) SELECT {_COLUMNS} FROM _msg_events"


@dataclass(frozen=True, slots=True)
class SendContext:
    """What every event of one send shares."""

    workspace_id: str
    contact_id: int
    send_id: str
    channel: str
    campaign_id: str | None = None
    message_id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageEvent:
    send: SendContext
    status: str
    at: datetime
    machine: bool = False
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown message status {self.status!r}")
        if self.at.tzinfo is None:
            raise ValueError("message event times must be timezone-aware")


def queued(send: SendContext, *, at: datetime | None = None) -> MessageEvent:
    return MessageEvent(send, "queued", at or datetime.now(UTC))


def from_result(
    send: SendContext, result: SendResult, *, at: datetime | None = None
) -> MessageEvent | None:
    """The event a channel result means, or ``None`` while it is only temporary."""
    if result.send_id != send.send_id:
        raise ValueError(f"result of {result.send_id} given for send {send.send_id}")
    moment = at or datetime.now(UTC)
    if result.outcome is Outcome.SENT:
        return MessageEvent(send, "sent", moment, properties=_details(result))
    if result.outcome is Outcome.TEMPORARY:
        return None
    status = "bounced" if result.code is not None else "failed"
    properties = _details(result) | ({"bounce": "hard"} if status == "bounced" else {})
    return MessageEvent(send, status, moment, properties=properties)


def _details(result: SendResult) -> dict[str, Any]:
    details = {
        "reason": result.reason or None,
        "code": result.code,
        "detail": result.detail,
        "remote_id": result.remote_id,
    }
    return {key: value for key, value in details.items() if value is not None}


def as_arrow(events: Sequence[MessageEvent]) -> pa.Table:
    return pa.table(
        {
            "workspace_id": [e.send.workspace_id for e in events],
            "contact_id": [e.send.contact_id for e in events],
            "send_id": [e.send.send_id for e in events],
            "channel": [e.send.channel for e in events],
            "campaign_id": [e.send.campaign_id for e in events],
            "message_id": [e.send.message_id for e in events],
            "tags": [list(e.send.tags) for e in events],
            "status": [e.status for e in events],
            "at": [e.at for e in events],
            "machine": [e.machine for e in events],
            "properties": [orjson.dumps(dict(e.properties)).decode() for e in events],
        },
        schema=ROWS,
    )


def append(conn: Any, events: Sequence[MessageEvent]) -> int:
    """Writer-side: append ``events`` in one statement (runs inside the writer's transaction)."""
    if not events:
        return 0
    conn.register("_msg_events", as_arrow(events))
    try:
        conn.execute(APPEND_SQL)
    finally:
        conn.unregister("_msg_events")
    return len(events)


async def record(db: Database, events: Iterable[MessageEvent]) -> int:
    """Append events through the single writer; returns how many were written."""
    batch = list(events)
    if not batch:
        return 0
    return await db.awrite(lambda conn: append(conn, batch))
