"""The ingestion answers' counts: Prometheus's own semantics, and moved between processes."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from retenta.ingest.telemetry import LATENCY_BUCKETS, IngestTelemetry
from tests.metrics.samples import parsed


def exposition(telemetry: IngestTelemetry) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()
    registry.register(telemetry)
    return samples(generate_latest(registry).decode())


def samples(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    wanted = ("retenta_ingest_requests_total", "retenta_ingest_request_duration_seconds_")
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), round(s.value, 9))
        for f in parsed(text)
        for s in f.samples
        if s.name.startswith(wanted) and not s.name.endswith("_created")
    )


RNG = random.Random(7)
ANSWERS = [
    ("batch", 200, 0.1),  # exactly on a bound: in its bucket, as Prometheus counts it
    ("batch", 200, 0.0),
    ("track", 401, 0.004),
    ("track", 200, 10.0),
    ("track", 200, 11.5),  # past every bound: +Inf only
    *(
        (RNG.choice(["batch", "track"]), RNG.choice([200, 503]), RNG.uniform(0, 3))
        for _ in range(200)
    ),
]


def test_the_exposition_is_prometheus_clients_for_the_same_answers() -> None:
    registry = CollectorRegistry()
    requests = Counter("retenta_ingest_requests", "x", ["endpoint", "status"], registry=registry)
    latency = Histogram(
        "retenta_ingest_request_duration_seconds", "x", ["endpoint"], registry=registry,
        buckets=LATENCY_BUCKETS,
    )  # fmt: skip
    ours = IngestTelemetry()
    for endpoint, status, seconds in ANSWERS:
        requests.labels(endpoint, str(status)).inc()
        latency.labels(endpoint).observe(seconds)
        ours.answered(endpoint, status, seconds)
    assert exposition(ours) == samples(generate_latest(registry).decode())


def test_counts_taken_in_workers_and_merged_equal_counting_in_one_process() -> None:
    one, writer = IngestTelemetry(), IngestTelemetry()
    workers = [IngestTelemetry(), IngestTelemetry()]
    for n, (endpoint, status, seconds) in enumerate(ANSWERS):
        one.answered(endpoint, status, seconds)
        workers[n % 2].answered(endpoint, status, seconds)
        if n % 17 == 0:  # a worker reports every second, in the middle of things
            taken = workers[n % 2].take()
            assert taken is not None
            writer.merge(taken)
    for worker in workers:
        taken = worker.take()
        if taken is not None:
            writer.merge(taken)
        assert worker.take() is None  # taken once: never counted twice
    assert exposition(writer) == exposition(one)
    assert sum(writer.answers().values()) == len(ANSWERS)
