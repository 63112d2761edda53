"""Reading metric values back, the way a Prometheus server would see them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


def parsed(text: str) -> list[Metric]:
    """The families of a ``/metrics`` body (the exposition format, parsed)."""
    return list(text_string_to_metric_families(text))


def value(families: Iterable[Metric], sample: str, **labels: str) -> float | None:
    """The value of sample ``sample`` (e.g. ``x_total``, ``x_count``) with exactly these
    labels (``le`` aside, for bucket samples ask with ``le``), or None if there is none."""
    for family in families:
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    return None
