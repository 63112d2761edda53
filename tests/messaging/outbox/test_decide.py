"""What an attempt's outcome does to its send (pure): retry, final, or the next channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.outbox.decide import Attempt, blocked, settle, unavailable
from retenta.messaging.outbox.ledger import RetryPolicy, Send

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_s=60, cap_s=3600)


def send(
    attempts: int = 1, cascade: tuple[str, ...] = ("push", "email", "sms"), index: int = 0
) -> Send:
    return Send(
        "snd_1",
        "ws_1",
        7,
        cascade[index],
        cascade,
        index,
        "msg_1",
        "promo",
        None,
        None,
        None,
        {},
        attempts,
    )


def result(outcome: Outcome, **kw: object) -> Attempt:
    return Attempt(send(**kw), "result", result=SendResult("snd_1", outcome, "why", 451))  # type: ignore[arg-type]


def test_sent_is_final() -> None:
    done = settle(
        Attempt(
            send(), "result", result=SendResult("snd_1", Outcome.SENT, "ok", 250, remote_id="Q1")
        ),
        POLICY,
        NOW,
    )
    assert (done.status, done.remote_id, [e.status for e in done.events]) == (
        "sent",
        "Q1",
        ["sent"],
    )


def test_temporary_backs_off_then_moves_down_the_cascade() -> None:
    first = settle(result(Outcome.TEMPORARY, attempts=1), POLICY, NOW)
    assert first.status == "queued"
    assert first.channel == "push"
    assert first.events == ()
    assert first.next_attempt_at is not None
    assert NOW + timedelta(seconds=30) <= first.next_attempt_at <= NOW + timedelta(seconds=60)
    exhausted = settle(result(Outcome.TEMPORARY, attempts=3), POLICY, NOW)
    assert (exhausted.status, exhausted.channel, exhausted.cascade_index) == ("queued", "email", 1)
    assert exhausted.attempts == 0  # the next channel starts afresh
    assert exhausted.next_attempt_at == NOW
    assert [e.properties.get("retries") for e in exhausted.events] == ["exhausted"]


def test_a_provider_retry_after_longer_than_the_backoff_wins() -> None:
    wait = Attempt(
        send(), "result", result=SendResult("snd_1", Outcome.TEMPORARY, "429; retry-after=900")
    )
    due = settle(wait, POLICY, NOW).next_attempt_at
    assert due == NOW + timedelta(seconds=900)


def test_permanent_moves_on_and_the_last_channel_is_final() -> None:
    moved = settle(result(Outcome.PERMANENT), POLICY, NOW)
    assert (moved.status, moved.channel) == ("queued", "email")
    assert [e.status for e in moved.events] == ["bounced"]
    last = settle(result(Outcome.PERMANENT, index=2), POLICY, NOW)
    assert (last.status, last.channel) == ("bounced", "sms")


def test_blocked_and_unavailable() -> None:
    suppressed = settle(blocked(send(index=2), "no_consent"), POLICY, NOW)
    assert suppressed.status == "suppressed"
    assert [(e.status, e.properties["reason"]) for e in suppressed.events] == [
        ("suppressed", "no_consent")
    ]
    skipped = settle(unavailable(send(), "web push is not configured"), POLICY, NOW)
    assert (skipped.status, skipped.channel, skipped.events) == ("queued", "email", ())
    assert skipped.last_error == "push: web push is not configured"
    final = settle(unavailable(send(index=2), "no phone"), POLICY, NOW)
    assert final.status == "failed"
    assert [e.status for e in final.events] == ["failed"]
