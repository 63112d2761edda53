"""The intake journal's lead in the writer's own time (``ingest/lead.py``)."""

from __future__ import annotations

import asyncio
import doctest
from collections.abc import Iterator
from pathlib import Path

import pytest

from retenta.ingest import lead
from retenta.ingest.lead import LEAD_S, MAX_EVENTS, MIN_EVENTS, WriterPace
from retenta.ingest.pipeline import IngestPipeline
from retenta.storage.duckdb.engine import DuckDatabase
from tests.ingest.test_deferred import TableApplier, open_pipeline
from tests.ingest.test_pipeline import msg


def test_the_module_examples() -> None:
    result = doctest.testmod(lead)
    assert result.attempted >= 3
    assert result.failed == 0


def test_the_lead_is_the_writers_rate_times_the_lead_seconds() -> None:
    pace = WriterPace()
    pace.unit(4_000, 1.0)
    assert pace.events_per_s == pytest.approx(4_000)
    assert pace.lead_events() == int(4_000 * LEAD_S)


def test_the_lead_stays_within_its_bounds() -> None:
    slow, fast = WriterPace(), WriterPace()
    slow.unit(100, 1.0)  # a store where the writer does 100 events a second
    fast.unit(100_000, 1.0)
    assert slow.lead_events() == MIN_EVENTS
    assert fast.lead_events() == MAX_EVENTS


def test_the_rate_follows_the_recent_units() -> None:
    pace = WriterPace()
    for _ in range(50):
        pace.unit(10_000, 1.0)
    for _ in range(40):  # the store grew: the writer now does 3,000 events a second
        pace.unit(3_000, 1.0)
    rate = pace.events_per_s
    assert rate is not None
    assert rate == pytest.approx(3_000, rel=0.05)


def test_units_without_events_or_time_are_not_measured() -> None:
    pace = WriterPace()
    pace.unit(0, 1.0)
    pace.unit(100, 0.0)
    assert pace.events_per_s is None
    assert pace.lead_events() == MAX_EVENTS


@pytest.fixture
def journaled(tmp_path: Path) -> Iterator[tuple[DuckDatabase, IngestPipeline]]:
    db, pipeline = open_pipeline(tmp_path, TableApplier(), ingest_acknowledge="journal")
    yield db, pipeline
    db.close()


def test_the_pipeline_measures_its_writer(journaled: tuple[DuckDatabase, IngestPipeline]) -> None:
    """Each committed unit is measured; a writer measured slow answers past a smaller lead."""
    _, pipeline = journaled

    async def run() -> None:
        await pipeline.start()
        for n in range(5):
            await pipeline.ingest([msg(f"pace-{n}-{i}") for i in range(20)], early=True)
        await pipeline.caught_up()
        rate = pipeline.pace.events_per_s
        assert rate is not None
        assert rate > 0
        slow = WriterPace()
        slow.unit(100, 1.0)
        pipeline.pace = slow
        pipeline._backlog = MIN_EVENTS - 1
        assert pipeline._answer_early()
        pipeline._backlog = MIN_EVENTS
        assert not pipeline._answer_early()  # at 100 events/s, 5,000 behind is 50 s of work
        pipeline._backlog = 0
        await pipeline.stop()

    asyncio.run(run())
