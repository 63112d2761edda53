"""A contact's purchase rhythm, and when it says "now": pure functions, no storage.

Seed 002's two metrics: the **recency** of the last purchase and the **usual interval**
between purchases (the mean gap: the time from first to last purchase over the number of
gaps). Someone who buys every 75 days and last bought 82 days ago has drifted a week past
the point where the next purchase was due — the moment to act, before the drift grows and
the chance of a next purchase falls. A contact with one purchase has no interval of their
own and takes the population's (the median of the repeat buyers' intervals).
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86_400.0


def mean_interval_days(first_s: float, last_s: float, purchases: int) -> float | None:
    """The mean gap between ``purchases`` purchases from ``first_s`` to ``last_s`` (epoch s).

    >>> mean_interval_days(0, 150 * DAY_S, 3)
    75.0
    >>> mean_interval_days(0, 0, 1) is None
    True
    """
    if purchases < 2:
        return None
    return (last_s - first_s) / (purchases - 1) / DAY_S


@dataclass(frozen=True, slots=True)
class Drift:
    """Where a contact stands against their usual interval."""

    recency_days: float
    interval_days: float
    overdue_days: float

    @property
    def due(self) -> bool:
        return self.overdue_days > 0


def drift(recency_days: float, interval_days: float) -> Drift:
    """How far past the usual interval the last purchase is (negative: not yet due).

    >>> drift(82, 75).overdue_days
    7
    >>> drift(30, 75).due
    False
    """
    return Drift(recency_days, interval_days, recency_days - interval_days)


def winback_due(d: Drift, *, grace_days: float, catch_up_days: float) -> bool:
    """Late by at least the grace, and not so long ago that the moment has passed (a pass
    that was down some days still catches up within ``catch_up_days``).

    >>> winback_due(drift(82, 75), grace_days=7, catch_up_days=14)
    True
    >>> winback_due(drift(80, 75), grace_days=7, catch_up_days=14)
    False
    >>> winback_due(drift(200, 75), grace_days=7, catch_up_days=14)
    False
    """
    return grace_days <= d.overdue_days < grace_days + catch_up_days


def replenishment_due(
    recency_days: float, interval_days: float, *, lead_days: float, catch_up_days: float
) -> bool:
    """An item bought every ``interval_days`` is due again ``lead_days`` before it runs out.

    >>> replenishment_due(27, 30, lead_days=3, catch_up_days=14)
    True
    >>> replenishment_due(20, 30, lead_days=3, catch_up_days=14)
    False
    >>> replenishment_due(60, 30, lead_days=3, catch_up_days=14)
    False
    """
    early = recency_days - (interval_days - lead_days)
    return 0 <= early < catch_up_days
