"""Send a batch of one email: gate → render + sign → SMTP → events, one result per request.

Nobody the gate blocks reaches the channel: their result is ``permanent`` with
``detail="suppressed"`` and their event is ``suppressed`` (with the reason). Every other
request becomes ``sent`` / ``bounced`` / ``failed``; a temporary result records nothing
(it is retried; see ``events.from_result``).

With a ``promo`` pool, each allowed contact is issued one code of the pool for this
message (the same code if the batch is sent again) as the template variable
``promo_code``; a contact the pool has no code left for fails with
``detail="promo_exhausted"`` rather than getting an email without its code.

A synchronous hard bounce (the receiving server refuses the mailbox itself: enhanced
codes 5.1.x, 5.2.1) puts the address on the suppression list at once; a policy refusal
(5.7.x: spam, reputation) does not, because the address is fine.

This is the direct path (no ledger): the consent benchmark and callers that hold their own
requests use it. Sends that must survive a crash go through the sends ledger and the
dispatcher (``outbox/``), whose email step (``outbox/steps.EmailStep``) does the same gate →
compose → SMTP with a durable handover record before each message and settles the results
with their events; it shares :func:`hard_bounce` and :func:`hard_bounce_entries` from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import Composer, SendRequest
from retenta.messaging.email.render import CompiledEmail
from retenta.messaging.events import MessageEvent, SendContext, from_result, record
from retenta.messaging.gate import SendGate
from retenta.messaging.promo_store import Claim, PromoStore
from retenta.messaging.suppression import Entry
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
    promo: tuple[PromoStore, str] | None = None,
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
    if promo is not None:
        allowed = await _with_codes(promo, workspace_id, message_id, allowed, results)
    prepared = composer.prepare_many(email, allowed)
    outgoing = [m for m in prepared if isinstance(m, OutgoingEmail)]
    results.update({m.send_id: m for m in prepared if isinstance(m, SendResult)})
    results.update({r.send_id: r for r in await channel.send(outgoing)})
    for request in requests:
        if request.send_id not in results or _blocked(results[request.send_id]):
            continue
        event = from_result(_context(request, message_id), results[request.send_id])
        if event is not None:
            events.append(event)
    await record(db, events)
    address_of = {r.send_id: r.recipient.address for r in allowed}
    bounced = hard_bounce_entries([results[r.send_id] for r in allowed], address_of)
    if bounced:
        await gate.suppressions.add(workspace_id, bounced)
    return [results[r.send_id] for r in requests]


def hard_bounce_entries(
    results: Iterable[SendResult], address_of: Mapping[str, str]
) -> list[Entry]:
    """Suppression-list entries for the synchronous hard bounces among ``results`` (this
    direct path and the dispatcher's email step both put them on the list at once)."""
    return [
        Entry("email", address_of[r.send_id], "hard_bounce", "smtp", r.send_id)
        for r in results
        if hard_bounce(r) and address_of.get(r.send_id)
    ]


def hard_bounce(result: SendResult) -> bool:
    """A permanent refusal of the mailbox itself (not of this message).

    >>> from retenta.messaging.channels.base import Outcome
    >>> hard_bounce(SendResult("s", Outcome.PERMANENT, code=550, detail="5.1.1"))
    True
    >>> hard_bounce(SendResult("s", Outcome.PERMANENT, code=554, detail="5.7.1"))
    False
    """
    if result.outcome is not Outcome.PERMANENT or result.code is None or not result.detail:
        return False
    return result.detail.startswith("5.1.") or result.detail == "5.2.1"


def _blocked(result: SendResult) -> bool:
    return result.detail == "suppressed"


async def _with_codes(
    promo: tuple[PromoStore, str],
    workspace_id: str,
    message_id: str | None,
    requests: list[SendRequest],
    results: dict[str, SendResult],
) -> list[SendRequest]:
    """The requests with ``promo_code`` set; those left without a code fail in ``results``."""
    if message_id is None:
        raise ValueError("a send with promo codes needs its message_id (one code per message)")
    store, pool_id = promo
    claims = [Claim(r.recipient.contact_id, r.send_id) for r in requests]
    codes = await store.aissue(workspace_id, pool_id, message_id, claims)
    out = []
    for request in requests:
        code = codes.get(request.recipient.contact_id)
        if code is None:
            results[request.send_id] = SendResult(
                request.send_id, Outcome.PERMANENT, reason=f"promo pool {pool_id} has no code left",
                detail="promo_exhausted",
            )  # fmt: skip
            continue
        out.append(replace(request, variables={**request.variables, "promo_code": code}))
    return out


def _context(request: SendRequest, message_id: str | None) -> SendContext:
    return SendContext(
        workspace_id=request.recipient.workspace_id,
        contact_id=request.recipient.contact_id,
        send_id=request.send_id,
        channel="email",
        campaign_id=request.campaign_id or None,
        message_id=message_id,
    )
