"""The writer's telemetry (``storage/duckdb/telemetry.py``) counts what the writer did."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from retenta.storage.duckdb.engine import DuckDatabase
from tests.metrics.samples import value


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = DuckDatabase(tmp_path / "db.duckdb", checkpoint_threshold="1MiB")
    yield database
    database.close()


def samples(db: DuckDatabase) -> list[Any]:
    return list(db.telemetry.collect())


def test_checkpoints_after_acknowledged_units_are_timed_by_kind(db: DuckDatabase) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id BIGINT, s VARCHAR)"))
    for first in range(0, 60_000, 5_000):  # ~3.5 MB through a 0.5 MiB share: checkpoints
        db.write(
            lambda c, first=first: c.execute(
                "INSERT INTO t SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR)"
                " FROM range(?, ?) r(i)",
                [first, first + 5_000],
            )
        )
    got = samples(db)
    light = value(got, "retenta_storage_checkpoint_duration_seconds_count", kind="light") or 0
    full = value(got, "retenta_storage_checkpoint_duration_seconds_count", kind="full") or 0
    assert light + full >= 2
    assert value(got, "retenta_storage_writer_units_total", outcome="committed") == 13
    assert value(got, "retenta_storage_writer_unit_duration_seconds_count") == 13
    commit = value(got, "retenta_storage_commit_seconds_total")
    units = value(got, "retenta_storage_writer_unit_duration_seconds_sum")
    assert commit is not None
    assert units is not None
    assert 0 < commit < units


def test_a_checkpoint_refused_inside_a_transaction_is_counted(db: DuckDatabase) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t (id BIGINT)"))

    def refused(c: Any) -> bool:
        c.execute("INSERT INTO t VALUES (1)")  # changes of its own, not committed
        return db._checkpoint(c)

    assert db.write(refused) is False
    assert value(samples(db), "retenta_storage_checkpoints_refused_total") == 1


def test_reads_run_again_are_counted_by_cause(db: DuckDatabase) -> None:
    db.write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS v"))
    probe = db.probe_event_tiers([7])
    wrote = threading.Event()

    def read_then_write(cur: Any) -> int:
        if not wrote.is_set():
            db.write(lambda w: w.execute("INSERT INTO t VALUES (2)"))
            wrote.set()
        return int(cur.execute("SELECT count(*) FROM t").fetchall()[0][0])

    def read_after(cur: Any) -> int:
        wrote.wait(10)
        return int(cur.execute("SELECT count(*) FROM t").fetchall()[0][0])

    assert db.read_together([read_then_write, read_after]) == [2, 2]
    assert probe.absent
    assert not probe.held()
    got = samples(db)
    assert value(got, "retenta_storage_read_retries_total", cause="snapshot") == 1
    assert value(got, "retenta_storage_read_retries_total", cause="stale_tier_probe") == 1


def test_a_checkpoint_duckdb_ran_inside_a_commit_is_counted(db: DuckDatabase) -> None:
    """A unit larger than the whole threshold: DuckDB checkpoints in its COMMIT itself."""
    db.write(lambda c: c.execute("CREATE TABLE t (id BIGINT, s VARCHAR)"))
    db.write(lambda c: c.execute("INSERT INTO t VALUES (1, 'x')"))  # a WAL, below the share
    assert value(samples(db), "retenta_storage_commit_checkpoints_total") == 0
    db.write(lambda c: c.execute("INSERT INTO t SELECT i, md5(i::VARCHAR) FROM range(60000) r(i)"))
    db.write(lambda c: None)  # the writer looks at the WAL after a unit's answer: then it has
    assert value(samples(db), "retenta_storage_commit_checkpoints_total") == 1
