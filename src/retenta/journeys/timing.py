"""When a ``wait_until`` node lets a run go on: the next local time of day (pure).

Wall-clock times are computed in the zone, then converted to UTC, so "09:00" stays 09:00
across a DST change (the UTC instant moves by the hour). A time that does not exist on a
spring-forward day (02:30 in New York) is the moment the clock jumps past it (03:00 EDT); a
time that happens twice on a fall-back day (01:30) is the first one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

GAP_STEP = timedelta(minutes=1)
MAX_GAP_STEPS = 24 * 60  # no zone has a gap of a day


def next_local_time(
    after: datetime, at: time, zone: ZoneInfo, weekdays: Collection[int] | None = None
) -> datetime:
    """The first instant at or after ``after`` when the local clock in ``zone`` shows ``at``
    on one of ``weekdays`` (0 = Monday; None = any day), in UTC.

    >>> kyiv = ZoneInfo("Europe/Kyiv")
    >>> next_local_time(datetime(2026, 3, 28, 12, tzinfo=UTC), time(9), kyiv)  # EET, +2
    datetime.datetime(2026, 3, 29, 6, 0, tzinfo=datetime.timezone.utc)
    >>> next_local_time(datetime(2026, 3, 27, 12, tzinfo=UTC), time(9), kyiv, [0])  # EEST, +3
    datetime.datetime(2026, 3, 30, 6, 0, tzinfo=datetime.timezone.utc)
    """
    local_day = after.astimezone(zone).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        candidate = wall_clock_instant(datetime.combine(day, at), zone)
        if candidate >= after:
            return candidate
    raise ValueError("no day matches the weekdays")  # unreachable for a non-empty set


def wall_clock_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant the clock in ``zone`` first shows ``local`` (naive), or jumps past it.

    >>> ny = ZoneInfo("America/New_York")
    >>> wall_clock_instant(datetime(2026, 3, 8, 2, 30), ny)  # skipped: 03:00 EDT
    datetime.datetime(2026, 3, 8, 7, 0, tzinfo=datetime.timezone.utc)
    >>> wall_clock_instant(datetime(2026, 11, 1, 1, 30), ny)  # twice: the first (EDT)
    datetime.datetime(2026, 11, 1, 5, 30, tzinfo=datetime.timezone.utc)
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # In a gap: walk from the instant before it until the local clock reaches ``local``.
    instant = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    instant = instant.replace(second=0, microsecond=0)
    for _ in range(MAX_GAP_STEPS):
        if instant.astimezone(zone).replace(tzinfo=None) >= local:
            return instant
        instant += GAP_STEP
    return first
