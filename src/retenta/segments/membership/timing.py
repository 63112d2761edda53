"""When can a segment's membership change by time alone? (pure; reads the definition JSON)

A definition is *time-dependent* when it contains a relative time window, a relative date
operator or RFM (recency moves with the clock). Such a segment is re-evaluated in full at a
period tied to its finest time unit; that period is the expiry precision the engine
guarantees (docs/segments-realtime.md). Time-free segments change only when data changes,
so the periodic full recompute only checks them for drift, at a slower period.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Seconds between time-driven full passes, by the finest time unit the definition uses.
PERIOD_BY_UNIT: Mapping[str, float] = {
    "minutes": 15.0,
    "hours": 60.0,
    "days": 300.0,
    "weeks": 300.0,
    "months": 300.0,
    "years": 300.0,
}
DEFAULT_TIME_PERIOD_S = 300.0
RELATIVE_OPS = frozenset({"in_last", "in_next", "anniversary_in_next"})
TIME_FREE_WINDOWS = frozenset({"ever"})


@dataclass(frozen=True)
class Timing:
    """``time_dependent``: membership can change with no new data; ``period_s``: how often."""

    time_dependent: bool
    period_s: float


def timing(definition: Mapping[str, Any] | None, *, kind: str = "rules") -> Timing:
    """The timing of a segment.

    >>> timing({"root": {"type": "event", "event": "Viewed",
    ...         "window": {"kind": "last", "amount": 24, "unit": "hours"}}})
    Timing(time_dependent=True, period_s=60.0)
    >>> timing({"root": {"type": "not", "condition": {"type": "event", "event": "Viewed",
    ...         "window": {"kind": "last", "amount": 5, "unit": "minutes"}}}})
    Timing(time_dependent=True, period_s=15.0)
    >>> timing({"root": {"type": "attribute", "field": "city", "op": "equals", "value": "Kyiv"}})
    Timing(time_dependent=False, period_s=300.0)
    >>> timing(None, kind="sql")  # a SQL template may read now(): treated as time-dependent
    Timing(time_dependent=True, period_s=300.0)
    """
    if kind != "rules" or definition is None:
        return Timing(True, DEFAULT_TIME_PERIOD_S)
    periods = list(_time_periods(definition.get("root")))
    if not periods:
        return Timing(False, DEFAULT_TIME_PERIOD_S)
    return Timing(True, min(periods))


def _time_periods(node: Any) -> Iterator[float]:
    """One period for every time-relative construct under ``node``."""
    if isinstance(node, list):
        for child in node:
            yield from _time_periods(child)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "rfm":
        yield DEFAULT_TIME_PERIOD_S
    if node.get("op") in RELATIVE_OPS:
        yield _unit_period(node.get("unit"))
    window = node.get("window")
    if isinstance(window, dict) and window.get("kind", "ever") not in TIME_FREE_WINDOWS:
        yield _unit_period(window.get("unit"))
    for key, child in node.items():
        if key != "window" and isinstance(child, dict | list):
            yield from _time_periods(child)


def _unit_period(unit: Any) -> float:
    """The period for a time unit (the default when absent).

    >>> _unit_period("minutes"), _unit_period(None)
    (15.0, 300.0)
    """
    if not isinstance(unit, str):
        return DEFAULT_TIME_PERIOD_S
    return PERIOD_BY_UNIT.get(unit, DEFAULT_TIME_PERIOD_S)
