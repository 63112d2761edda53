"""What an attempt's outcome does to its send (pure): final status, retry, or the next channel.

- accepted by the provider → ``sent`` (event ``sent``);
- blocked by consent or the suppression list → event ``suppressed``; the cascade's next
  channel, else final ``suppressed``;
- not possible on this channel (not configured, no address or subscription, no content for
  it) → the next channel, else final ``failed``;
- refused for good (permanent) → its event (``bounced`` / ``failed``); the next channel, else
  that final status;
- temporary → queued again after exponential backoff with jitter (or the provider's
  Retry-After, whichever is longer) until ``max_attempts``; then event ``failed`` and the
  next channel, else final ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.events import MessageEvent, from_result
from retenta.messaging.outbox.ledger import RetryPolicy, Send, Settlement
from retenta.messaging.outbox.model import retry_after_s

Kind = Literal["result", "blocked", "unavailable", "deferred", "dropped"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One send's attempt on its current channel."""

    send: Send
    kind: Kind
    result: SendResult | None = None  # kind "result"
    reason: str = ""  # kind "blocked" / "unavailable" / "deferred" / "dropped"
    until: datetime | None = None  # kind "deferred": when the contact policy lets it go
    versions_used: dict[str, int] | None = None
    revision: int | None = None
    properties: dict[str, str] = field(default_factory=dict)


def blocked(send: Send, reason: str) -> Attempt:
    return Attempt(send, "blocked", reason=reason)


def unavailable(send: Send, reason: str) -> Attempt:
    return Attempt(send, "unavailable", reason=reason)


def held(send: Send, action: str, reason: str, until: datetime | None) -> Attempt:
    """Held back by the contact policy: deferred to ``until``, or dropped."""
    return Attempt(send, "deferred" if action == "defer" else "dropped", reason=reason,
                   until=until)  # fmt: skip


def settle(attempt: Attempt, policy: RetryPolicy, now: datetime) -> Settlement:
    """The send's new state and events after ``attempt``."""
    send = attempt.send
    if attempt.kind == "deferred":  # not an attempt: the claim's count is given back
        return _settlement(attempt, "queued", send.cascade_index, send.channel,
                           next_attempt_at=attempt.until or now, attempts=send.attempts - 1,
                           last_error=attempt.reason)  # fmt: skip
    if attempt.kind == "dropped":
        event = MessageEvent(send.context(), "suppressed", now,
                             properties={"reason": attempt.reason})  # fmt: skip
        return _settlement(attempt, "suppressed", send.cascade_index, send.channel,
                           events=[event], last_error=attempt.reason)  # fmt: skip
    if attempt.kind == "blocked":
        event = MessageEvent(
            send.context(), "suppressed", now, properties={"reason": attempt.reason}
        )
        return _next_or_final(attempt, "suppressed", attempt.reason, [event], now)
    if attempt.kind == "unavailable":
        return _next_or_final(attempt, "failed", attempt.reason, [], now, final_event=True)
    result = attempt.result
    assert result is not None
    if result.outcome is Outcome.SENT:
        return _settlement(
            attempt,
            "sent",
            send.cascade_index,
            send.channel,
            events=[_event(attempt, result, now)],
            remote_id=result.remote_id,
        )
    if result.outcome is Outcome.PERMANENT:
        event = _event(attempt, result, now)
        return _next_or_final(attempt, event.status, result.reason, [event], now)
    if send.attempts < policy.max_attempts:
        due = policy.next_at(send.attempts, now, retry_after_s(result))
        return _settlement(
            attempt,
            "queued",
            send.cascade_index,
            send.channel,
            next_attempt_at=due,
            last_error=result.reason,
        )
    reason = f"gave up after {send.attempts} attempts: {result.reason}"
    event = MessageEvent(
        send.context(), "failed", now, properties={"reason": reason, "retries": "exhausted"}
    )
    return _next_or_final(attempt, "failed", reason, [event], now)


def _event(attempt: Attempt, result: SendResult, now: datetime) -> MessageEvent:
    event = from_result(attempt.send.context(), result, at=now)
    assert event is not None  # only temporary results have none
    if attempt.properties:
        return MessageEvent(
            event.send,
            event.status,
            event.at,
            event.machine,
            {**event.properties, **attempt.properties},
        )
    return event


def _next_or_final(
    attempt: Attempt,
    final_status: str,
    reason: str,
    events: list[MessageEvent],
    now: datetime,
    *,
    final_event: bool = False,
) -> Settlement:
    send = attempt.send
    following = send.cascade_index + 1
    if following < len(send.cascade):
        return _settlement(
            attempt,
            "queued",
            following,
            send.cascade[following],
            events=events,
            next_attempt_at=now,
            attempts=0,
            last_error=f"{send.channel}: {reason}",
        )
    if final_event:
        events = [
            *events,
            MessageEvent(send.context(), final_status, now, properties={"reason": reason}),
        ]
    return _settlement(
        attempt,
        final_status,
        send.cascade_index,
        send.channel,
        events=events,
        last_error=reason or None,
    )


def _settlement(
    attempt: Attempt,
    status: str,
    index: int,
    channel: str,
    *,
    events: list[MessageEvent] | None = None,
    next_attempt_at: datetime | None = None,
    last_error: str | None = None,
    remote_id: str | None = None,
    attempts: int | None = None,
) -> Settlement:
    return Settlement(
        send_id=attempt.send.send_id,
        status=status,
        channel=channel,
        cascade_index=index,
        next_attempt_at=next_attempt_at,
        last_error=last_error,
        remote_id=remote_id,
        versions_used=attempt.versions_used,
        message_revision=attempt.revision,
        attempts=attempts,
        events=tuple(events or ()),
    )
