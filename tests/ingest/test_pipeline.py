"""The group-commit pipeline against a real DuckDB, with a small real resolver."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retenta.core.messages import Message
from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.pipeline import IngestPipeline
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase
from tests.ingest.resolvers import BLOCKED_USER, RecordingApplier, TableResolver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def msg(mid: str, *, ws: str = "ws_a", user: str = "u1", event: str = "Viewed") -> Message:
    return Message(
        workspace_id=ws,
        message_id=mid,
        type="track",
        timestamp=NOW,
        received_at=NOW,
        event=event,
        user_id=user,
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDatabase]:
    database = DuckDatabase(tmp_path / "t.duckdb")
    yield database
    database.close()


@pytest.fixture
def applier() -> RecordingApplier:
    return RecordingApplier()


@pytest.fixture
def pipeline(db: DuckDatabase, applier: RecordingApplier, tmp_path: Path) -> IngestPipeline:
    settings = Settings(data_dir=tmp_path, background_workers=False)
    return IngestPipeline(db=db, resolver=TableResolver(), appliers=[applier], settings=settings)


def stored_ids(db: DuckDatabase, ws: str = "ws_a") -> list[str]:
    with db.read() as cur:
        rows = cur.execute(
            "SELECT message_id FROM all_events WHERE workspace_id = ? ORDER BY message_id", [ws]
        ).fetchall()
    return [r[0] for r in rows]


def test_sync_ingest_stores_resolves_and_applies(pipeline, db, applier) -> None:
    out = pipeline.ingest_sync([msg("m1"), msg("m2", user="u2")])
    assert (out.stored, out.duplicates, out.dropped) == (2, 0, 0)
    assert stored_ids(db) == ["m1", "m2"]
    assert applier.seen == ["m1", "m2"]
    with db.read() as cur:
        contacts = cur.execute("SELECT count(DISTINCT contact_id) FROM all_events").fetchone()
    assert contacts == (2,)


def test_retry_is_a_no_op_and_duplicates_within_one_call_count_once(pipeline, db) -> None:
    first = pipeline.ingest_sync([msg("m1"), msg("m1"), msg("m2")])
    again = pipeline.ingest_sync([msg("m2"), msg("m1")])
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (0, 2)
    assert stored_ids(db) == ["m1", "m2"]


def test_same_message_id_in_two_workspaces_is_two_events(pipeline, db) -> None:
    pipeline.ingest_sync([msg("same", ws="ws_a"), msg("same", ws="ws_b")])
    assert stored_ids(db, "ws_a") == ["same"]
    assert stored_ids(db, "ws_b") == ["same"]


def test_dropped_messages_are_not_stored_and_their_retry_is_a_duplicate(pipeline, db) -> None:
    out = pipeline.ingest_sync([msg("m1", user=BLOCKED_USER), msg("m2")])
    assert (out.stored, out.dropped) == (1, 1)
    assert stored_ids(db) == ["m2"]
    assert pipeline.ingest_sync([msg("m1", user=BLOCKED_USER)]).duplicates == 1


def test_dead_letters_land_with_the_events(pipeline, db) -> None:
    letter = DeadLetter("ws_a", NOW, "track", {"event": 5}, [{"field": "event", "reason": "x"}])
    pipeline.ingest_sync([msg("m1")], [letter])
    with db.read() as cur:
        rows = cur.execute(
            "SELECT endpoint, payload->>'event', status FROM dead_letters"
        ).fetchall()
    assert rows == [("track", "5", "pending")]


def test_exact_dedup_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, background_workers=False)
    for attempt in range(2):
        database = DuckDatabase(tmp_path / "t.duckdb")
        p = IngestPipeline(db=database, resolver=TableResolver(), appliers=[], settings=settings)
        out = p.ingest_sync([msg(f"m{i}") for i in range(50)])
        assert out.stored == (50 if attempt == 0 else 0)
        assert p.dedup.stored is not None
        assert len(p.dedup.stored) == 50
        database.close()


def test_fingerprint_hit_outside_recent_ids_is_checked_exactly(pipeline, db) -> None:
    pipeline.ingest_sync([msg(f"m{i}") for i in range(20)])
    pipeline.dedup.recent.discard([("ws_a", f"m{i}") for i in range(20)])
    out = pipeline.ingest_sync([msg("m3"), msg("new")])
    assert (out.stored, out.duplicates) == (1, 1)
    assert pipeline.dedup.exact_lookups >= 1


async def _run_group(pipeline: IngestPipeline, calls: list[list[Message]]) -> list[object]:
    await pipeline.start()
    try:
        return await asyncio.gather(*(pipeline.ingest(c) for c in calls), return_exceptions=True)
    finally:
        await pipeline.stop()


def test_group_commit_shares_one_unit_and_acknowledges_after_commit(pipeline, db) -> None:
    calls = [[msg(f"r{r}-{i}", user=f"u{r}") for i in range(10)] for r in range(8)]
    resolver = pipeline.resolver
    assert isinstance(resolver, TableResolver)
    results = asyncio.run(_run_group(pipeline, calls))
    assert all(getattr(r, "stored", None) == 10 for r in results)
    assert resolver.calls < len(calls)  # grouped, not one unit per request
    assert len(stored_ids(db)) == 80


async def _arrive_while_writer_busy(
    pipeline: IngestPipeline, db: DuckDatabase, calls: list[list[Message]]
) -> list[object]:
    """The first call takes the idle writer; the rest arrive one by one while it is held."""
    gate = threading.Event()
    await pipeline.start()
    try:
        blocker = db.submit(lambda c: gate.wait(10))
        tasks = [asyncio.create_task(pipeline.ingest(calls[0]))]
        for call in calls[1:]:
            await asyncio.sleep(0.001)  # separate arrivals, each its own loop turn
            tasks.append(asyncio.create_task(pipeline.ingest(call)))
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in tasks)  # nothing acknowledged before its COMMIT
        gate.set()
        blocker.result(timeout=10)
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        gate.set()
        await pipeline.stop()


def test_the_group_grows_while_the_writer_is_busy(pipeline, db, monkeypatch) -> None:
    import retenta.ingest.pipeline as ingest_pipeline

    monkeypatch.setattr(ingest_pipeline, "PREPARE_CHUNK_EVENTS", 25)  # prepared in chunks
    calls = [[msg(f"g{r}-{i}", user=f"u{r}") for i in range(10)] for r in range(12)]
    resolver = pipeline.resolver
    assert isinstance(resolver, TableResolver)
    results = asyncio.run(_arrive_while_writer_busy(pipeline, db, calls))
    assert [getattr(r, "stored", None) for r in results] == [10] * 12
    assert resolver.calls == 2  # the first request alone, then the other 11 as one unit
    assert len(stored_ids(db)) == 120
    assert pipeline.stats.as_dict()["units"] == 2


def test_a_request_that_cannot_be_prepared_fails_alone(pipeline, db, monkeypatch) -> None:
    import retenta.ingest.units as ingest_units

    real = ingest_units.messages_to_base

    def refuse_unprintable(messages: list[Message]) -> object:
        if any(m.event == "Unprintable" for m in messages):
            raise ValueError("cannot build the Arrow columns")
        return real(messages)

    monkeypatch.setattr(ingest_units, "messages_to_base", refuse_unprintable)
    events = ["Ok", "Ok", "Unprintable", "Ok", "Ok"]
    calls = [[msg(f"p{r}", user=f"u{r}", event=e)] for r, e in enumerate(events)]
    results = asyncio.run(_run_group(pipeline, calls))
    assert isinstance(results[2], ValueError)
    assert [getattr(r, "stored", None) for i, r in enumerate(results) if i != 2] == [1] * 4
    assert stored_ids(db) == ["p0", "p1", "p3", "p4"]


def test_units_that_cannot_be_merged_are_committed_apart(pipeline, db, monkeypatch) -> None:
    """The group-commit loop must never die: a failing merge commits the units one by one."""
    import retenta.ingest.pipeline as ingest_pipeline
    import retenta.ingest.units as ingest_units

    monkeypatch.setattr(ingest_pipeline, "PREPARE_CHUNK_EVENTS", 25)  # several prepared units

    def refuse(units: list[object]) -> object:
        raise ValueError("cannot merge")

    monkeypatch.setattr(ingest_units, "merge", refuse)
    calls = [[msg(f"m{r}-{i}", user=f"u{r}") for i in range(10)] for r in range(12)]
    results = asyncio.run(_arrive_while_writer_busy(pipeline, db, calls))
    assert [getattr(r, "stored", None) for r in results] == [10] * 12
    assert sorted(stored_ids(db)) == sorted(m.message_id for c in calls for m in c)
    assert pipeline.stats.as_dict()["units"] > 2  # committed apart, not as one merged unit


def test_one_bad_request_fails_alone(db, applier, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, background_workers=False)
    resolver = TableResolver(fail_on_event="Poison")
    pipeline = IngestPipeline(db=db, resolver=resolver, appliers=[applier], settings=settings)
    calls = [[msg(f"r{r}", user=f"u{r}", event="Poison" if r == 3 else "Ok")] for r in range(6)]
    results = asyncio.run(_run_group(pipeline, calls))
    assert isinstance(results[3], RuntimeError)
    assert [getattr(r, "stored", None) for i, r in enumerate(results) if i != 3] == [1] * 5
    assert stored_ids(db) == [f"r{r}" for r in range(6) if r != 3]


def test_replay_with_duplicates_and_shuffled_retries_stores_each_event_once(pipeline, db) -> None:
    rng = random.Random(7)
    unique = [msg(f"e{i}", user=f"u{i % 17}") for i in range(600)]
    stream = unique + [rng.choice(unique) for _ in range(60)]  # 10% duplicates
    rng.shuffle(stream)
    batches = [stream[i : i + 37] for i in range(0, len(stream), 37)]
    retries = [rng.choice(batches) for _ in range(5)]  # whole requests re-sent
    results = asyncio.run(_run_group(pipeline, batches + retries))
    assert sum(getattr(r, "stored", 0) for r in results) == 600
    with db.read() as cur:
        dupes = cur.execute(
            "SELECT count(*) - count(DISTINCT message_id) FROM all_events"
        ).fetchone()
    assert dupes == (0,)
    assert len(stored_ids(db)) == 600


def test_python_and_sql_filter_hashes_agree(db) -> None:
    """The hash DuckDB stores (``insert_keys`` without hashes: ``HASH_SQL``) is the one
    Python computes for the filter and the table probe."""
    import pyarrow as pa

    from retenta.ingest.dedup import HASH_SQL, hash_keys, insert_keys

    keys = [("ws_a", "m1"), ("ws_a", "ünïcødé-✓"), ("ws_b", ""), ("ws_b", "x" * 255)]
    table = pa.table({"workspace_id": [k[0] for k in keys], "message_id": [k[1] for k in keys]})
    db.write(lambda c: insert_keys(c, table))
    with db.read() as cur:
        rows = cur.execute(
            f"SELECT h, {HASH_SQL} FROM message_ids ORDER BY workspace_id, message_id"
        ).fetchall()
    expected = hash_keys(sorted(keys)).tolist()
    assert [r[0] for r in rows] == expected
    assert [r[1] for r in rows] == expected


def test_many_old_retries_are_settled_by_one_table_probe(pipeline, db) -> None:
    pipeline.ingest_sync([msg(f"m{i}") for i in range(10)])
    pipeline.dedup.recent.discard([("ws_a", f"m{i}") for i in range(10)])
    out = pipeline.ingest_sync([msg(f"m{i}") for i in range(5)] + [msg("fresh")])
    assert (out.stored, out.duplicates) == (1, 5)
    assert pipeline.dedup.exact_lookups == 5
    assert stored_ids(db).count("m1") == 1


def test_ids_stay_found_across_the_sets_merges(pipeline, db) -> None:
    pipeline.ingest_sync([msg("first")])
    assert pipeline.dedup.stored is not None
    pipeline.dedup.stored.merge_at = 16  # merge the sorted delta into the buckets often
    for round_ in range(5):
        pipeline.ingest_sync([msg(f"r{round_}-{i}") for i in range(40)])
    assert len(pipeline.dedup.stored.delta) < 16
    everyone = [msg(f"r{r}-{i}") for r in range(5) for i in range(40)] + [msg("first")]
    pipeline.dedup.recent.discard([(m.workspace_id, m.message_id) for m in everyone])
    out = pipeline.ingest_sync([*everyone, msg("new")])
    assert (out.duplicates, out.stored) == (201, 1)


async def _overload(pipeline: IngestPipeline, db: DuckDatabase) -> tuple[list[object], object]:
    """Hold the writer, queue requests up to the backlog limit, then one more."""
    gate = threading.Event()
    await pipeline.start()
    try:
        blocker = db.submit(lambda c: gate.wait(10))
        first = asyncio.create_task(pipeline.ingest([msg("o-first", user="u0")]))
        await asyncio.sleep(0.01)  # the first request's unit now waits on the held writer
        calls = [[msg(f"o{r}-{i}", user=f"u{r}") for i in range(10)] for r in range(3)]
        queued = [asyncio.create_task(pipeline.ingest(c)) for c in calls]
        await asyncio.sleep(0.01)
        refused = await asyncio.gather(
            pipeline.ingest([msg(f"o-extra-{i}") for i in range(5)]), return_exceptions=True
        )
        gate.set()
        blocker.result(timeout=10)
        return await asyncio.gather(first, *queued, return_exceptions=True), refused[0]
    finally:
        gate.set()
        await pipeline.stop()


def test_a_backlog_past_the_limit_is_refused_with_503_and_nothing_of_it_stored(
    pipeline, db, monkeypatch
) -> None:
    import retenta.ingest.pipeline as ingest_pipeline

    monkeypatch.setattr(ingest_pipeline, "MAX_BACKLOG_EVENTS", 32)
    results, refused = asyncio.run(_overload(pipeline, db))
    assert [getattr(r, "stored", None) for r in results] == [1, 10, 10, 10]
    assert isinstance(refused, ingest_pipeline.OverloadedError)
    assert refused.status == 503
    assert "30 events behind" in refused.message
    assert not any(m.startswith("o-extra") for m in stored_ids(db))
    assert pipeline._backlog == 0  # everything handed over was counted out again
    (again,) = asyncio.run(_run_group(pipeline, [[msg(f"o-extra-{i}") for i in range(5)]]))
    assert getattr(again, "stored", None) == 5  # the retry, once the writer caught up


def test_a_serving_process_settles_its_heap_at_start_and_others_do_not(settings) -> None:
    """``retenta serve`` freezes the start-up heap and raises the young threshold; a pipeline
    started elsewhere (tests, scripts) leaves the collector as it was."""
    import gc

    from retenta.app import build_container
    from retenta.ingest.pipeline import GC_YOUNG_THRESHOLD

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    c = build_container(settings)
    try:
        asyncio.run(_start_stop(c.ingest))
        assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen)
        c.ingest.settle_heap_at_start = True
        asyncio.run(_start_stop(c.ingest))
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        c.close()


async def _start_stop(pipeline: IngestPipeline) -> None:
    await pipeline.start()
    await pipeline.stop()


def test_each_request_of_a_mixed_group_gets_its_own_counts(pipeline, db) -> None:
    """A group with a duplicate, a dropped event and a retry: the per-request counts and the
    stored rows are those of the per-event path, not the all-new fast path."""
    pipeline.ingest_sync([msg("old")])
    calls = [
        [msg("a"), msg("a"), msg("b", user=BLOCKED_USER)],
        [msg("c")],
        [msg("old"), msg("d")],
    ]
    results = asyncio.run(_run_group(pipeline, calls))
    counts = [(r.stored, r.duplicates, r.dropped) for r in results]  # type: ignore[attr-defined]
    assert counts == [(1, 1, 1), (1, 0, 0), (1, 1, 0)]
    assert stored_ids(db) == ["a", "c", "d", "old"]
    with db.read() as cur:
        keys = cur.execute("SELECT message_id FROM message_ids ORDER BY 1").fetchall()
    assert [k[0] for k in keys] == ["a", "b", "c", "d", "old"]  # a dropped id is still taken


def test_a_message_that_arrives_with_a_contact_is_resolved_afresh(pipeline, db) -> None:
    stale = msg("m1", user="u-new")
    stale.contact_id, stale.dropped = 999_999, "left from a failed unit"
    out = pipeline.ingest_sync([stale, msg("m2")])
    assert (out.stored, out.dropped) == (2, 0)
    with db.read() as cur:
        rows = cur.execute(
            "SELECT e.contact_id FROM all_events e JOIN identities i USING (contact_id)"
            " WHERE e.message_id = 'm1' AND i.value = 'u-new'"
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0] != 999_999


def test_recent_ids_keep_at_least_their_capacity_and_at_most_one_add_more() -> None:
    from retenta.ingest.dedup import RecentIds

    recent = RecentIds(100)
    added: list[tuple[str, str]] = []
    for chunk in range(40):
        keys = [("w", f"k{chunk}-{i}") for i in range(7)]
        recent.add(keys + keys[:2])  # repeats inside one add are kept once
        added += keys
        assert all(k in recent for k in added[-100:])
        held = sum(k in recent for k in added)
        assert 100 <= held <= 107 or held == len(added)
    assert ("w", "k0-0") not in recent
    recent.discard([added[-1]])
    assert added[-1] not in recent
    recent.add([added[-1]])
    assert added[-1] in recent


def test_a_merged_unit_is_one_chunk_and_keeps_its_chunks_past_arrow_offsets() -> None:
    import pyarrow as pa

    from retenta.ingest.units import PendingRequest, contiguous, merge, prepare

    units = [prepare([PendingRequest([msg(f"m{i}"), msg(f"n{i}")])]) for i in range(3)]
    merged = merge(units)
    assert merged.base.column("message_id").num_chunks == 1
    assert merged.base.column("message_id").to_pylist() == ["m0", "n0", "m1", "n1", "m2", "n2"]

    class TooBig:  # a string column past 2 GB of 32-bit offsets, without allocating it
        def combine_chunks(self) -> None:
            raise pa.ArrowCapacityError("offset overflow while concatenating arrays")

    too_big = TooBig()
    assert contiguous(too_big) is too_big  # type: ignore[arg-type]
