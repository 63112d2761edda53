"""The apply lane applies every unit already stored behind the one it runs, in one
transaction; after a failed batch each later unit applies itself alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retenta.core.messages import Message
from retenta.ingest.pipeline import ApplyError, IngestOutcome, IngestPipeline
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase
from tests.ingest.resolvers import TableResolver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WAIT_S = 10


class GatedApplier:
    """Records each call's message ids; the first call waits for ``release``; a call that
    sees ``poison`` fails."""

    name = "gated"

    def __init__(self, poison: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.poison = poison

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        self.entered.set()
        assert self.release.wait(WAIT_S)
        ids = [m.message_id for m in messages]
        self.calls.append(ids)
        if self.poison in ids:
            raise RuntimeError("poisoned batch")


def unit(name: str, n: int = 2) -> list[Message]:
    return [
        Message("ws_a", f"{name}-{i}", "track", NOW, NOW, event="Viewed", user_id=f"u{i}")
        for i in range(n)
    ]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDatabase]:
    database = DuckDatabase(tmp_path / "batching.duckdb")
    yield database
    database.close()


def run_in_threads(pipeline: IngestPipeline, db: DuckDatabase, applier: GatedApplier) -> list[Any]:
    """Unit "a" enters the lane and waits; "b" and "c" are stored meanwhile; then release."""
    results: dict[str, Any] = {}

    def send(name: str) -> None:
        try:
            results[name] = pipeline.ingest_sync(unit(name))
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=send, args=("a",))
    first.start()
    assert applier.entered.wait(WAIT_S)
    others = [threading.Thread(target=send, args=(n,)) for n in ("b", "c")]
    for t in others:
        t.start()
        deadline = time.monotonic() + WAIT_S
        while pending_units(db) < 1 + others.index(t) + 1:  # this one's events are stored
            assert time.monotonic() < deadline
            time.sleep(0.01)
    applier.release.set()
    for t in [first, *others]:
        t.join(WAIT_S)
    return [results[n] for n in ("a", "b", "c")]


def make_pipeline(db: DuckDatabase, applier: GatedApplier, tmp_path: Path) -> IngestPipeline:
    settings = Settings(data_dir=tmp_path, background_workers=False)
    return IngestPipeline(db=db, resolver=TableResolver(), appliers=[applier], settings=settings)


def pending_units(db: DuckDatabase) -> int:
    with db.read() as cur:
        return int(cur.execute("SELECT count(DISTINCT seq) FROM apply_pending").fetchall()[0][0])


def test_units_stored_while_the_lane_is_busy_are_applied_together(
    db: DuckDatabase, tmp_path: Path
) -> None:
    applier = GatedApplier()
    pipeline = make_pipeline(db, applier, tmp_path)
    results = run_in_threads(pipeline, db, applier)
    assert [r.stored for r in results] == [2, 2, 2]
    assert applier.calls == [["a-0", "a-1"], ["b-0", "b-1", "c-0", "c-1"]]
    assert pending_units(db) == 0


def test_after_a_failed_batch_each_later_unit_applies_alone(
    db: DuckDatabase, tmp_path: Path
) -> None:
    applier = GatedApplier(poison="c-1")
    pipeline = make_pipeline(db, applier, tmp_path)
    a, b, c = run_in_threads(pipeline, db, applier)
    assert isinstance(a, IngestOutcome)
    assert isinstance(b, ApplyError)  # it failed with the batch that held "c"
    assert isinstance(c, ApplyError)  # and "c" again, alone
    assert applier.calls == [["a-0", "a-1"], ["b-0", "b-1", "c-0", "c-1"], ["c-0", "c-1"]]
    assert pending_units(db) == 2  # both stay pending for the next start
