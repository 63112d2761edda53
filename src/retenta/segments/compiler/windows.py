"""Time windows as UTC bounds computed from the bound ``now`` (pure and deterministic).

A window is ``[lo, hi]`` where either side may be open (None); ``hi_inclusive`` says
whether ``hi`` itself is in. ``last`` and ``this`` end at ``now`` (inclusive); ``between``
and ``calendar`` are half-open ``[from, to)``; ``ever`` is unbounded; ``since_first_order``
is relative to each contact and handled by the leaf builders (its bounds here are open).
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Bounds:
    lo: datetime | None
    hi: datetime | None
    hi_inclusive: bool = True

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` falls in the window (the reference evaluator uses this)."""
        if self.lo is not None and at < self.lo:
            return False
        if self.hi is None:
            return True
        return at <= self.hi if self.hi_inclusive else at < self.hi


def utc(value: date | datetime | str) -> datetime:
    """A date, naive or aware timestamp, or ISO text as an aware UTC timestamp.

    >>> utc("2026-09-01") == utc("2026-09-01T03:00:00+03:00")
    True
    >>> utc("2026-09-01").isoformat()
    '2026-09-01T00:00:00+00:00'
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def minus_months(at: datetime, months: int) -> datetime:
    """``at`` moved back whole calendar months, the day clamped to the month's length.

    >>> minus_months(datetime(2026, 3, 31, tzinfo=UTC), 1).date()
    datetime.date(2026, 2, 28)
    """
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    day = min(at.day, monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


UNIT_DELTAS = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
    "weeks": timedelta(weeks=1),
}


def ago(now: datetime, amount: int, unit: str) -> datetime:
    if unit == "months":
        return minus_months(now, amount)
    return now - UNIT_DELTAS[unit] * amount


def ahead(now: datetime, amount: int, unit: str) -> datetime:
    if unit == "months":
        return minus_months(now, -amount)
    return now + UNIT_DELTAS[unit] * amount


def start_of(now: datetime, unit: str) -> datetime:
    """Start of the current day / ISO week (Monday) / month / year.

    >>> start_of(datetime(2026, 11, 28, 15, 30, tzinfo=UTC), "week").isoformat()
    '2026-11-23T00:00:00+00:00'
    """
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def calendar_month(now: datetime, month: int, year: int | None) -> tuple[datetime, datetime]:
    """``[start, end)`` of a month: of ``year``, else the latest one that has started.

    >>> [d.date().isoformat() for d in calendar_month(datetime(2026, 3, 5, tzinfo=UTC), 9, None)]
    ['2025-09-01', '2025-10-01']
    """
    if year is None:
        year = now.year if month <= now.month else now.year - 1
    start = datetime(year, month, 1, tzinfo=UTC)
    return start, minus_months(start, -1)


def bounds(window: Any, now: datetime) -> Bounds:
    """The window's bounds at ``now`` (``now`` must be aware)."""
    kind = window.kind
    if kind == "last":
        return Bounds(ago(now, window.amount, window.unit), now)
    if kind == "this":
        return Bounds(start_of(now, window.unit), now)
    if kind == "between":
        return Bounds(utc(window.from_), utc(window.to), hi_inclusive=False)
    if kind == "calendar":
        lo, hi = calendar_month(now, window.month, window.year)
        return Bounds(lo, hi, hi_inclusive=False)
    return Bounds(None, None)
