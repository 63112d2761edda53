"""Reads side by side (``Database.read_together``): on two cursors at once, one snapshot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retenta.storage.duckdb.engine import DuckDatabase


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDatabase]:
    database = DuckDatabase(tmp_path / "fanout.duckdb")
    database.write(lambda cur: cur.execute("CREATE TABLE t (v INTEGER)"))
    database.write(lambda cur: cur.execute("INSERT INTO t VALUES (1), (2)"))
    try:
        yield database
    finally:
        database.close()


def _count(cur: Any) -> int:
    return int(cur.execute("SELECT count(*) FROM t").fetchall()[0][0])


def test_results_come_in_order_from_two_threads(db: DuckDatabase) -> None:
    threads: dict[int, str] = {}

    def read(value: int) -> Any:
        def work(cur: Any) -> int:
            threads[value] = threading.current_thread().name
            return int(cur.execute("SELECT sum(v) + ? FROM t", [value]).fetchall()[0][0])

        return work

    assert db.read_together([read(0), read(10), read(100)]) == [3, 13, 103]
    assert threads[0] == threading.current_thread().name
    assert threads[10].startswith("retenta-fanout")
    assert threads[100].startswith("retenta-fanout")
    assert db._fanout.retried == 0


def test_a_commit_between_the_reads_makes_them_one_snapshot_again(db: DuckDatabase) -> None:
    """The caller's read commits a row (through the writer) after it has read; the half on
    the other thread, held back until then, would see it. Both are read again, in one
    transaction, and agree."""
    wrote = threading.Event()
    writes = 0

    def read_then_write(cur: Any) -> int:
        nonlocal writes
        seen = _count(cur)
        if writes == 0:
            writes += 1
            db.write(lambda w: w.execute("INSERT INTO t VALUES (3)"))
            wrote.set()
        return seen

    def read_after_the_write(cur: Any) -> int:
        wrote.wait(10)
        return _count(cur)

    assert db.read_together([read_then_write, read_after_the_write]) == [3, 3]
    assert db._fanout.retried == 1


def test_a_failing_read_raises_and_leaves_the_threads_free(db: DuckDatabase) -> None:
    def broken(cur: Any) -> int:
        cur.execute("SELECT * FROM no_such_table")
        return 0

    with pytest.raises(Exception, match="no_such_table"):
        db.read_together([_count, broken])
    with pytest.raises(Exception, match="no_such_table"):
        db.read_together([broken, _count])
    threads: dict[int, str] = {}

    def where(index: int) -> Any:
        def work(cur: Any) -> int:
            threads[index] = threading.current_thread().name
            return _count(cur)

        return work

    assert db.read_together([where(0), where(1), where(2)]) == [2, 2, 2]
    # both fan-out slots were free again: neither half ran on the caller's thread
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("retenta-fanout")
    assert threads[2].startswith("retenta-fanout")


def test_on_the_writer_thread_the_reads_see_the_unit(db: DuckDatabase) -> None:
    def unit(cur: Any) -> list[int]:
        cur.execute("INSERT INTO t VALUES (3)")
        return db.read_together([_count, _count])

    assert db.write(unit) == [3, 3]
