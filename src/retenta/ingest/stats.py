"""Where the writer's time goes, per phase of the ingestion unit of work."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PHASES = ("prepare", "dedup", "resolve", "append", "apply", "dead_letters")


@dataclass
class IngestStats:
    """Phase times kept by the writer thread, and committed units' outcomes; read elsewhere
    as a best-effort snapshot (``/metrics``, ``ingest-stats.json``).

    >>> s = IngestStats(); lap = s.clock(); lap("dedup"); s.as_dict()["units"]
    0
    """

    units: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    dead_letters: int = 0  # invalid events kept in the dead-letter store
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def clock(self) -> Callable[[str], None]:
        """A lap timer: each call charges the time since the previous one to a phase, both
        wall time and the CPU time of the calling thread (less sensitive to a loaded machine:
        it leaves out waiting for the GIL and for other processes)."""
        last, last_cpu = time.perf_counter(), time.thread_time()

        def lap(phase: str) -> None:
            nonlocal last, last_cpu
            now, now_cpu = time.perf_counter(), time.thread_time()
            self.seconds[phase] = self.seconds.get(phase, 0.0) + now - last
            self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + now_cpu - last_cpu
            last, last_cpu = now, now_cpu

        return lap

    def count(
        self, *, events: int, stored: int, duplicates: int, dropped: int, dead_letters: int = 0
    ) -> None:
        """A committed unit's outcome (not called for one that rolled back)."""
        self.units += 1
        self.events += events
        self.stored += stored
        self.duplicates += duplicates
        self.dropped += dropped
        self.dead_letters += dead_letters

    def as_dict(self) -> dict[str, Any]:
        per_event = _per_event(self.seconds, self.events)
        return {
            "units": self.units,
            "events": self.events,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "dead_letters": self.dead_letters,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "microseconds_per_event": per_event,
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_seconds.items()},
            "cpu_microseconds_per_event": _per_event(self.cpu_seconds, self.events),
        }


def _per_event(seconds: dict[str, float], events: int) -> dict[str, float]:
    """Seconds per phase as µs per event.

    >>> _per_event({"dedup": 0.5}, 1_000_000)
    {'dedup': 0.5}
    """
    return {k: round(v / events * 1e6, 1) if events else 0.0 for k, v in seconds.items()}
