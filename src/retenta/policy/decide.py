"""Allow, defer or drop one send under the policy — pure, in the contact's timezone.

Transactional messages are never held. Rules are checked in this order, and the first that
holds a message back names itself in the decision: quiet hours, fatigue, the contact's own
frequency (preference centre), the workspace's caps. A deferred message gets the earliest
time it would pass (the end of the quiet hours in the contact's local time — on the right
side of a daylight-saving change — or when a limit's window frees).

Pre-emption: a limit counts the higher-priority messages allowed earlier in the batch and
those queued ``ahead`` (due within the horizon). When the send would have fitted without
them, it was displaced: the decision names the message that took its slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retenta.policy.limits import Limit, Sent, limits_for, window
from retenta.policy.rules import Fatigue, Policy, QuietHours

__all__ = ["ALLOW", "Decision", "Sent", "decide", "quiet_until", "tired", "zone_of"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # allow | defer | drop
    rule: str | None = None  # quiet_hours | fatigue[0] | preferences.weekly | caps[0] ...
    reason: str = ""
    until: datetime | None = None
    displaced_by: str | None = None  # the higher-priority send that took the slot

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Decision("allow")


def decide(policy: Policy, *, channel: str, category: str, at: datetime,
           timezone: str | None, history: Sequence[Sent], priority: int | None = None,
           frequency: str | None = None, ahead: Sequence[Sent] = ()) -> Decision:  # fmt: skip
    """The decision for one send; ``priority`` defaults to its category's."""
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
        if channel == rule.channel and category in rule.categories and tired(rule, history):
            reason = f"none of the last {rule.unopened} {channel} messages was opened"
            return Decision("drop", f"fatigue[{number}]", reason)
    mine = policy.priorities.of(category, None) if priority is None else priority
    first_claim = [s for s in ahead if s.priority is not None and s.priority > mine]
    for limit in limits_for(policy, channel=channel, category=category, frequency=frequency):
        decision = _fit(policy, limit, mine, at, zone, history, first_claim)
        if decision is not None:
            return decision
    return ALLOW


def _fit(policy: Policy, limit: Limit, mine: int, at: datetime, zone: ZoneInfo,
         history: Sequence[Sent], ahead: Sequence[Sent]) -> Decision | None:  # fmt: skip
    """``None`` when the send fits ``limit``; else the hold, naming a displacing send."""
    counted, frees = window(limit, at, zone, history, ahead)
    if len(counted) < limit.max:
        return None
    over = f"{len(counted)} of {limit.max} already sent or due {limit.text()}"
    rivals = [s for s in counted if s.priority is not None and s.priority > mine]
    if not rivals or len(counted) - len(rivals) >= limit.max:
        return _hold(limit.action, limit.rule, f"{limit.origin} {over}", frees)
    first = min(rivals, key=lambda s: (-(s.priority or 0), s.at, s.send_id or ""))
    action = policy.preemption.action
    reason = (f"pre-empted by {first.send_id} ({first.category}, priority {first.priority} "
              f"> {mine}); {limit.origin} {over}")  # fmt: skip
    held = _hold(limit.action if action == "rule" else action, limit.rule, reason, frees)
    return Decision(held.action, held.rule, held.reason, held.until, first.send_id)


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

    >>> from datetime import time
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


def tired(rule: Fatigue, history: Sequence[Sent]) -> bool:
    """None of the last ``rule.unopened`` messages on the channel was opened."""
    mine = [s for s in history if s.channel == rule.channel and s.category in rule.categories]
    relevant = sorted(mine, key=lambda s: s.at)[-rule.unopened :]
    return len(relevant) == rule.unopened and not any(s.opened for s in relevant)
