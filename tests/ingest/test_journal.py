"""The intake journal (``ingest/journal.py``): requests answered once journaled, applied
behind the answer, applied again after a crash, set aside when the writer cannot store
them; and the segment files themselves."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from retenta.ingest import journal as journal_module
from retenta.ingest import pipeline as pipeline_module
from retenta.ingest.dedup import hash_keys
from retenta.ingest.journal import RECORD, IntakeJournal, StoredRecord, read_applied
from retenta.ingest.pipeline import IngestPipeline
from retenta.ingest.wire import encode_unit
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase
from retenta.storage.duckdb.events import messages_to_base
from tests.ingest.servers import init_data_dir, serve_subprocess
from tests.ingest.test_deferred import TableApplier, open_pipeline, rows
from tests.ingest.test_pipeline import msg

# -- the segment files ----------------------------------------------------------------


def contents(records: list[StoredRecord]) -> list[tuple[int, bytes]]:
    return [(r.seq, r.read()) for r in records]


def test_records_come_back_in_order_after_the_applied_one(tmp_path: Path) -> None:
    journal = IntakeJournal(tmp_path)
    assert contents(journal.open(applied=0)) == []
    journal.write(list(zip(journal.reserve(3), [b"a", b"bb", b"ccc"], strict=True)))
    journal.close()
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=1)) == [(2, b"bb"), (3, b"ccc")]
    assert again.reserve(1) == [4]
    again.close()


def test_a_torn_tail_is_cut_off_and_never_returned(tmp_path: Path) -> None:
    journal = IntakeJournal(tmp_path)
    journal.open(applied=0)
    journal.write([(1, b"whole"), (2, b"torn record")])
    journal.close()
    (segment,) = tmp_path.glob("journal-*.log")
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # the process died inside the second record's write
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=0)) == [(1, b"whole")]
    assert segment.stat().st_size == RECORD.size + len(b"whole")
    again.close()


def test_a_record_that_fails_its_checksum_ends_the_scan(tmp_path: Path) -> None:
    journal = IntakeJournal(tmp_path)
    journal.open(applied=0)
    journal.write([(1, b"first"), (2, b"second"), (3, b"third")])
    journal.close()
    (segment,) = tmp_path.glob("journal-*.log")
    data = bytearray(segment.read_bytes())
    data[2 * RECORD.size + len(b"first") + 1] ^= 0xFF  # a byte of "second"
    segment.write_bytes(bytes(data))
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=0)) == [(1, b"first")]
    again.close()


def test_segments_roll_over_and_only_fully_applied_ones_are_deleted(tmp_path: Path) -> None:
    journal = IntakeJournal(tmp_path, segment_bytes=64)
    journal.open(applied=0)
    for seq in journal.reserve(6):
        journal.write([(seq, b"x" * 40)])  # past 64 bytes after every second record
    names = sorted(p.name for p in tmp_path.glob("journal-*.log"))
    assert names == [f"journal-{first:020d}.log" for first in (1, 3, 5)]  # 2 records each
    journal.release(applied=3)  # record 4 is not applied: its segment stays
    assert sorted(p.name for p in tmp_path.glob("journal-*.log")) == names[1:]
    journal.release(applied=6)  # the open segment is never deleted
    assert sorted(p.name for p in tmp_path.glob("journal-*.log")) == names[2:]
    journal.close()
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=4)) == [(5, b"x" * 40), (6, b"x" * 40)]
    again.close()


def segment_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("journal-*.log"))


def test_an_applied_open_segment_is_rolled_over_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet journal does not keep raw events in its open segment forever."""
    journal = IntakeJournal(tmp_path)
    journal.open(applied=0)
    journal.write([(1, b"one"), (2, b"two")])
    journal.release(applied=1)  # record 2 is not applied: nothing goes
    journal.run_sync_barrier()
    assert segment_names(tmp_path) == [f"journal-{1:020d}.log"]
    journal.release(applied=2)  # all applied, but the segment is younger than ROLL_AFTER_S
    journal.run_sync_barrier()
    assert segment_names(tmp_path) == [f"journal-{1:020d}.log"]
    monkeypatch.setattr(journal_module, "ROLL_AFTER_S", 0.0)
    journal.release(applied=2)
    journal.run_sync_barrier()
    assert segment_names(tmp_path) == [f"journal-{3:020d}.log"]  # empty, for what comes
    assert journal.open_segment_bytes == 0
    journal.write([(3, b"three")])
    journal.close()
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=2)) == [(3, b"three")]
    again.close()


def test_a_clean_close_with_everything_applied_deletes_the_segments(tmp_path: Path) -> None:
    journal = IntakeJournal(tmp_path)
    journal.open(applied=0)
    journal.write([(1, b"one")])
    journal.close(applied=0)  # record 1 not applied: kept
    assert segment_names(tmp_path) == [f"journal-{1:020d}.log"]
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=0)) == [(1, b"one")]
    again.close(applied=1)
    assert segment_names(tmp_path) == []


# -- the pipeline ---------------------------------------------------------------------

LEAD = 500  # the journal's lead, smaller (the test holds that many events)


def open_journaled(path: Path, applier: TableApplier) -> tuple[DuckDatabase, IngestPipeline]:
    return open_pipeline(path, applier, ingest_acknowledge="journal")


@pytest.fixture
def journaled(tmp_path: Path) -> Iterator[tuple[DuckDatabase, IngestPipeline, TableApplier]]:
    applier = TableApplier(fail_on="bad-1")
    db, pipeline = open_journaled(tmp_path, applier)
    yield db, pipeline, applier
    db.close()


def stored_ids(db: DuckDatabase) -> list[str]:
    return [r[0] for r in rows(db, "SELECT message_id FROM all_events ORDER BY message_id")]


class BlockedWriter:
    """Holds the writer inside a unit of its own until released."""

    def __init__(self, db: DuckDatabase) -> None:
        self.db = db
        self.entered = threading.Event()
        self.release = threading.Event()

    def hold(self, conn: Any) -> None:
        self.entered.set()
        assert self.release.wait(30)

    async def start(self) -> asyncio.Future[None]:
        held = asyncio.ensure_future(self.db.awrite(self.hold))
        await asyncio.to_thread(self.entered.wait, 30)
        return held


def test_an_early_request_is_answered_before_the_writer_stores_it(
    journaled: tuple[DuckDatabase, IngestPipeline, TableApplier],
) -> None:
    db, pipeline, _applier = journaled

    async def run() -> None:
        await pipeline.start()
        blocked = BlockedWriter(db)
        held = await blocked.start()
        outcome = await asyncio.wait_for(
            pipeline.ingest([msg("e-1"), msg("e-2")], early=True), timeout=10
        )
        assert outcome.applied is False  # answered from the journal …
        assert stored_ids(db) == []  # … while the writer has not stored anything
        blocked.release.set()
        await held
        late = await pipeline.ingest([msg("e-3")])  # not early: answered after its COMMIT
        assert late.applied
        assert late.stored == 1
        await pipeline.stop()

    asyncio.run(run())
    assert stored_ids(db) == ["e-1", "e-2", "e-3"]
    assert sorted(r[0] for r in rows(db, "SELECT id FROM applied")) == ["e-1", "e-2", "e-3"]
    with db.read() as cur:
        assert read_applied(cur) >= 1


def test_a_restart_applies_what_was_journaled_and_never_stored(tmp_path: Path) -> None:
    """A previous process journaled two records (answered) and died before storing them."""
    db, pipeline = open_journaled(tmp_path, TableApplier())
    journal = IntakeJournal(tmp_path / "ingest-journal")
    journal.open(applied=0)
    for seq, ids in zip(journal.reserve(2), (["r-1", "r-2"], ["r-3"]), strict=True):
        messages = [msg(i, user=i) for i in ids]
        keys = [(m.workspace_id, m.message_id) for m in messages]
        payload = encode_unit([(messages, [])], hash_keys(keys), messages_to_base(messages))
        journal.write([(seq, payload)])
    journal.close()

    async def restart() -> None:
        await pipeline.start()
        await pipeline.stop()

    asyncio.run(restart())
    assert stored_ids(db) == ["r-1", "r-2", "r-3"]
    with db.read() as cur:
        assert read_applied(cur) == 2
    asyncio.run(restart())  # applied once only: nothing after #2 is left
    assert stored_ids(db) == ["r-1", "r-2", "r-3"]
    db.close()


def journal_records(path: Path, batches: list[list[str]]) -> None:
    """Records a previous process journaled (and answered) and never stored."""
    journal = IntakeJournal(path / "ingest-journal")
    journal.open(applied=0)
    for seq, ids in zip(journal.reserve(len(batches)), batches, strict=True):
        messages = [msg(i, user=i) for i in ids]
        keys = [(m.workspace_id, m.message_id) for m in messages]
        payload = encode_unit([(messages, [])], hash_keys(keys), messages_to_base(messages))
        journal.write([(seq, payload)])
    journal.close()


def test_a_start_reads_the_records_as_it_applies_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a long outage the journal may hold far more than memory: a start reads one
    group's records at a time (here groups of 6 events, records of 3)."""
    batches = [[f"g-{n}-{i}" for i in range(3)] for n in range(6)]
    journal_records(tmp_path, batches)
    db, pipeline = open_journaled(tmp_path, TableApplier())
    monkeypatch.setattr(pipeline_module, "MAX_GROUP_EVENTS", 6)
    seen: list[str] = []
    read = StoredRecord.read

    def read_and_note(record: StoredRecord) -> bytes:
        seen.append(f"read {record.seq}")
        return read(record)

    monkeypatch.setattr(StoredRecord, "read", read_and_note)
    commit = pipeline._commit

    async def commit_and_note(unit: Any) -> None:
        seen.append(f"commit {unit.journal_seq}")
        await commit(unit)

    monkeypatch.setattr(pipeline, "_commit", commit_and_note)

    async def restart() -> None:
        await pipeline.start()
        await pipeline.stop()

    asyncio.run(restart())
    assert stored_ids(db) == sorted(i for ids in batches for i in ids)
    assert seen == ["read 1", "read 2", "commit 2", "read 3", "read 4", "commit 4",
                    "read 5", "read 6", "commit 6"]  # fmt: skip
    db.close()


def test_after_a_start_died_applying_the_records_go_one_by_one(tmp_path: Path) -> None:
    """The mark says the last start died on record 1: each record is its own unit now,
    so the next death names the record that causes it."""
    db, pipeline = open_journaled(tmp_path, TableApplier())
    journal_records(tmp_path, [["a-1"], ["a-2"], ["a-3"]])
    IntakeJournal(tmp_path / "ingest-journal").write_mark(1, crashes=0)

    async def restart() -> None:
        await pipeline.start()
        await pipeline.stop()

    asyncio.run(restart())
    assert stored_ids(db) == ["a-1", "a-2", "a-3"]
    assert pipeline.stats.as_dict()["units"] == 3
    assert not (tmp_path / "ingest-journal" / "replaying").exists()
    db.close()


def test_a_record_the_server_died_on_three_times_is_set_aside(tmp_path: Path) -> None:
    db, pipeline = open_journaled(tmp_path, TableApplier())
    journal_records(tmp_path, [["poison-1", "poison-2"], ["fine-1"]])
    IntakeJournal(tmp_path / "ingest-journal").write_mark(1, crashes=2)

    async def restart() -> None:
        await pipeline.start()
        await pipeline.stop()

    asyncio.run(restart())
    assert stored_ids(db) == ["fine-1"]
    letters = rows(db, "SELECT payload->>'messageId', errors FROM dead_letters ORDER BY 1")
    assert [m for m, _ in letters] == ["poison-1", "poison-2"]
    assert all("died applying it 3 times" in errors for _, errors in letters)
    with db.read() as cur:
        assert read_applied(cur) == 2
    db.close()


def test_a_journaled_event_the_writer_refuses_becomes_a_dead_letter(
    journaled: tuple[DuckDatabase, IngestPipeline, TableApplier],
) -> None:
    """Answered already, so it cannot be refused: its request's events are set aside as
    dead letters (of their type's endpoint), the other requests are stored."""
    db, pipeline, _ = journaled

    async def run() -> None:
        await pipeline.start()
        blocked = BlockedWriter(db)
        held = await blocked.start()
        answers = [
            pipeline.ingest([msg("ok-1")], early=True),
            pipeline.ingest([msg("bad-0"), msg("bad-1")], early=True),
            pipeline.ingest([msg("ok-2")], early=True),
        ]
        outcomes = await asyncio.wait_for(asyncio.gather(*answers), timeout=10)
        assert [o.applied for o in outcomes] == [False, False, False]
        blocked.release.set()
        await held
        await pipeline.stop()

    asyncio.run(run())
    assert stored_ids(db) == ["ok-1", "ok-2"]
    letters = rows(
        db, "SELECT endpoint, payload->>'messageId', errors FROM dead_letters ORDER BY 2"
    )
    assert [(e, m) for e, m, _ in letters] == [("track", "bad-0"), ("track", "bad-1")]
    assert all("an event commerce cannot take" in errors for _, _, errors in letters)


def test_past_the_lead_a_request_waits_for_its_commit(
    journaled: tuple[DuckDatabase, IngestPipeline, TableApplier],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, pipeline, _ = journaled
    monkeypatch.setattr(pipeline.pace, "lead_events", lambda: LEAD)

    async def run() -> None:
        await pipeline.start()
        blocked = BlockedWriter(db)
        held = await blocked.start()
        ids = [f"lead-{i}" for i in range(LEAD)]
        first = await pipeline.ingest([msg(i) for i in ids], early=True)
        assert first.applied is False
        behind = asyncio.ensure_future(pipeline.ingest([msg("behind")], early=True))
        await asyncio.sleep(0.2)
        assert not behind.done()  # the writer is a lead behind: this one waits for COMMIT
        blocked.release.set()
        await held
        outcome = await asyncio.wait_for(behind, timeout=30)
        assert outcome.applied
        assert outcome.stored == 1
        await pipeline.stop()

    asyncio.run(run())
    assert len(stored_ids(db)) == LEAD + 1


def test_duplicates_in_the_journal_are_stored_once(
    journaled: tuple[DuckDatabase, IngestPipeline, TableApplier],
) -> None:
    db, pipeline, _ = journaled

    async def run() -> None:
        await pipeline.start()
        for _ in range(3):
            await pipeline.ingest([msg("same"), msg("other")], early=True)
        await pipeline.stop()

    asyncio.run(run())
    assert stored_ids(db) == ["other", "same"]
    assert rows(db, "SELECT id FROM applied ORDER BY id") == [("other",), ("same",)]


# -- reads after journaled answers (a real server) ---------------------------------------


def test_the_api_reads_what_the_journal_acknowledged(tmp_path: Path) -> None:
    """Each identify is answered from the journal; the lookup right after it, on the same
    connection, finds the contact (the API waits for the journaled requests' COMMIT)."""
    data = tmp_path / "data"
    keys = init_data_dir(data)
    env = {"RETENTA_INGEST_ACKNOWLEDGE": "journal"}
    bearer = {"Authorization": f"Bearer {keys['api_key']}"}
    with (
        serve_subprocess(data, env=env) as (url, _),
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        for i in range(25):
            body = {"userId": f"j-{i}", "traits": {"email": f"j{i}@example.com"}}
            sent = http.post("/v1/identify", json=body, auth=(keys["write_key"], ""))
            assert sent.status_code == 200
            found = http.get(f"/api/v1/contacts/lookup?external_id=j-{i}", headers=bearer)
            assert found.status_code == 200, found.text
            assert found.json()["attributes"]["email"] == f"j{i}@example.com"
    # a clean stop leaves no raw events behind: every record was applied
    assert list((data / "ingest-journal").glob("journal-*.log")) == []


def test_the_product_answers_from_the_journal_unless_told_otherwise() -> None:
    """The default a server gets (this suite pins ``commit`` in its environment)."""
    assert Settings.model_fields["ingest_acknowledge"].default == "journal"
    assert Settings(ingest_acknowledge="commit").ingest_acknowledge == "commit"


def test_a_failed_write_sends_the_next_records_to_a_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half a record reached the disk before the write failed: what is written after it
    must not sit behind the torn record, where the scan would never reach it."""
    journal = IntakeJournal(tmp_path)
    journal.open(applied=0)
    journal.write([(1, b"before")])
    real_write = os.write

    def half_then_fail(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        journal.write([(2, b"never answered")])
    monkeypatch.setattr(os, "write", real_write)
    journal.write([(3, b"after")])
    journal.close()
    again = IntakeJournal(tmp_path)
    assert contents(again.open(applied=0)) == [(1, b"before"), (3, b"after")]
    again.close()
