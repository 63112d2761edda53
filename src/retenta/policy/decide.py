"""Allow, defer or drop one send under the policy — pure, in the contact's timezone.

Transactional messages are never held. Rules are checked in this order, and the first that
holds a message back names itself in the decision: quiet hours, fatigue, caps. A deferred
message gets the earliest time it would pass (the end of the quiet hours in the contact's
local time — on the right side of a daylight-saving change — or when a cap's window frees).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retenta.policy.rules import Cap, Fatigue, Policy, QuietHours


@dataclass(frozen=True, slots=True)
class Sent:
    """One earlier message to the contact."""

    channel: str
    category: str
    at: datetime
    opened: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # allow | defer | drop
    rule: str | None = None  # quiet_hours | fatigue | cap[0] ...
    reason: str = ""
    until: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Decision("allow")


def decide(policy: Policy, *, channel: str, category: str, at: datetime,
           timezone: str | None, history: Sequence[Sent]) -> Decision:  # fmt: skip
    if category == "transactional":
        return ALLOW
    zone = zone_of(timezone, policy.default_timezone)
    quiet = policy.quiet_hours
    if quiet is not None and channel in quiet.channels and category in quiet.categories:
        until = quiet_until(quiet, at, zone)
        if until is not None:
            local = f"{at.astimezone(zone):%H:%M} {zone.key}"
            return _hold(quiet.action, "quiet_hours", f"quiet hours at {local}", until)
    for number, rule in enumerate(policy.fatigue):
        if (
            channel == rule.channel
            and category in rule.categories
            and tired(rule, channel, history)
        ):
            reason = f"none of the last {rule.unopened} {channel} messages was opened"
            return Decision("drop", f"fatigue[{number}]", reason)
    for number, cap in enumerate(policy.caps):
        if channel != cap.channel or category not in cap.categories:
            continue
        counted, frees = cap_window(cap, at, zone, history)
        if counted >= cap.max:
            return _hold(cap.action, f"caps[{number}]",
                         f"{counted} of {cap.max} {channel} messages already sent "
                         f"{_window_text(cap)}", frees)  # fmt: skip
    return ALLOW


def _hold(action: str, rule: str, reason: str, until: datetime) -> Decision:
    return Decision(action, rule, reason, until if action == "defer" else None)


def zone_of(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_until(quiet: QuietHours, at: datetime, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours around ``at`` end (UTC), or ``None`` if ``at`` is not in them.

    >>> q = QuietHours(start=time(21), end=time(9))
    >>> kyiv = ZoneInfo("Europe/Kyiv")
    >>> quiet_until(q, datetime(2026, 1, 10, 20, 30, tzinfo=UTC), kyiv)  # 22:30 in Kyiv
    datetime.datetime(2026, 1, 11, 7, 0, tzinfo=datetime.timezone.utc)
    >>> quiet_until(q, datetime(2026, 1, 10, 12, 0, tzinfo=UTC), kyiv) is None
    True
    """
    local = at.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    spans_midnight = quiet.start > quiet.end
    inside = (
        (now >= quiet.start or now < quiet.end)
        if spans_midnight
        else (quiet.start <= now < quiet.end)
    )
    if not inside:
        return None
    day = (
        local.date() + timedelta(days=1) if spans_midnight and now >= quiet.start else local.date()
    )
    end = datetime.combine(day, quiet.end, tzinfo=zone)
    return end.astimezone(UTC)


def tired(rule: Fatigue, channel: str, history: Sequence[Sent]) -> bool:
    mine = [s for s in history if s.channel == channel and s.category in rule.categories]
    relevant = sorted(mine, key=lambda s: s.at)[-rule.unopened :]
    return len(relevant) == rule.unopened and not any(s.opened for s in relevant)


def cap_window(cap: Cap, at: datetime, zone: ZoneInfo, history: Sequence[Sent]
               ) -> tuple[int, datetime]:  # fmt: skip
    """How many counted messages are in the window, and when the window next frees up."""
    matching = sorted(
        s.at for s in history if s.channel == cap.channel and s.category in cap.categories
    )
    if cap.window == "rolling":
        start = at - cap.per.delta()
        inside = [t for t in matching if start < t <= at]
        frees = (
            (inside[len(inside) - cap.max] + cap.per.delta()) if len(inside) >= cap.max > 0 else at
        )
        return len(inside), frees if cap.max > 0 else at + cap.per.delta()
    local = at.astimezone(zone)
    first_day = local.date() - timedelta(days=local.weekday() if cap.window == "week" else 0)
    begin = datetime.combine(first_day, time(0), tzinfo=zone)
    next_begin = datetime.combine(first_day + timedelta(days=7 if cap.window == "week" else 1),
                                  time(0), tzinfo=zone)  # fmt: skip
    inside = [t for t in matching if begin.astimezone(UTC) <= t <= at]
    return len(inside), next_begin.astimezone(UTC)


def _window_text(cap: Cap) -> str:
    if cap.window == "rolling":
        return f"in the last {cap.per.amount} {cap.per.unit}"
    return f"this calendar {cap.window}"
