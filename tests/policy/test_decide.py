"""The contact policy: quiet hours, caps and fatigue across timezones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.policy.decide import Sent, decide
from retenta.policy.rules import Policy

QUIET = Policy.model_validate({"quiet_hours": {"start": "21:00", "end": "09:00"}})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_transactional_is_never_held() -> None:
    decision = decide(QUIET, channel="sms", category="transactional", at=at("2026-01-10T23:00"),
                      timezone="Europe/Kyiv", history=[])  # fmt: skip
    assert decision.allowed


def test_quiet_hours_in_the_contacts_timezone() -> None:
    instant = at("2026-01-10T20:30")  # 22:30 in Kyiv, 15:30 in New York
    kyiv = decide(QUIET, channel="sms", category="promo", at=instant, timezone="Europe/Kyiv",
                  history=[])  # fmt: skip
    new_york = decide(QUIET, channel="sms", category="promo", at=instant,
                      timezone="America/New_York", history=[])  # fmt: skip
    assert (kyiv.action, kyiv.rule, kyiv.until) == ("defer", "quiet_hours", at("2026-01-11T07:00"))
    assert "22:30 Europe/Kyiv" in kyiv.reason
    assert new_york.allowed


def test_quiet_hours_across_the_spring_dst_change() -> None:
    # Kyiv moves from UTC+2 to UTC+3 at 03:00 on 29 March 2026: 09:00 local is 06:00 UTC
    decision = decide(QUIET, channel="push", category="trigger", at=at("2026-03-28T21:00"),
                      timezone="Europe/Kyiv", history=[])  # fmt: skip
    assert decision.until == at("2026-03-29T06:00")
    autumn = decide(QUIET, channel="push", category="trigger", at=at("2026-10-24T20:00"),
                    timezone="Europe/Kyiv", history=[])  # fmt: skip
    assert autumn.until == at("2026-10-25T07:00")  # back to UTC+2 on 25 October


def test_quiet_hours_can_drop_and_only_apply_to_their_channels() -> None:
    policy = Policy.model_validate(
        {"quiet_hours": {"start": "13:00", "end": "14:00", "channels": ["sms"], "action": "drop"}}
    )
    noon = at("2026-05-05T13:30")
    dropped = decide(policy, channel="sms", category="promo", at=noon, timezone=None, history=[])
    assert (dropped.action, dropped.until) == ("drop", None)
    email = decide(policy, channel="email", category="promo", at=noon, timezone=None, history=[])
    assert email.allowed


def test_fatigue() -> None:
    policy = Policy.model_validate({"fatigue": [{"channel": "email", "unopened": 3}]})
    t = at("2026-05-05T10:00")
    unopened = [Sent("email", "promo", t - timedelta(days=d)) for d in (1, 2, 3)]
    tired = decide(policy, channel="email", category="promo", at=t, timezone=None,
                   history=unopened)  # fmt: skip
    assert (tired.action, tired.rule) == ("drop", "fatigue[0]")
    opened_one = [*unopened[:2], Sent("email", "promo", t - timedelta(days=3), opened=True)]
    assert decide(policy, channel="email", category="promo", at=t, timezone=None,
                  history=opened_one).allowed  # fmt: skip
    assert decide(policy, channel="email", category="trigger", at=t, timezone=None,
                  history=unopened).allowed  # only promo tires  # fmt: skip


def test_rolling_and_calendar_caps() -> None:
    rolling = Policy.model_validate({"caps": [{"channel": "email", "max": 2,
                                               "per": {"amount": 7, "unit": "days"}}]})  # fmt: skip
    t = at("2026-05-05T10:00")
    sent = [
        Sent("email", "promo", t - timedelta(days=6)),
        Sent("email", "trigger", t - timedelta(days=1)),
        Sent("email", "transactional", t - timedelta(hours=1)),  # never counted
        Sent("sms", "promo", t),  # another channel
    ]
    held = decide(rolling, channel="email", category="promo", at=t, timezone=None, history=sent)
    assert (held.action, held.rule, held.until) == ("defer", "caps[0]", t + timedelta(days=1))
    daily = Policy.model_validate({"caps": [{"channel": "sms", "max": 1, "window": "day"}]})
    # 23:30 in Kyiv yesterday (21:30 UTC) does not count against today (local)
    last_night = [Sent("sms", "promo", at("2026-01-09T21:30"))]
    morning = at("2026-01-10T08:00")
    assert decide(daily, channel="sms", category="promo", at=morning, timezone="Europe/Kyiv",
                  history=last_night).allowed  # fmt: skip
    today = [Sent("sms", "promo", at("2026-01-10T07:00"))]
    again = decide(daily, channel="sms", category="promo", at=morning, timezone="Europe/Kyiv",
                   history=today)  # fmt: skip
    assert again.until == at("2026-01-10T22:00")  # local midnight in Kyiv


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=14 * 24), max_size=12),
    cap=st.integers(min_value=1, max_value=5),
    days=st.integers(min_value=1, max_value=7),
)
def test_a_deferred_send_passes_the_cap_at_its_time(
    offsets: list[int], cap: int, days: int
) -> None:
    rule = {"channel": "email", "max": cap, "per": {"amount": days, "unit": "days"}}
    policy = Policy.model_validate({"caps": [rule]})
    now = at("2026-05-05T10:00")
    history = [Sent("email", "promo", now - timedelta(hours=h)) for h in offsets]
    first = decide(policy, channel="email", category="promo", at=now, timezone=None,
                   history=history)  # fmt: skip
    in_window = sum(1 for h in offsets if timedelta(hours=h) < timedelta(days=days))
    assert first.allowed == (in_window < cap)
    if not first.allowed:
        assert first.until is not None
        assert first.until > now
        later = decide(policy, channel="email", category="promo", at=first.until,
                       timezone=None, history=history)  # fmt: skip
        assert later.allowed
