"""Commerce's apply behind the acknowledgement (``ingest/deferred.py``): batched while
clients are many, exactly once, durable across a crash, a failing event set aside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.ingest.pipeline import DEFER_FROM_REQUESTS, IngestPipeline
from retenta.ingest.service import DeadLetterService
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase
from tests.ingest.resolvers import TableResolver
from tests.ingest.test_pipeline import msg


class TableApplier:
    """Writes the ids it applies to ``applied``, in the unit's transaction; fails on one."""

    name = "table"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.batches: list[int] = []

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        if any(m.message_id == self.fail_on for m in messages):
            raise RuntimeError("an event commerce cannot take")
        self.batches.append(len(messages))
        _ids = pa.table({"id": [m.message_id for m in messages]})
        conn.execute("INSERT INTO applied SELECT id FROM _ids")


def open_pipeline(
    path: Path, applier: TableApplier, **overrides: Any
) -> tuple[DuckDatabase, IngestPipeline]:
    """A pipeline over a temp DuckDB whose applier writes to ``applied`` (``overrides``:
    settings, e.g. ``ingest_acknowledge``)."""
    db = DuckDatabase(path / "t.duckdb")
    db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS applied (id VARCHAR)"))
    settings = Settings(data_dir=path, background_workers=False, **overrides)
    return db, IngestPipeline(
        db=db, resolver=TableResolver(), appliers=[applier], settings=settings
    )


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[DuckDatabase, IngestPipeline, TableApplier]]:
    applier = TableApplier(fail_on="c-7")
    db, pipeline = open_pipeline(tmp_path, applier)
    yield db, pipeline, applier
    db.close()


def rows(db: DuckDatabase, sql: str) -> list[Any]:
    with db.read() as cur:
        return list(cur.execute(sql).fetchall())


async def settled(pipeline: IngestPipeline) -> None:
    """Wait until nothing noted is left to apply (the loop applies once it is idle)."""
    assert pipeline.deferred is not None
    for _ in range(500):
        if not pipeline.deferred.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the noted events were never applied")


async def concurrent(pipeline: IngestPipeline, ids: list[str]) -> None:
    await pipeline.start()
    outcomes = await asyncio.gather(*(pipeline.ingest([msg(i, user=i)]) for i in ids))
    assert all(o.stored == 1 for o in outcomes)


def ingest_then_stop(pipeline: IngestPipeline, ids: list[str]) -> None:
    """Many clients at once, then (once every note is applied) a clean stop."""

    async def run() -> None:
        await concurrent(pipeline, ids)
        await settled(pipeline)
        await pipeline.stop()

    asyncio.run(run())


def test_many_clients_are_applied_once_in_a_batch_behind_their_ack(opened) -> None:
    db, pipeline, applier = opened
    applier.fail_on = None
    ids = [f"c-{i}" for i in range(40)]

    ingest_then_stop(pipeline, ids)
    assert sorted(r[0] for r in rows(db, "SELECT id FROM applied")) == sorted(ids)
    assert max(applier.batches) >= DEFER_FROM_REQUESTS  # one apply for many requests
    assert rows(db, "SELECT count(*) FROM commerce_pending") == [(0,)]


def test_a_lone_client_reads_its_own_writes(opened) -> None:
    db, pipeline, _ = opened

    async def run() -> None:
        await pipeline.start()
        for i in range(3):
            await pipeline.ingest([msg(f"s-{i}")])
            assert (f"s-{i}",) in rows(db, "SELECT id FROM applied")  # applied before the ack
        await pipeline.stop()

    asyncio.run(run())


class SlowApplier(TableApplier):
    """Commerce taking ``seconds`` an apply: a read right after the answers finds it behind."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        time.sleep(self.seconds)
        super().apply(conn, messages)


def test_caught_up_waits_for_what_was_applied_behind_the_ack(tmp_path: Path) -> None:
    """The management API's reads wait in ``caught_up`` (``web/after_journal.py``): after
    it, every answered event's commerce is applied, noted ones included."""
    db, pipeline = open_pipeline(tmp_path, SlowApplier(0.3))
    ids = [f"w-{i}" for i in range(40)]

    async def run() -> None:
        await concurrent(pipeline, ids)
        assert pipeline.deferred is not None
        assert pipeline.deferred.pending
        await pipeline.caught_up()
        assert sorted(r[0] for r in rows(db, "SELECT id FROM applied")) == sorted(ids)
        await pipeline.caught_up()  # nothing pending: returns at once
        await pipeline.stop()

    try:
        asyncio.run(run())
    finally:
        db.close()


def test_notes_left_by_a_crash_are_applied_once_at_the_next_start(tmp_path: Path) -> None:
    db, pipeline = open_pipeline(tmp_path, TableApplier())
    ids = [f"k-{i}" for i in range(30)]

    async def crash() -> None:
        pipeline._apply_due = lambda: False  # type: ignore[method-assign]
        await concurrent(pipeline, ids)
        assert pipeline._task is not None
        pipeline._task.cancel()  # the process dies: no stop, no last apply

    asyncio.run(crash())
    noted = rows(db, "SELECT count(*) FROM commerce_pending")[0][0]
    assert noted >= len(ids) - 1  # all but a first request that came alone
    assert len(rows(db, "SELECT id FROM applied")) == len(ids) - noted
    db.close()

    db, pipeline = open_pipeline(tmp_path, TableApplier())

    async def restart() -> None:
        await pipeline.start()
        await settled(pipeline)
        await pipeline.stop()

    asyncio.run(restart())
    assert sorted(r[0] for r in rows(db, "SELECT id FROM applied")) == sorted(ids)
    assert rows(db, "SELECT count(*) FROM commerce_pending") == [(0,)]
    db.close()


def test_an_event_the_applier_refuses_becomes_a_dead_letter_and_the_rest_apply(opened) -> None:
    db, pipeline, _ = opened
    ids = [f"c-{i}" for i in range(20)]

    ingest_then_stop(pipeline, ids)
    applied = sorted(r[0] for r in rows(db, "SELECT id FROM applied"))
    assert applied == sorted(i for i in ids if i != "c-7")
    assert len(rows(db, "SELECT 1 FROM all_events")) == len(ids)  # every event stored
    letters = rows(db, "SELECT endpoint, payload, errors FROM dead_letters")
    assert [(e, "c-7" in p, "not applied" in r) for e, p, r in letters] == [("apply", True, True)]
    assert '"userId":"c-7"' in letters[0][1].replace(" ", "")  # the event, for inspection
    assert rows(db, "SELECT count(*) FROM commerce_pending") == [(0,)]


def test_the_dead_letter_of_a_refused_apply_replays_by_applying_the_stored_event(
    opened,
) -> None:
    """After a fix (here the applier stops refusing), the replay applies the event once;
    a replay that still fails, or that brings a payload, leaves the letter pending."""
    db, pipeline, applier = opened
    ingest_then_stop(pipeline, [f"c-{i}" for i in range(20)])
    ((letter_id,),) = rows(db, "SELECT id FROM dead_letters WHERE endpoint = 'apply'")
    letters = DeadLetterService(db=db, pipeline=pipeline)

    async def replay(payload: Any = None) -> dict[str, Any]:
        return await letters.replay(workspace_id="ws_a", letter_id=letter_id, payload=payload)

    with pytest.raises(ApiError) as still:
        asyncio.run(replay())
    assert (still.value.status, still.value.field) == (422, "event")
    assert "still not applied: an event commerce cannot take" in still.value.message
    with pytest.raises(ApiError) as edited:
        asyncio.run(replay({"type": "track", "event": "Viewed", "userId": "c-7"}))
    assert (edited.value.status, edited.value.field) == (422, "payload")
    assert rows(db, "SELECT status FROM dead_letters") == [("pending",)]

    applier.fail_on = None  # the fix
    answer = asyncio.run(replay())
    assert (answer["status"], answer["message_id"], answer["applied"]) == ("replayed", "c-7", 1)
    with pytest.raises(ApiError) as again:
        asyncio.run(replay())
    assert again.value.status == 409
    assert rows(db, "SELECT count(*) FROM applied WHERE id = 'c-7'") == [(1,)]
    assert rows(db, "SELECT status FROM dead_letters") == [("replayed",)]
    assert rows(db, "SELECT count(*) FROM all_events") == [(20,)]  # nothing stored twice


def test_a_unit_that_must_not_leave_notes_behind_applies_them_first(tmp_path: Path) -> None:
    """Erasure's unit calls ``apply_noted`` before it deletes a person: what was noted is
    applied in that unit (and so erased with the rest)."""
    db, pipeline = open_pipeline(tmp_path, TableApplier())
    ids = [f"e-{i}" for i in range(20)]

    async def note_only() -> None:
        pipeline._apply_due = lambda: False  # type: ignore[method-assign]
        await concurrent(pipeline, ids)

    asyncio.run(note_only())
    assert pipeline.deferred is not None
    assert pipeline.deferred.pending
    db.write(pipeline.apply_noted)
    assert not pipeline.deferred.pending
    assert sorted(r[0] for r in rows(db, "SELECT id FROM applied")) == sorted(ids)
    assert rows(db, "SELECT count(*) FROM commerce_pending") == [(0,)]
    db.close()
