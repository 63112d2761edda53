"""Send-time optimization v1: the best contact-local hour, for one contact or many.

Computed on read from ``message_events`` (no precomputed profiles: always as fresh as the
last open), the population histogram once per call — a batch of a million contacts costs
two queries, not a million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.errors import not_found
from retenta.sendtime import store
from retenta.sendtime.model import LOOKBACK, BestHour, choose, next_at_hour, population_hour


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
    population = store.population_hours(cur, workspace_id, zone=fallback, since=since,
                                        until=until)  # fmt: skip
    counts = store.contact_hours(cur, workspace_id, ids, zone=fallback, since=since,
                                 until=until)  # fmt: skip
    answers = choose(counts, population, [zones.get(c, fallback) for c in ids])
    return dict(zip(ids, answers, strict=True))


def best_hour(cur: Any, workspace_id: str, contact_id: int, *,
              now: datetime | None = None) -> BestHour:  # fmt: skip
    """The contact's best local hour (0–23): its own pattern, else the population's."""
    return best_hours(cur, workspace_id, [contact_id], now=now)[int(contact_id)]


def workspace_histogram(cur: Any, workspace_id: str, *, now: datetime | None = None
                        ) -> Histogram:  # fmt: skip
    """The population histogram (what thin-history contacts fall back to)."""
    since, until = window(now)
    zone = store.workspace_zone(cur, workspace_id)
    counts = store.population_hours(cur, workspace_id, zone=zone, since=since, until=until)
    hour, source = population_hour(counts)
    total = int(sum(counts))
    return Histogram([int(c) for c in counts], total, BestHour(hour, source, total, zone),
                     since, until)  # fmt: skip


def contact_best_time(cur: Any, workspace_id: str, contact_id: int, *,
                      now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """What the contact page shows: the best hour and the next moment it comes round."""
    row = cur.execute(
        "SELECT 1 FROM contacts WHERE workspace_id = ? AND id = ? AND erased_at IS NULL",
        [workspace_id, contact_id],
    ).fetchone()
    if row is None:
        raise not_found("contact")
    at = now or datetime.now(UTC)
    best = best_hour(cur, workspace_id, contact_id, now=at)
    next_at = next_at_hour(at, best.hour, best.timezone)
    return {"contact_id": contact_id, **best.as_dict(), "next_at": next_at.isoformat()}
