"""What ingestion's HTTP answers report to ``/metrics`` (``retenta.metrics``).

Every ``POST /v1/<endpoint>`` answer (``router.answer``) is counted by endpoint and status
and its time from the request's head to its answer goes into a histogram, so an operator
sees the acknowledgement's p99 against issue #2's 100 ms bound, and how many requests were
refused (401, 413, 503 ``overloaded``) without reading logs.

The counts are plain numbers rather than ``prometheus_client`` metrics so that they can be
moved between processes: an ingest worker (``ingest/worker.py``) answers on the ingest port,
``take``s what it counted every second and sends it to the writer process, which ``merge``s
it into its own and serves it on ``/metrics`` with the rest.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

import orjson
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

# The acknowledgement's bound is 100 ms; the buckets around it are the ones that matter.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Timings:
    """One endpoint's histogram: answers per bucket (the last one past every bound), their
    total time in seconds."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class IngestTelemetry:
    """Counts and latency histograms of the ingestion answers counted here."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, int], int] = {}
        self._timings: dict[str, Timings] = {}
        self._lock = threading.Lock()  # answers on the event loop, /metrics on another thread

    def answered(self, endpoint: str, status: int, seconds: float) -> None:
        """One answer; ``endpoint`` is one of the declared ``/v1`` routes' (a bounded set)."""
        with self._lock:
            self._count(endpoint, status, 1)
            timings = self._timings_of(endpoint)
            timings.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            timings.total += seconds

    def take(self) -> bytes | None:
        """What was counted since the last ``take`` (then forgotten here), for ``merge`` in
        another process; None when nothing was.

        >>> t = IngestTelemetry(); t.answered("track", 200, 0.02); u = IngestTelemetry()
        >>> u.merge(t.take()); t.take(), u.answers()
        (None, {('track', 200): 1})
        """
        with self._lock:
            if not self._answers:
                return None
            answers, timings = self._answers, self._timings
            self._answers, self._timings = {}, {}
        return orjson.dumps(
            {
                "answers": [[e, s, n] for (e, s), n in answers.items()],
                "timings": [[e, t.counts, t.total] for e, t in timings.items()],
            }
        )

    def merge(self, taken: bytes) -> None:
        """Add what another process's ``take`` returned."""
        got = orjson.loads(taken)
        with self._lock:
            for endpoint, status, n in got["answers"]:
                self._count(str(endpoint), int(status), int(n))
            for endpoint, counts, total in got["timings"]:
                timings = self._timings_of(str(endpoint))
                timings.counts = [a + int(b) for a, b in zip(timings.counts, counts, strict=True)]
                timings.total += float(total)

    def answers(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._answers)

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "retenta_ingest_requests",
            "Ingestion requests answered, by endpoint and HTTP status.",
            labels=["endpoint", "status"],
        )
        latency = HistogramMetricFamily(
            "retenta_ingest_request_duration_seconds",
            "Time from an ingestion request's arrival to its answer (after the durable write).",
            labels=["endpoint"],
        )
        with self._lock:
            for (endpoint, status), n in sorted(self._answers.items()):
                requests.add_metric([endpoint, str(status)], n)
            for endpoint, timings in sorted(self._timings.items()):
                latency.add_metric([endpoint], _cumulative(timings.counts), timings.total)
        yield requests
        yield latency

    def _count(self, endpoint: str, status: int, n: int) -> None:
        key = (endpoint, status)
        self._answers[key] = self._answers.get(key, 0) + n

    def _timings_of(self, endpoint: str) -> Timings:
        timings = self._timings.get(endpoint)
        if timings is None:
            timings = self._timings[endpoint] = Timings()
        return timings


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    """Prometheus's buckets: answers at or under each bound, ``+Inf`` last."""
    bounds = [*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
    out, running = [], 0
    for bound, n in zip(bounds, counts, strict=True):
        running += n
        out.append((bound, float(running)))
    return out
