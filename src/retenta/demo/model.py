"""The demo store's world model: time, seasonality and the population mix. Pure numpy.

Times are int64 microseconds since the epoch (UTC) throughout the generator; the
writer hands them to Arrow as ``timestamp[us, UTC]`` without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

LANGUAGES = ("uk", "ru", "en", "pl")
LANGUAGE_SHARE = (0.46, 0.2, 0.14, 0.2)
LOCALES = {"uk": "uk-UA", "ru": "ru-UA", "en": "en-GB", "pl": "pl-PL"}

# Shoppers' local hour of day (Kyiv, UTC+2): quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = np.array(
    [0.3, 0.15, 0.08, 0.05, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0, 1.1, 1.2,
     1.4, 1.3, 1.1, 1.0, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0, 1.6, 0.8],
)  # fmt: skip
LOCAL_UTC_OFFSET_HOURS = 2
# Monday..Sunday
WEEKDAY_WEIGHTS = np.array([1.0, 0.95, 0.93, 0.95, 1.0, 1.22, 1.3])


@dataclass(frozen=True)
class Mix:
    """Population shares and behaviour rates; tuned so 1M contacts give ~50M events."""

    anonymous_only: float = 0.22  # visitors who never register
    offline_only: float = 0.05  # known from the shop's tills only
    pre_registration_history: float = 0.65  # registered web visitors who browsed first
    two_devices: float = 0.18
    existing_customers: float = 0.3  # already known when the window opens
    churn: float = 0.35  # registered people who stop coming back
    one_time_buyer: float = 0.3
    repeat_buyer: float = 0.4  # of registered; the rest never buy
    store_shopper: float = 0.15  # registered web buyers who also buy in a store
    sessions_per_month: float = 0.84  # mean, heavy-tailed across people
    emails_per_month: float = 1.4  # campaign deliveries per subscribed person
    cancel_rate: float = 0.04
    refund_rate: float = 0.08


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch.

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def yearly_factor(day_of_year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Retail's year: a winter high, Black Friday week, the pre-Christmas rush, 8 March.

    >>> yearly_factor(np.array([200, 350]), np.array([7, 12]), np.array([19, 16])).round(2).tolist()
    [0.73, 2.08]
    """
    base = 1.0 + 0.3 * np.cos(2 * np.pi * (day_of_year - 355) / 365.25)
    black_friday = (month == 11) & (day >= 22) & (day <= 30)
    christmas = (month == 12) & (day >= 5) & (day <= 23)
    womens_day = (month == 3) & (day >= 1) & (day <= 7)
    boost = np.where(black_friday, 2.2, np.where(christmas, 1.6, np.where(womens_day, 1.4, 1.0)))
    return base * boost


def day_weights(start: datetime, days: int) -> np.ndarray:
    """Relative traffic of each day of the window (weekly × yearly seasonality)."""
    dates = [start.date() + timedelta(days=i) for i in range(days)]
    weekday = np.array([d.weekday() for d in dates])
    doy = np.array([d.timetuple().tm_yday for d in dates])
    month = np.array([d.month for d in dates])
    mday = np.array([d.day for d in dates])
    return np.asarray(WEEKDAY_WEIGHTS[weekday] * yearly_factor(doy, month, mday))


@dataclass(frozen=True)
class Calendar:
    """The window ``[start, now)`` and the CDFs that place activity in it."""

    start_us: int
    now_us: int
    day_cdf: np.ndarray  # len days + 1, from 0 to 1
    hour_cdf: np.ndarray  # len 24

    @classmethod
    def build(cls, now: datetime, days: int) -> Calendar:
        start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        n_days = (now - start).days + 1
        weights = day_weights(start, n_days)
        hours = np.roll(HOUR_WEIGHTS, -LOCAL_UTC_OFFSET_HOURS)
        return cls(
            start_us=to_us(start),
            now_us=to_us(now),
            day_cdf=np.concatenate([[0.0], np.cumsum(weights) / weights.sum()]),
            hour_cdf=np.cumsum(hours) / hours.sum(),
        )

    def sample(self, rng: np.random.Generator, lo_us: np.ndarray, hi_us: np.ndarray) -> np.ndarray:
        """One seasonal instant in ``[lo, hi)`` per pair (weekday, yearly and hour-of-day)."""
        last_day = len(self.day_cdf) - 2
        dlo = np.clip((lo_us - self.start_us) // US_PER_DAY, 0, last_day)
        dhi = np.clip((hi_us - 1 - self.start_us) // US_PER_DAY, 0, last_day)
        c_lo, c_hi = self.day_cdf[dlo], self.day_cdf[dhi + 1]
        day = np.searchsorted(self.day_cdf, rng.uniform(c_lo, c_hi), side="right") - 1
        day = np.clip(day, dlo, dhi)
        hour = np.searchsorted(self.hour_cdf, rng.random(len(day)), side="right")
        within = rng.integers(0, US_PER_HOUR, len(day))
        t = self.start_us + day * US_PER_DAY + np.minimum(hour, 23) * US_PER_HOUR + within
        return np.asarray(np.clip(t, lo_us, np.maximum(lo_us, hi_us - 1)))

    def days_of(self, t_us: np.ndarray) -> np.ndarray:
        return (t_us - self.start_us) / US_PER_DAY


def group_starts(counts: np.ndarray) -> np.ndarray:
    """Offsets of each group in a flat array grouped by owner.

    >>> group_starts(np.array([2, 0, 3])).tolist()
    [0, 2, 2]
    """
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def rank_within(owner: np.ndarray) -> np.ndarray:
    """0, 1, 2… inside each run of equal, sorted owners.

    >>> rank_within(np.array([0, 0, 2, 2, 2, 5])).tolist()
    [0, 1, 0, 1, 2, 0]
    """
    n = len(owner)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new_run = np.concatenate([[True], owner[1:] != owner[:-1]])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    return np.arange(n) - run_start
