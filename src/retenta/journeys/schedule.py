"""Time-driven entries, pure: when a cron schedule or a date trait (birthday ± offset) is due.

Everything here is a function of its arguments (no clock, no storage): ``timed.py`` asks
which local occurrences fall in the window a tick covers, for each timezone its contacts
live in, and turns them into entries keyed by the occurrence's local date and time.

DST follows Debian cron (``cronsim``): a local time skipped by a spring-forward change fires
at the first minute after it (02:30 → 03:00); a time repeated by a fall-back change fires
once, at its first occurrence. A birthday on 29 February is celebrated on 28 February in
years that have no 29th.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim

MAX_OCCURRENCES = 10_000  # a guard: a window of one tick never holds this many


@lru_cache(maxsize=1024)
def usable_zone(name: str | None, fallback: str) -> str:
    """``name`` when it is a known IANA zone, else ``fallback``.

    >>> [usable_zone(name, "UTC") for name in ("Europe/Kyiv", "Nowhere/Land", None)]
    ['Europe/Kyiv', 'UTC', 'UTC']
    """
    if not name:
        return fallback
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback
    return name


def occurrence_key(local: datetime) -> str:
    """The identity of one local occurrence: its wall-clock date and minute.

    >>> occurrence_key(datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Kyiv")))
    '2026-03-02T09:00'
    """
    return local.strftime("%Y-%m-%dT%H:%M")


def cron_due(cron: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """The cron's local occurrences in ``zone`` whose moment lies in ``(after, until]``.

    >>> kyiv = cron_due("0 9 * * 1", "Europe/Kyiv", datetime(2026, 3, 1, tzinfo=UTC),
    ...                 datetime(2026, 3, 10, tzinfo=UTC))
    >>> [(occurrence_key(o), o.astimezone(UTC).hour) for o in kyiv]
    [('2026-03-02T09:00', 7), ('2026-03-09T09:00', 7)]
    """
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    seen: set[str] = set()
    for local in CronSim(cron, after.astimezone(tz)):
        moment = local.astimezone(UTC)
        if moment > until or len(found) >= MAX_OCCURRENCES:
            break
        key = occurrence_key(local)
        if moment > after and key not in seen:  # a repeated (fall-back) hour fires once
            seen.add(key)
            found.append(local)
    return found


def local_moment(day: date, at: time, zone: str) -> datetime:
    """``at`` on ``day`` in ``zone`` as a UTC moment; a wall time skipped by DST moves to the
    first minute after the change, a repeated one takes its first occurrence.

    >>> local_moment(date(2026, 3, 8), time(2, 30), "America/New_York").isoformat()
    '2026-03-08T07:00:00+00:00'
    >>> local_moment(date(2026, 11, 1), time(1, 30), "America/New_York").isoformat()
    '2026-11-01T05:30:00+00:00'
    """
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    while _imaginary(wall.replace(tzinfo=tz)):
        wall = (wall + timedelta(minutes=1)).replace(second=0)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _imaginary(local: datetime) -> bool:
    """Whether a wall time does not exist in its zone (skipped by a spring-forward change)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(
        tzinfo=None
    )


def fire_days(at: time, zone: str, after: datetime, until: datetime) -> list[tuple[date, datetime]]:
    """The local days whose ``at`` (in ``zone``) lies in ``(after, until]``, with that moment.

    >>> [(day.isoformat(), moment.isoformat()) for day, moment in fire_days(
    ...     time(9), "Europe/Kyiv", datetime(2026, 5, 17, 5, tzinfo=UTC),
    ...     datetime(2026, 5, 17, 7, tzinfo=UTC))]
    [('2026-05-17', '2026-05-17T06:00:00+00:00')]
    """
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date() + timedelta(days=1)
    out = []
    while day <= last:
        moment = local_moment(day, at, zone)
        if after < moment <= until:
            out.append((day, moment))
        day += timedelta(days=1)
    return out


def trait_date(fire_day: date, offset_days: int, direction: Literal["before", "after"]) -> date:
    """The trait date a fire day serves: "3 days before" fires on the 14th for the 17th.

    >>> trait_date(date(2026, 5, 14), 3, "before"), trait_date(date(2026, 5, 20), 3, "after")
    (datetime.date(2026, 5, 17), datetime.date(2026, 5, 17))
    """
    delta = timedelta(days=offset_days)
    return fire_day + delta if direction == "before" else fire_day - delta


def yearly_month_days(day: date) -> list[tuple[int, int]]:
    """The (month, day) pairs celebrated on ``day`` every year: 28 February also serves the
    29th in years without one.

    >>> yearly_month_days(date(2027, 2, 28)), yearly_month_days(date(2028, 2, 28))
    ([(2, 28), (2, 29)], [(2, 28)])
    """
    pairs = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        pairs.append((2, 29))
    return pairs
