"""The server's metrics, read from what each part already keeps when a scraper asks.

Nothing here runs on the ingestion path: the pipeline's phase timings and outcomes
(``ingest.stats``), its answers (``ingest.telemetry``), the writer's units, COMMITs and
checkpoints and the reads' retries (``storage.duckdb.telemetry``), compaction's steps
(``storage.duckdb.compaction.Compactor``) are all kept by their owners; a scrape turns
them into metric families, plus the store's gauges (one small read) and the dead letters
waiting (one count). The process's own (RSS, CPU, open files, GC) come from
``prometheus_client``'s collectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from retenta.ingest.stats import PHASES

if TYPE_CHECKING:
    from retenta.app import Container

STORE_GAUGES = {
    "writer_queue_units": "Units of work waiting for the single writer.",
    "wal_bytes": "Bytes in DuckDB's write-ahead log (a checkpoint empties it).",
    "database_bytes": "Bytes of the database file.",
    "pool_used_bytes": "DuckDB's buffer pool in use.",
    "pool_limit_bytes": "DuckDB's buffer pool limit (set from the memory budget).",
}


def registry_for(container: Container) -> CollectorRegistry:
    """A registry of this server's metrics and its process's."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(RetentaCollector(container))
    return registry


class RetentaCollector(Collector):
    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterable[Metric]:
        c = self.container
        yield from ingest_families(c.ingest)
        yield from c.ingest.telemetry.collect()
        db: Any = c.db
        telemetry = getattr(db, "telemetry", None)
        if telemetry is not None:  # the DuckDB engine's (another backend: its own, later)
            yield from telemetry.collect()
        if hasattr(db, "gauges"):
            yield from store_families(db.gauges())
        yield from compaction_families(c.contacts.compactor)
        yield from identity_families(c.identity)
        yield dead_letters_family(c)


def ingest_families(pipeline: Any) -> Iterable[Metric]:
    stats = pipeline.stats
    units = CounterMetricFamily(
        "retenta_ingest_units", "Committed units of ingestion work (group commits)."
    )
    units.add_metric([], stats.units)
    yield units
    events = CounterMetricFamily(
        "retenta_ingest_events", "Events in committed units, by outcome.", labels=["outcome"]
    )
    for outcome, value in (("stored", stats.stored), ("duplicate", stats.duplicates),
                           ("dropped", stats.dropped)):  # fmt: skip
        events.add_metric([outcome], value)
    yield events
    letters = CounterMetricFamily(
        "retenta_ingest_dead_letters", "Invalid events kept in the dead-letter store."
    )
    letters.add_metric([], stats.dead_letters)
    yield letters
    wall = CounterMetricFamily(
        "retenta_ingest_phase_seconds",
        "Time spent in each phase of ingestion (prepare in the event loop, the rest in the"
        " writer).",
        labels=["phase"],
    )
    cpu = CounterMetricFamily(
        "retenta_ingest_phase_cpu_seconds",
        "CPU time of the thread that ran each phase of ingestion.",
        labels=["phase"],
    )
    for phase in PHASES:
        wall.add_metric([phase], stats.seconds.get(phase, 0.0))
        cpu.add_metric([phase], stats.cpu_seconds.get(phase, 0.0))
    yield wall
    yield cpu
    backlog = GaugeMetricFamily(
        "retenta_ingest_backlog_events",
        "Events accepted and not yet handed to the writer (past 50,000 requests get 503).",
    )
    backlog.add_metric([], pipeline.backlog)
    yield backlog
    deferred = GaugeMetricFamily(
        "retenta_ingest_deferred_apply_events",
        "Stored events whose commerce work is noted for a later unit (ingest/deferred.py).",
    )
    noted = pipeline.deferred.pending if pipeline.deferred is not None else ()
    deferred.add_metric([], len(noted))
    yield deferred
    yield from journal_families(pipeline.journal_state())


JOURNAL_FAMILIES = {  # name → (kind, help)
    "lag_events": ("gauge", "Events accepted and not yet committed: waiting, journaled, in"
                   " the writer (past the lead requests are answered after COMMIT again)."),
    "lead_events": ("gauge", "The lead: 2 s of the writer's measured rate, 5,000-15,000"
                    " events (ingest/lead.py)."),
    "read_waits": ("counter", "API reads that waited for what ingestion answered"
                   " (journaled requests, commerce's deferred apply)."),
    "read_wait_seconds": ("counter", "Seconds those API reads waited, in all."),
    "unapplied_records": ("gauge", "Intake-journal records answered and not yet committed."),
    "answered_requests": ("counter", "/v1 requests answered once journaled (before COMMIT)."),
    "syncs": ("counter", "fdatasync calls of the intake journal (one a group of units)."),
    "held": ("gauge", "1 when a journaled request could be neither stored nor set aside:"
             " the journal is kept from there for the next start to apply again."),
}  # fmt: skip


def journal_families(state: dict[str, float]) -> Iterable[Metric]:
    for name, (kind, help_text) in JOURNAL_FAMILIES.items():
        family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        family = family_type(f"retenta_ingest_journal_{name}", help_text)
        family.add_metric([], state.get(name, 0))
        yield family


def store_families(gauges: dict[str, float]) -> Iterable[Metric]:
    for name, help_text in STORE_GAUGES.items():
        family = GaugeMetricFamily(f"retenta_storage_{name}", help_text)
        family.add_metric([], gauges.get(name, 0.0))
        yield family


def compaction_families(compactor: Any) -> Iterable[Metric]:
    steps = CounterMetricFamily(
        "retenta_compaction_steps",
        "Committed event-compaction steps, by kind (flush: L0 to L1's runs; start/pass: a"
        " range pass into a tier) and tier.",
        labels=["kind", "tier"],
    )
    seconds = CounterMetricFamily(
        "retenta_compaction_seconds",
        "Time compaction steps held the writer, by kind and tier.",
        labels=["kind", "tier"],
    )
    for (kind, tier), count in sorted(compactor.steps.items()):
        steps.add_metric([kind, tier], count)
        seconds.add_metric([kind, tier], compactor.step_seconds.get((kind, tier), 0.0))
    yield steps
    yield seconds


def identity_families(identity: Any) -> Iterable[Metric]:
    entries = GaugeMetricFamily(
        "retenta_identity_map_entries",
        "Identifiers whose owner the writer's identifier map holds now.",
    )
    entries.add_metric([], len(identity.cache.owners))
    yield entries
    capacity = GaugeMetricFamily(
        "retenta_identity_map_capacity", "Identifiers the map holds at most (cache_entries)."
    )
    capacity.add_metric([], identity.cache.max_entries)
    yield capacity
    misses = CounterMetricFamily(
        "retenta_identity_map_misses",
        "Identifiers a unit met that the map did not hold: ruled out as new by their hash (no"
        " read), or read from the store; of those read, found is how many were stored.",
        labels=["outcome"],
    )
    counted = identity.misses
    for outcome, value in (("ruled_new", counted.ruled_new), ("read", counted.read),
                           ("found", counted.found)):  # fmt: skip
        misses.add_metric([outcome], value)
    yield misses


def dead_letters_family(c: Container) -> Metric:
    family = GaugeMetricFamily(
        "retenta_dead_letters_pending",
        "Dead letters waiting to be fixed and replayed or discarded, all workspaces.",
    )
    with c.db.read() as cur:
        ((pending,),) = cur.execute(
            "SELECT count(*) FROM dead_letters WHERE status = 'pending'"
        ).fetchall()
    family.add_metric([], int(pending))
    return family
