"""Counting limits — the workspace's caps and each contact's own frequency — in the
contact's timezone, with the slots that pending higher-priority messages reserve.

A :class:`Limit` is one "at most N per window" rule, whatever its source. Its window holds
what was sent (``history``), what this batch already allowed, and what is ``ahead``: a
queued message due soon that has first claim on a slot (pre-emption, ``decide.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from retenta.policy.rules import Cap, Period, Policy


@dataclass(frozen=True, slots=True)
class Sent:
    """One message to the contact: sent, allowed in this batch, or queued ahead.

    ``priority`` is set for the messages of this batch and those ahead (they may displace a
    lower-priority one); it is ``None`` for history, which is never undone.
    """

    channel: str
    category: str
    at: datetime
    opened: bool = False
    send_id: str | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``max`` messages on ``channels`` of ``categories`` per window."""

    rule: str  # caps[0] | preferences.weekly
    channels: frozenset[str]
    categories: frozenset[str]
    max: int
    window: str  # rolling | day | week
    per: Period
    action: str  # defer | drop
    origin: str  # the words a reason starts with

    def counts(self, sent: Sent) -> bool:
        return sent.channel in self.channels and sent.category in self.categories

    def text(self) -> str:
        if self.window == "rolling":
            return f"in the last {self.per.amount} {self.per.unit}"
        return f"this calendar {self.window}"


def limits_for(policy: Policy, *, channel: str, category: str,
               frequency: str | None) -> list[Limit]:  # fmt: skip
    """The limits a send on ``channel`` of ``category`` must fit: the contact's own
    frequency first, then the workspace's caps, in their order.

    >>> p = Policy.model_validate({"caps": [{"channel": "sms", "max": 1}]})
    >>> [x.rule for x in limits_for(p, channel="email", category="promo", frequency="weekly")]
    ['preferences.weekly']
    """
    out: list[Limit] = []
    prefs = policy.preferences
    chosen = prefs.frequencies.get(frequency) if frequency in ("weekly", "monthly") else None  # type: ignore[call-overload]
    if (
        prefs.enabled
        and chosen is not None
        and channel in prefs.channels
        and category in prefs.categories
    ):
        out.append(Limit(f"preferences.{frequency}", frozenset(prefs.channels),
                         frozenset(prefs.categories), chosen.max, chosen.window, chosen.per,
                         prefs.action, f"the contact chose {frequency} messages:"))  # fmt: skip
    for number, cap in enumerate(policy.caps):
        if cap.channel == channel and category in cap.categories:
            out.append(_from_cap(number, cap))
    return out


def _from_cap(number: int, cap: Cap) -> Limit:
    origin = f"at most {cap.max} {cap.channel}:"
    return Limit(f"caps[{number}]", frozenset({cap.channel}), frozenset(cap.categories),
                 cap.max, cap.window, cap.per, cap.action, origin)  # fmt: skip


def window(limit: Limit, at: datetime, zone: ZoneInfo, history: Sequence[Sent],
           ahead: Sequence[Sent] = ()) -> tuple[list[Sent], datetime]:  # fmt: skip
    """The messages counted in the window a send at ``at`` falls in, oldest first, and
    when that window next has room.

    ``ahead`` are messages due later that have first claim: they count when they fall in
    the same window (rolling: always, the horizon being short; calendar: the same day or
    week in the contact's timezone).
    """
    past = [s for s in history if limit.counts(s)]
    coming = [s for s in ahead if limit.counts(s)]
    if limit.window == "rolling":
        start = at - limit.per.delta()
        inside = sorted([s for s in past if start < s.at <= at] + coming, key=lambda s: s.at)
        return inside, _rolling_frees(limit, inside, at)
    begin, next_begin = calendar_window(limit.window, at, zone)
    inside = [s for s in past if begin <= s.at <= at] + [s for s in coming if s.at < next_begin]
    return sorted(inside, key=lambda s: s.at), next_begin


def _rolling_frees(limit: Limit, inside: list[Sent], at: datetime) -> datetime:
    if limit.max == 0:
        return at + limit.per.delta()
    if len(inside) < limit.max:
        return at
    return inside[len(inside) - limit.max].at + limit.per.delta()


def calendar_window(kind: str, at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The contact's local calendar ``day`` or ``week`` (from Monday) around ``at``, in UTC.

    >>> kyiv = ZoneInfo("Europe/Kyiv")  # the clocks go back at 04:00 on 25 October 2026
    >>> begin, end = calendar_window("day", datetime(2026, 10, 25, 12, tzinfo=UTC), kyiv)
    >>> begin.isoformat(), end.isoformat(), (end - begin) // timedelta(hours=1)
    ('2026-10-24T21:00:00+00:00', '2026-10-25T22:00:00+00:00', 25)
    """
    local = at.astimezone(zone)
    days = 7 if kind == "week" else 1
    first_day = local.date() - timedelta(days=local.weekday() if kind == "week" else 0)
    begin = datetime.combine(first_day, time(0), tzinfo=zone)
    next_begin = datetime.combine(first_day + timedelta(days=days), time(0), tzinfo=zone)
    return begin.astimezone(UTC), next_begin.astimezone(UTC)
