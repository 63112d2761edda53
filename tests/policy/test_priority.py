"""Priorities, pure: a batch is decided highest priority first, a queued higher-priority
message due soon has first claim on a slot, and every pre-emption names its displacer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from retenta.policy.decide import decide
from retenta.policy.gate import Batch
from retenta.policy.limits import Sent
from retenta.policy.rules import Policy

NOW = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)
ONE_EMAIL_A_DAY = {"caps": [{"channel": "email", "max": 1, "per": {"amount": 1, "unit": "days"}}]}


@dataclass(frozen=True)
class Claimed:
    send_id: str
    contact_id: int
    category: str
    campaign_id: str | None = None


def batch(policy: dict[str, object], *, ahead: list[Sent] | None = None,
          history: list[Sent] | None = None) -> Batch:  # fmt: skip
    return Batch(Policy.model_validate(policy), "email", NOW, {1: "Europe/Kyiv"}, {},
                 {1: list(history or [])}, {1: list(ahead or [])})  # fmt: skip


def test_a_trigger_beside_a_promo_in_one_batch_takes_the_last_slot() -> None:
    sends = [Claimed("snd_promo", 1, "promo"), Claimed("snd_trigger", 1, "trigger")]
    allowed, held = batch(ONE_EMAIL_A_DAY).decide_all(sends)
    assert [s.send_id for s in allowed] == ["snd_trigger"]
    [(promo, decision)] = held
    assert (promo.send_id, decision.action, decision.rule) == ("snd_promo", "defer", "caps[0]")
    assert decision.displaced_by == "snd_trigger"
    assert decision.reason.startswith("pre-empted by snd_trigger (trigger, priority 200 > 100)")
    assert decision.until == NOW + timedelta(days=1)


def test_a_queued_trigger_due_soon_reserves_its_slot() -> None:
    due = NOW + timedelta(minutes=5)
    trigger = Sent("email", "trigger", due, send_id="snd_cart", priority=200)
    allowed, held = batch(ONE_EMAIL_A_DAY, ahead=[trigger]).decide_all(
        [Claimed("snd_promo", 1, "promo")]
    )
    assert allowed == []
    [(_, decision)] = held
    assert decision.displaced_by == "snd_cart"
    assert decision.until == due + timedelta(days=1)  # the day after the trigger's slot


def test_a_lower_or_equal_priority_message_ahead_reserves_nothing() -> None:
    ahead = [Sent("email", "promo", NOW + timedelta(minutes=1), send_id="snd_p2", priority=100)]
    allowed, held = batch(ONE_EMAIL_A_DAY, ahead=ahead).decide_all([Claimed("snd_t", 1, "trigger")])
    assert [s.send_id for s in allowed] == ["snd_t"]
    assert held == []
    allowed, _ = batch(ONE_EMAIL_A_DAY, ahead=ahead).decide_all([Claimed("snd_p1", 1, "promo")])
    assert [s.send_id for s in allowed] == ["snd_p1"]


def test_what_was_already_sent_is_never_pre_empted_and_is_not_a_displacer() -> None:
    sent = [Sent("email", "promo", NOW - timedelta(hours=2))]
    allowed, held = batch(ONE_EMAIL_A_DAY, history=sent).decide_all(
        [Claimed("snd_t", 1, "trigger")]
    )
    assert allowed == []
    assert (held[0][1].rule, held[0][1].displaced_by) == ("caps[0]", None)


def test_equal_priorities_keep_the_claim_order_and_displace_nobody() -> None:
    sends = [Claimed("snd_a", 1, "promo"), Claimed("snd_b", 1, "promo")]
    allowed, held = batch(ONE_EMAIL_A_DAY).decide_all(sends)
    assert [s.send_id for s in allowed] == ["snd_a"]
    assert held[0][1].displaced_by is None
    assert not held[0][1].reason.startswith("pre-empted")


def test_a_campaign_override_outranks_a_trigger() -> None:
    policy = {**ONE_EMAIL_A_DAY, "priorities": {"overrides": {"cmp_flash": 250}}}
    sends = [Claimed("snd_t", 1, "trigger", "jny_cart"), Claimed("snd_f", 1, "promo", "cmp_flash")]
    allowed, held = batch(policy).decide_all(sends)
    assert [s.send_id for s in allowed] == ["snd_f"]
    assert held[0][1].displaced_by == "snd_f"
    assert "priority 250 > 200" in held[0][1].reason


def test_the_pre_empted_message_can_be_dropped_instead() -> None:
    policy = {**ONE_EMAIL_A_DAY, "preemption": {"action": "drop"}}
    trigger = Sent("email", "trigger", NOW, send_id="snd_t", priority=200)
    _, held = batch(policy, ahead=[trigger]).decide_all([Claimed("snd_p", 1, "promo")])
    assert (held[0][1].action, held[0][1].until, held[0][1].rule) == ("drop", None, "caps[0]")


def test_pre_emption_off_means_first_come_first_served() -> None:
    policy = {**ONE_EMAIL_A_DAY, "preemption": {"enabled": False}}
    sends = [Claimed("snd_promo", 1, "promo"), Claimed("snd_trigger", 1, "trigger")]
    allowed, held = batch(policy).decide_all(sends)
    assert [s.send_id for s in allowed] == ["snd_promo"]
    assert held[0][1].displaced_by is None


def test_a_calendar_cap_only_reserves_inside_the_contacts_day() -> None:
    policy = Policy.model_validate({"caps": [{"channel": "sms", "max": 1, "window": "day"}]})
    late = datetime(2026, 1, 10, 21, 50, tzinfo=UTC)  # 23:50 in Kyiv
    tomorrow = Sent("sms", "trigger", late + timedelta(minutes=12), send_id="snd_t", priority=200)
    tonight = Sent("sms", "trigger", late + timedelta(minutes=8), send_id="snd_t", priority=200)
    args = {"channel": "sms", "category": "promo", "at": late, "timezone": "Europe/Kyiv",
            "history": []}  # fmt: skip
    assert decide(policy, **args, ahead=[tomorrow]).allowed  # type: ignore[arg-type]
    held = decide(policy, **args, ahead=[tonight])  # type: ignore[arg-type]
    assert (held.displaced_by, held.until) == ("snd_t", datetime(2026, 1, 10, 22, 0, tzinfo=UTC))


def test_transactional_is_never_held_even_by_a_higher_override() -> None:
    policy = Policy.model_validate({**ONE_EMAIL_A_DAY, "priorities": {"transactional": 0}})
    ahead = [Sent("email", "trigger", NOW, send_id="snd_t", priority=200)]
    assert decide(policy, channel="email", category="transactional", at=NOW, timezone=None,
                  history=[], ahead=ahead).allowed  # fmt: skip
