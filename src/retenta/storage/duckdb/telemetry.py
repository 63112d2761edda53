"""What the DuckDB writer reports to ``/metrics`` (``retenta.metrics``): its units of work,
their COMMITs, its checkpoints and the point reads' second tries.

The writer thread is the one place every change passes through, so its timings are the
store's health: a unit's time is what every caller waiting in it waits, a checkpoint's is
a stall of the writer (issue #2's acknowledgement p99 is made of these), and the reads run
again because a unit committed meanwhile (``fanout.ReadFanOut``) or because a tier probe
went stale (``tier_members.TierMembers``) are work the point reads did twice. Recorded once
a unit or a checkpoint (a few µs), never once an event.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COMMITTED, ROLLED_BACK = "committed", "rolled_back"
LIGHT, FULL = "light", "full"


class WriterTelemetry:
    """Counters and histograms the writer thread updates (and readers, for their retries)."""

    def __init__(self) -> None:
        self.units = Counter(
            "retenta_storage_writer_units",
            "Units of work the single writer ran, by outcome.",
            ["outcome"],
            registry=None,
        )
        self.unit_seconds = Histogram(
            "retenta_storage_writer_unit_duration_seconds",
            "A committed unit of work's time in the writer, BEGIN to the end of its COMMIT.",
            registry=None,
            buckets=SECONDS_BUCKETS,
        )
        self.commit_seconds = Counter(
            "retenta_storage_commit_seconds",
            "Time the writer spent in COMMIT statements.",
            registry=None,
        )
        self.checkpoint_seconds = Histogram(
            "retenta_storage_checkpoint_duration_seconds",
            "Checkpoints the writer ran, by kind (light: no vacuum; full: with it).",
            ["kind"],
            registry=None,
            buckets=SECONDS_BUCKETS,
        )
        self.checkpoints_refused = Counter(
            "retenta_storage_checkpoints_refused",
            "Checkpoints DuckDB refused (another transaction held them off).",
            registry=None,
        )
        self.commit_checkpoints = Counter(
            "retenta_storage_commit_checkpoints",
            "Checkpoints DuckDB ran itself inside a unit's COMMIT (the WAL shrank without the"
            " writer's): it does so once the WAL plus its estimate of the unit passes"
            " checkpoint_threshold, and the unit's callers wait for it.",
            registry=None,
        )
        self.read_retries = Counter(
            "retenta_storage_read_retries",
            "Point reads run again, by cause: a unit committed while their statements ran "
            "side by side (snapshot), or the event-tier probe they relied on went stale.",
            ["cause"],
            registry=None,
        )
        self._committed = self.units.labels(COMMITTED)
        self._rolled_back = self.units.labels(ROLLED_BACK)
        self._snapshot_retries = self.read_retries.labels("snapshot")
        self._stale_probes = self.read_retries.labels("stale_tier_probe")

    def unit_committed(self, *, seconds: float, commit_seconds: float) -> None:
        self._committed.inc()
        self.unit_seconds.observe(seconds)
        self.commit_seconds.inc(commit_seconds)

    def unit_rolled_back(self) -> None:
        self._rolled_back.inc()

    def checkpointed(self, *, full: bool, seconds: float) -> None:
        self.checkpoint_seconds.labels(FULL if full else LIGHT).observe(seconds)

    def snapshot_retry(self) -> None:
        self._snapshot_retries.inc()

    def stale_probe(self) -> None:
        self._stale_probes.inc()

    def collect(self) -> Iterable[Metric]:
        yield from self.units.collect()
        yield from self.unit_seconds.collect()
        yield from self.commit_seconds.collect()
        yield from self.checkpoint_seconds.collect()
        yield from self.checkpoints_refused.collect()
        yield from self.commit_checkpoints.collect()
        yield from self.read_retries.collect()
