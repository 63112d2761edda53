"""Signals become events through ingestion, like any client's event.

A signal is stored, deduplicated and starts journeys exactly as a tracked event does: it
goes through ``IngestPipeline.ingest``. Its message id derives from (event, contact, what
made it due), so a pass that runs twice (a crash before its cursor moved, two processes)
emits the same ids and ingestion's dedup keeps one. The event names the contact by one of
the contact's own stored identifiers, strongest first, so identity resolution lands it on
that contact (or the contact it was merged into).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retenta.core.messages import Message

CHUNK = 5_000
IDENTIFIER_ORDER = ("external_id", "email", "phone", "anonymous_id")


@dataclass(frozen=True, slots=True)
class Signal:
    """One event to emit for one contact; ``key`` says what made it due (its dedup key)."""

    contact_id: int
    event: str
    key: str
    properties: dict[str, Any] = field(default_factory=dict)


def signal_message_id(workspace_id: str, signal: Signal) -> str:
    """The event's message id: the same signal always gets the same one.

    >>> a = Signal(7, "Price Dropped", "SKU-1@2026-01-01")
    >>> signal_message_id("ws", a) == signal_message_id("ws", a)
    True
    >>> signal_message_id("ws", a) == signal_message_id("ws", Signal(8, a.event, a.key))
    False
    """
    raw = f"{workspace_id}\x1f{signal.event}\x1f{signal.contact_id}\x1f{signal.key}"
    return "sig_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def identifiers(
    cur: Any, workspace_id: str, contact_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Each contact's strongest stored identifier ``(type, value)``; erased contacts have none."""
    if not contact_ids:
        return {}
    rows = cur.execute(
        "SELECT i.contact_id, i.type, i.value FROM identities i JOIN contacts c"
        " ON c.id = i.contact_id AND c.erased_at IS NULL WHERE i.workspace_id = ?"
        " AND i.contact_id IN (SELECT unnest(?::BIGINT[])) AND i.type IN"
        " (SELECT unnest(?::VARCHAR[]))",
        [workspace_id, sorted(set(contact_ids)), list(IDENTIFIER_ORDER)],
    ).fetchall()
    best: dict[int, tuple[str, str]] = {}
    rank = {t: i for i, t in enumerate(IDENTIFIER_ORDER)}
    for contact_id, id_type, value in sorted(rows, key=lambda r: (rank[r[1]], r[2])):
        best.setdefault(int(contact_id), (str(id_type), str(value)))
    return best


def to_message(workspace_id: str, signal: Signal, ident: tuple[str, str], now: datetime) -> Message:
    """A ``track`` message naming the contact by ``ident``; traits carry email/phone only
    to identify (a track's traits never change the profile)."""
    id_type, value = ident
    message = Message(
        workspace_id=workspace_id, message_id=signal_message_id(workspace_id, signal),
        type="track", timestamp=now, received_at=now, event=signal.event,
        properties=dict(signal.properties), source="system",
    )  # fmt: skip
    if id_type == "external_id":
        message.user_id = value
    elif id_type == "anonymous_id":
        message.anonymous_id = value
    else:
        message.traits = {id_type: value}
    return message


async def emit(
    ingest: Any, db: Any, workspace_id: str, signals: Sequence[Signal], now: datetime
) -> int:
    """Send the signals through ingestion; how many were new (duplicates are dropped there)."""
    if not signals:
        return 0
    with db.read() as cur:
        idents = identifiers(cur, workspace_id, [s.contact_id for s in signals])
    messages = [
        to_message(workspace_id, s, idents[s.contact_id], now)
        for s in signals
        if s.contact_id in idents
    ]
    stored = 0
    for start in range(0, len(messages), CHUNK):
        outcome = await ingest.ingest(messages[start : start + CHUNK])
        stored += outcome.stored
    return stored
