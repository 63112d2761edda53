"""Send a batch of one email: gate → render + sign → SMTP → events, one result per request.

Nobody the gate blocks reaches the channel: their result is ``permanent`` with
``detail="suppressed"`` and their event is ``suppressed`` (with the reason). Every other
request becomes ``sent`` / ``bounced`` / ``failed``; a temporary result records nothing
(it is retried; see ``events.from_result``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import Composer, SendRequest
from retenta.messaging.email.render import CompiledEmail
from retenta.messaging.events import MessageEvent, SendContext, from_result, record
from retenta.messaging.gate import SendGate
from retenta.storage.base import Database


async def send_email_batch(
    *,
    db: Database,
    gate: SendGate,
    composer: Composer,
    channel: SmtpChannel,
    email: CompiledEmail,
    requests: Sequence[SendRequest],
    workspace_id: str,
    topic: str | None = None,
    message_id: str | None = None,
) -> list[SendResult]:
    decisions = gate.check(
        workspace_id,
        [r.recipient for r in requests],
        topic=topic,
        category=composer.profile.category,
    )
    results: dict[str, SendResult] = {}
    events: list[MessageEvent] = []
    allowed: list[SendRequest] = []
    now = datetime.now(UTC)
    for request, decision in zip(requests, decisions, strict=True):
        if decision.allowed:
            allowed.append(request)
            continue
        results[request.send_id] = SendResult(
            request.send_id, Outcome.PERMANENT, reason=decision.reason, detail="suppressed"
        )
        events.append(
            MessageEvent(_context(request, message_id), "suppressed", now,
                         properties={"reason": decision.reason})
        )  # fmt: skip
    prepared = composer.prepare_many(email, allowed)
    outgoing = [m for m in prepared if isinstance(m, OutgoingEmail)]
    results.update({m.send_id: m for m in prepared if isinstance(m, SendResult)})
    results.update({r.send_id: r for r in await channel.send(outgoing)})
    for request in allowed:
        event = from_result(_context(request, message_id), results[request.send_id])
        if event is not None:
            events.append(event)
    await record(db, events)
    return [results[r.send_id] for r in requests]


def _context(request: SendRequest, message_id: str | None) -> SendContext:
    return SendContext(
        workspace_id=request.recipient.workspace_id,
        contact_id=request.recipient.contact_id,
        send_id=request.send_id,
        channel="email",
        campaign_id=request.campaign_id or None,
        message_id=message_id,
    )
