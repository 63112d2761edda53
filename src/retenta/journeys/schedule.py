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
from functools import cache, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim

MAX_OCCURRENCES = 10_000  # a guard: a window of one tick never holds this many


@cache
def tz_of(name: str) -> ZoneInfo:
    """The zone object, kept (``ZoneInfo`` keeps only 8 strongly; 600 would reload files)."""
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def world_zones() -> frozenset[str]:
    """Every IANA zone this machine knows: a contact's zone is one of these or the fallback."""
    return frozenset(available_timezones()) | {"UTC"}


@lru_cache(maxsize=1024)
def usable_zone(name: str | None, fallback: str) -> str:
    """``name`` when it is a known IANA zone, else ``fallback``.

    >>> [usable_zone(name, "UTC") for name in ("Europe/Kyiv", "Nowhere/Land", None)]
    ['Europe/Kyiv', 'UTC', 'UTC']
    """
    return name if name and name in world_zones() else fallback


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
    tz = tz_of(zone)
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
    tz = tz_of(zone)
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
    tz = tz_of(zone)
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


def cron_next(cron: str, zone: str, after: datetime) -> datetime:
    """The cron's first moment (UTC) after ``after`` in ``zone``.

    >>> cron_next("0 9 * * 1", "Europe/Kyiv", datetime(2026, 3, 1, tzinfo=UTC)).isoformat()
    '2026-03-02T07:00:00+00:00'
    """
    for local in CronSim(cron, after.astimezone(tz_of(zone))):
        moment = local.astimezone(UTC)
        if moment > after:
            return moment
    raise ValueError("a cron expression without occurrences")  # pragma: no cover


def fire_next(at: time, zone: str, after: datetime) -> datetime:
    """The first moment after ``after`` whose wall clock in ``zone`` reads ``at``.

    >>> fire_next(time(9), "America/New_York", datetime(2026, 3, 8, 14, tzinfo=UTC)).isoformat()
    '2026-03-09T13:00:00+00:00'
    """
    day = after.astimezone(tz_of(zone)).date() - timedelta(days=1)
    while (moment := local_moment(day, at, zone)) <= after:
        day += timedelta(days=1)
    return moment


def zone_classes(zones: frozenset[str] | set[str], after: datetime, horizon: timedelta
                 ) -> list[str]:  # fmt: skip
    """One zone for each group that keeps the same wall clock over ``(after, after + horizon]``:
    the same offset at both ends and, when it changes, the change at the same minute. Asking a
    representative of each group when a wall time comes is asking every zone.

    >>> sorted(zone_classes({"Europe/Kyiv", "Europe/Bucharest", "UTC"},
    ...                     datetime(2026, 5, 1, tzinfo=UTC), timedelta(days=7)))
    ['Europe/Bucharest', 'UTC']
    """
    end = after + horizon
    groups: dict[tuple[object, ...], str] = {}
    for zone in sorted(zones):
        tz = tz_of(zone)
        first, last = after.astimezone(tz).utcoffset(), end.astimezone(tz).utcoffset()
        change = None if first == last else _change_at(tz, after, end)
        groups.setdefault((first, last, change), zone)
    return list(groups.values())


def _change_at(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The minute the offset changes between ``lo`` and ``hi`` (binary search)."""
    start = lo.astimezone(tz).utcoffset()
    while hi - lo > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == start:
            lo = mid
        else:
            hi = mid
    return hi.replace(second=0, microsecond=0)
