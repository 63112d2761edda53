"""Pure: the best hour from engagement histograms (24 counts of contact-local hours).

One *sample* is one engaged send: the local hour of the first human open or click of a
message (machine opens and clicks never count). The answer for a contact blends its own
histogram with the workspace's (the population) as a Dirichlet–multinomial posterior:

    θ[h] = (c[h] + α·p[h]) / (n + α)        p = Laplace-smoothed population shares

so the population acts as ``α`` (= :data:`PRIOR_WEIGHT` = 4) imagined engaged sends: a
contact with 3 opens at 19:00 gets 19 unless three quarters of the workspace engages at one
other hour, and with 40 opens its own pattern all but decides. Neighbouring hours share evidence
(an open at 19:55 and one at 20:05 are the same habit): θ is smoothed circularly with the
kernel ¼·[1, 2, 1] before the arg-max; ties go to the earliest hour.

Below :data:`MIN_CONTACT_SAMPLES` engaged sends a contact's own opens are noise (one open
at 03:00 says little), so the answer is the population's peak; below
:data:`MIN_POPULATION_SAMPLES` the workspace has no usable pattern either and the answer is
:data:`DEFAULT_HOUR`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

HOURS = 24
MIN_CONTACT_SAMPLES = 3
MIN_POPULATION_SAMPLES = 20
PRIOR_WEIGHT = 4.0
DEFAULT_HOUR = 10
LOOKBACK = timedelta(days=180)

Source = Literal["contact", "population", "default"]
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BestHour:
    """The contact-local hour (0–23) to send at, where it came from, and how many of the
    contact's own engaged sends it saw (whatever the source)."""

    hour: int
    source: Source
    samples: int
    timezone: str = "UTC"

    def as_dict(self) -> dict[str, object]:
        return {"hour": self.hour, "source": self.source, "samples": self.samples,
                "timezone": self.timezone}  # fmt: skip


def population_shares(counts: Sequence[float]) -> Matrix:
    """Laplace-smoothed shares of the population histogram (never zero, sum 1).

    >>> s = population_shares([0] * 23 + [22])
    >>> round(float(s[23]), 3), round(float(s[0]), 3), round(float(s.sum()), 6)
    (0.5, 0.022, 1.0)
    """
    c = np.asarray(counts, dtype=np.float64)
    shares: Matrix = (c + 1.0) / (c.sum() + HOURS)
    return shares


def circular_smooth(rows: Matrix) -> Matrix:
    """¼·[1, 2, 1] across neighbouring hours, 23 beside 0 (rows of 24).

    >>> row = circular_smooth(np.eye(1, 24, 0))[0]
    >>> float(row[0]), float(row[1]), float(row[23]), float(row.sum())
    (0.5, 0.25, 0.25, 1.0)
    """
    smoothed: Matrix = (np.roll(rows, 1, axis=-1) + 2 * rows + np.roll(rows, -1, axis=-1)) / 4
    return smoothed


def peak(rows: Matrix) -> npt.NDArray[np.int64]:
    """The arg-max hour of each row; ties go to the earliest hour (numpy's rule)."""
    hours: npt.NDArray[np.int64] = np.argmax(np.round(rows, 12), axis=-1).astype(np.int64)
    return hours


def population_hour(counts: Sequence[float]) -> tuple[int, Source]:
    """The population's own best hour, or the default when it has too few samples.

    >>> population_hour([0] * 24)
    (10, 'default')
    >>> population_hour([0] * 18 + [30] + [0] * 5)
    (18, 'population')
    """
    if sum(counts) < MIN_POPULATION_SAMPLES:
        return DEFAULT_HOUR, "default"
    shares = circular_smooth(population_shares(counts)[None, :])
    return int(peak(shares)[0]), "population"


def posterior(contact_counts: Matrix, population: Sequence[float]) -> Matrix:
    """θ per contact row: the contact's counts blended with ``α`` population observations."""
    prior = PRIOR_WEIGHT * population_shares(population)
    n = contact_counts.sum(axis=-1, keepdims=True)
    theta: Matrix = (contact_counts + prior) / (n + PRIOR_WEIGHT)
    return theta


@dataclass(frozen=True, slots=True)
class Answers:
    """Many contacts' answers as arrays (row i: ``hours[i]``, ``SOURCES[sources[i]]``,
    ``samples[i]``): compact enough to hold a million contacts in memory (7 bytes each)."""

    hours: npt.NDArray[np.int8]
    sources: npt.NDArray[np.int8]
    samples: npt.NDArray[np.int32]

    def at(self, i: int, zone: str) -> BestHour:
        return BestHour(int(self.hours[i]), SOURCES[int(self.sources[i])],
                        int(self.samples[i]), zone)  # fmt: skip


SOURCES: tuple[Source, ...] = ("contact", "population", "default")
CHUNK_ROWS = 50_000  # rows blended at once: the float work stays ~40 MB whatever the batch


def answers(contact_counts: npt.NDArray[Any], population: Sequence[float]) -> Answers:
    """The best hour of each contact row (``contact_counts``: n × 24 local-hour counts).

    >>> rows = np.zeros((2, 24)); rows[0, 19] = 3; rows[0, 20] = 3; rows[1, 3] = 1
    >>> a = answers(rows, [0] * 10 + [50] + [0] * 13)
    >>> [(int(h), SOURCES[s], int(n)) for h, s, n in zip(a.hours, a.sources, a.samples)]
    [(19, 'contact', 6), (10, 'population', 1)]
    """
    fallback_hour, fallback_source = population_hour(population)
    rows = len(contact_counts)
    hours = np.full(rows, fallback_hour, dtype=np.int8)
    sources = np.full(rows, SOURCES.index(fallback_source), dtype=np.int8)
    samples = np.asarray(contact_counts.sum(axis=-1), dtype=np.int32)
    for lo in range(0, rows, CHUNK_ROWS):
        chunk = np.asarray(contact_counts[lo : lo + CHUNK_ROWS], dtype=np.float64)
        own = samples[lo : lo + CHUNK_ROWS] >= MIN_CONTACT_SAMPLES
        best = peak(circular_smooth(posterior(chunk, population)))
        hours[lo : lo + CHUNK_ROWS][own] = best[own]
        sources[lo : lo + CHUNK_ROWS][own] = 0
    return Answers(hours, sources, samples)


def choose(contact_counts: npt.NDArray[Any], population: Sequence[float],
           zones: Sequence[str]) -> list[BestHour]:  # fmt: skip
    """:func:`answers` as one :class:`BestHour` per row, in the row's zone."""
    found = answers(contact_counts, population)
    return [found.at(i, zone) for i, zone in enumerate(zones)]


def next_at_hour(after: datetime, hour: int, zone: str) -> datetime:
    """The first moment at or after ``after`` inside local ``hour`` in ``zone`` (UTC): now
    when the hour is under way, else its next start (a day's hour lost to DST moves on).

    >>> t = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 15:00 in Kyiv
    >>> next_at_hour(t, 19, "Europe/Kyiv").isoformat()
    '2026-06-01T16:00:00+00:00'
    >>> next_at_hour(t, 9, "Europe/Kyiv").isoformat()
    '2026-06-02T06:00:00+00:00'
    >>> next_at_hour(t, 15, "Europe/Kyiv") == t
    True
    """
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    if local.hour == hour:
        return after
    day = local.date()
    for _ in range(3):
        moment = datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
        if moment >= after and moment.astimezone(tz).hour == hour:
            return moment
        day += timedelta(days=1)
    raise ValueError(f"hour {hour} does not occur in {zone} after {after}")  # pragma: no cover
