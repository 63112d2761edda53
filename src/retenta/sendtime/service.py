"""Send-time optimization v1: the best contact-local hour, for one contact or many.

Computed on read from ``message_events`` (no precomputed profiles: a contact's answer is as
fresh as its last open). The population histogram — two thirds of the cost of one answer —
is kept per workspace for :data:`POPULATION_TTL_S` (the window's end rounded down to that
step is part of the key), so a journey asking for thousands of runs' best hours reads it
once. A batch of any size costs two queries, not one per contact.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.errors import not_found
from retenta.sendtime import store
from retenta.sendtime.model import LOOKBACK, BestHour, choose, next_at_hour, population_hour

POPULATION_TTL_S = 600
_CACHE_SIZE = 1024
_cache: OrderedDict[tuple[str, str, int], list[float]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Histogram:
    """A workspace's engaged sends per contact-local hour and the hour it points to."""

    counts: list[int]
    samples: int
    best: BestHour
    since: datetime
    until: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"hours": self.counts, "samples": self.samples, "best": self.best.as_dict(),
                "since": self.since.isoformat(), "until": self.until.isoformat()}  # fmt: skip


def window(now: datetime | None) -> tuple[datetime, datetime]:
    until = now or datetime.now(UTC)
    return until - LOOKBACK, until


def best_hours(cur: Any, workspace_id: str, contact_ids: Sequence[int], *,
               now: datetime | None = None) -> dict[int, BestHour]:  # fmt: skip
    """The best hour of each contact (unknown contacts: the population's, in the
    workspace's zone), from engagement before ``now`` (default: the present)."""
    ids = list(dict.fromkeys(int(c) for c in contact_ids))
    since, until = window(now)
    fallback = store.workspace_zone(cur, workspace_id)
    zones = store.contact_zones(cur, workspace_id, ids, fallback)
    population = population_hours(cur, workspace_id, zone=fallback, until=until)
    counts = store.contact_hours(cur, workspace_id, ids, zone=fallback, since=since,
                                 until=until)  # fmt: skip
    answers = choose(counts, population, [zones.get(c, fallback) for c in ids])
    return dict(zip(ids, answers, strict=True))


def best_hour(cur: Any, workspace_id: str, contact_id: int, *,
              now: datetime | None = None) -> BestHour:  # fmt: skip
    """The contact's best local hour (0–23): its own pattern, else the population's.
    Live answers (``now`` not given) of a busy workspace come from memory (``hot.py``)."""
    if now is None:
        from retenta.sendtime.hot import HOT  # hot.py builds on this module

        return HOT.best_hour(cur, workspace_id, contact_id, datetime.now(UTC))
    return best_hours(cur, workspace_id, [contact_id], now=now)[int(contact_id)]


def workspace_histogram(cur: Any, workspace_id: str, *, now: datetime | None = None
                        ) -> Histogram:  # fmt: skip
    """The population histogram (what thin-history contacts fall back to)."""
    since, until = population_window(now or datetime.now(UTC))
    zone = store.workspace_zone(cur, workspace_id)
    counts = population_hours(cur, workspace_id, zone=zone, until=until)
    hour, source = population_hour(counts)
    total = int(sum(counts))
    return Histogram([int(c) for c in counts], total, BestHour(hour, source, total, zone),
                     since, until)  # fmt: skip


def contact_best_time(cur: Any, workspace_id: str, contact_id: int, *,
                      now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """What the contact page shows: the best hour and the next moment it comes round (a
    merged-away id answers for the contact it was merged into)."""
    row = cur.execute(
        "SELECT coalesce(merged_into, id) FROM contacts WHERE workspace_id = ? AND id = ?"
        " AND erased_at IS NULL",
        [workspace_id, contact_id],
    ).fetchone()
    if row is None:
        raise not_found("contact")
    contact_id = int(row[0])
    at = now or datetime.now(UTC)
    best = best_hour(cur, workspace_id, contact_id, now=at)
    next_at = next_at_hour(at, best.hour, best.timezone)
    return {"contact_id": contact_id, **best.as_dict(), "next_at": next_at.isoformat()}


def population_hours(cur: Any, workspace_id: str, *, zone: str, until: datetime
                     ) -> list[float]:  # fmt: skip
    """The population histogram of the window ending at ``until`` (up to
    :data:`POPULATION_TTL_S` old: the window's end is taken to that step)."""
    since, end = population_window(until)
    key = (workspace_id, zone, int(end.timestamp()))
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    counts = store.population_hours(cur, workspace_id, zone=zone, since=since, until=end)
    with _cache_lock:
        _cache[key] = counts
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return counts


def population_window(until: datetime) -> tuple[datetime, datetime]:
    """The population's window: ``until`` rounded down to :data:`POPULATION_TTL_S`.

    >>> population_window(datetime(2026, 7, 1, 10, 17, tzinfo=UTC))[1].isoformat()
    '2026-07-01T10:10:00+00:00'
    """
    end = datetime.fromtimestamp(int(until.timestamp()) // POPULATION_TTL_S * POPULATION_TTL_S,
                                 UTC)  # fmt: skip
    return end - LOOKBACK, end
