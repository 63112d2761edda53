"""The SMS fallback of Viber messages, kept in ``viber_fallbacks`` (migration 0021).

When Viber accepts a message that carries a ``fallback_sms`` text, the channel records it
here as *pending* with a deadline (the message's Viber TTL). Then exactly one of:

- the provider reports it delivered or read → *delivered*, nothing more;
- the provider reports it rejected / undeliverable (not a Viber user, blocked, expired), or
  the deadline passes with no delivery → the row is claimed (*pending* → *sending*, in the
  writer, so a status and the sweep cannot both send it) and the text goes out through the
  workspace's SMS channel named in the row; the row ends *fallback_sent* or
  *fallback_failed*, and the send gets events on channel ``sms`` with
  ``properties.fallback_of = "viber"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms.common import SmsMessage
from retenta.messaging.events import MessageEvent, SendContext, append, from_result
from retenta.storage.base import Database


@dataclass(frozen=True, slots=True)
class Pending:
    send_id: str
    sms_channel: str
    to: str
    text: str
    sender: str | None
    remote_id: str | None
    deadline: datetime


# Sends an SMS through the workspace's SMS channel named ``sms_channel``.
SmsSender = Callable[[str, SmsMessage], Awaitable[SendResult]]

_CLAIM = """
UPDATE viber_fallbacks SET state = 'sending', reason = ?, updated_at = ?
WHERE workspace_id = ? AND state = 'pending' AND list_contains(?, send_id)
RETURNING send_id, sms_channel, to_number, text, sender, remote_id, deadline
"""
_DUE = """
SELECT send_id FROM viber_fallbacks
WHERE workspace_id = ? AND state = 'pending' AND deadline <= ?
ORDER BY deadline LIMIT ?
"""


class FallbackStore:
    """One workspace's pending Viber→SMS fallbacks."""

    def __init__(self, db: Database, workspace_id: str) -> None:
        self.db = db
        self.workspace_id = workspace_id

    async def add(self, rows: Sequence[Pending]) -> None:
        """Remember accepted Viber messages that have a fallback text (idempotent by send)."""
        if not rows:
            return
        now = datetime.now(UTC)
        params = [
            [self.workspace_id, r.send_id, r.sms_channel, r.to, r.text, r.sender, r.remote_id,
             r.deadline, now, now]
            for r in rows
        ]  # fmt: skip

        def work(conn: Any) -> None:
            conn.executemany(
                "INSERT INTO viber_fallbacks (workspace_id, send_id, sms_channel, to_number,"
                " text, sender, remote_id, deadline, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                params,
            )

        await self.db.awrite(work)

    async def delivered(self, send_id: str) -> bool:
        """Close a pending fallback: Viber delivered it. ``False`` when none was pending."""

        def work(conn: Any) -> bool:
            return bool(
                conn.execute(
                    "UPDATE viber_fallbacks SET state = 'delivered', updated_at = ?"
                    " WHERE workspace_id = ? AND send_id = ? AND state = 'pending' RETURNING 1",
                    [datetime.now(UTC), self.workspace_id, send_id],
                ).fetchall()
            )

        return await self.db.awrite(work)

    async def claim(self, send_ids: Sequence[str], reason: str) -> list[Pending]:
        """Take pending rows for sending (each is claimed once, whoever asks first)."""
        if not send_ids:
            return []

        def work(conn: Any) -> list[Pending]:
            now = datetime.now(UTC)
            rows = conn.execute(_CLAIM, [reason, now, self.workspace_id, list(send_ids)])
            return [Pending(*row) for row in rows.fetchall()]

        return await self.db.awrite(work)

    def due(self, now: datetime, limit: int = 500) -> list[str]:
        """Sends still pending past their deadline."""
        with self.db.read() as cur:
            rows = cur.execute(_DUE, [self.workspace_id, now, limit]).fetchall()
        return [str(r[0]) for r in rows]

    def state(self, send_id: str) -> tuple[str, str | None] | None:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT state, reason FROM viber_fallbacks WHERE workspace_id = ? AND send_id = ?",
                [self.workspace_id, send_id],
            ).fetchone()
        return None if row is None else (str(row[0]), row[1])

    async def finish(self, pending: Sequence[Pending], results: Sequence[SendResult]) -> int:
        """Close claimed rows with their SMS results and record the send's sms events."""
        by_id = {r.send_id: r for r in results}

        def work(conn: Any) -> int:
            now = datetime.now(UTC)
            for row in pending:
                result = by_id[row.send_id]
                state = "fallback_sent" if result.ok else "fallback_failed"
                conn.execute(
                    "UPDATE viber_fallbacks SET state = ?, sms_remote_id = ?, updated_at = ?,"
                    " reason = coalesce(reason, '') || ?"
                    " WHERE workspace_id = ? AND send_id = ?",
                    [state, result.remote_id, now, f"; sms: {result.reason}",
                     self.workspace_id, row.send_id],
                )  # fmt: skip
            return append(conn, self._events(conn, pending, by_id))

        return await self.db.awrite(work)

    def _events(
        self, conn: Any, pending: Sequence[Pending], results: dict[str, SendResult]
    ) -> list[MessageEvent]:
        contexts = _contexts(conn, self.workspace_id, [p.send_id for p in pending])
        events = []
        for row in pending:
            base = contexts.get(row.send_id)
            if base is None:
                continue
            ctx = SendContext(self.workspace_id, base.contact_id, row.send_id, "sms",
                              base.campaign_id, base.message_id, base.tags)  # fmt: skip
            event = from_result(ctx, _final(results[row.send_id]))
            if event is not None:
                props = dict(event.properties) | {"fallback_of": "viber"}
                events.append(MessageEvent(ctx, event.status, event.at, properties=props))
        return events


def _final(result: SendResult) -> SendResult:
    """A fallback is not retried by the dispatcher: a temporary failure is its end too."""
    if result.outcome is Outcome.TEMPORARY:
        return SendResult(result.send_id, Outcome.PERMANENT, result.reason, None, result.detail)
    return result


def _contexts(conn: Any, workspace_id: str, send_ids: list[str]) -> dict[str, SendContext]:
    rows = conn.execute(
        "SELECT DISTINCT ON (send_id) send_id, contact_id, channel, campaign_id, message_id, tags"
        " FROM message_events WHERE workspace_id = ? AND list_contains(?, send_id)"
        ' ORDER BY send_id, "at"',
        [workspace_id, send_ids],
    ).fetchall()
    return {
        r[0]: SendContext(workspace_id, r[1], r[0], r[2], r[3], r[4], tuple(r[5] or ()))
        for r in rows
    }


async def fall_back(
    store: FallbackStore, send_ids: Sequence[str], reason: str, send_sms: SmsSender
) -> list[SendResult]:
    """Claim these sends' fallbacks and send their SMS; returns the SMS results."""
    claimed = await store.claim(send_ids, reason)
    results = []
    for row in claimed:
        message = SmsMessage(row.send_id, row.to, row.text, row.sender)
        try:
            results.append(await send_sms(row.sms_channel, message))
        except Exception as exc:  # an unusable SMS channel must still close the row
            failed = f"sms channel {row.sms_channel!r}: {type(exc).__name__}: {exc}"
            results.append(SendResult(row.send_id, Outcome.PERMANENT, failed, None, "no_channel"))
    await store.finish(claimed, results)
    return results


async def sweep(store: FallbackStore, send_sms: SmsSender, now: datetime | None = None) -> int:
    """Fall back every send whose Viber deadline has passed; returns how many were sent."""
    due = store.due(now or datetime.now(UTC))
    results = await fall_back(store, due, "not delivered on Viber within its TTL", send_sms)
    return sum(r.ok for r in results)
