"""The apply lane: a staged unit's second part runs on a connection of its own, behind the
writer, and every other unit waits until the lane is empty."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retenta.storage.duckdb.engine import DuckDatabase

WAIT_S = 10


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDatabase]:
    database = DuckDatabase(tmp_path / "lane.duckdb")
    database.write(lambda cur: cur.execute("CREATE TABLE facts (unit INTEGER)"))
    database.write(lambda cur: cur.execute("CREATE TABLE derived (unit INTEGER, seen BIGINT)"))
    yield database
    database.close()


def insert_fact(unit: int) -> Any:
    return lambda cur: cur.execute("INSERT INTO facts VALUES (?)", [unit])


def derive(unit: int, gate: threading.Event | None = None) -> Any:
    """The second part: records how many facts its transaction sees."""

    def work(cur: Any) -> str:
        if gate is not None:
            assert gate.wait(WAIT_S), "the writer did not run while the lane was busy"
        (seen,) = cur.execute("SELECT count(*) FROM facts").fetchall()[0]
        cur.execute("INSERT INTO derived VALUES (?, ?)", [unit, seen])
        return threading.current_thread().name

    return work


def rows(db: DuckDatabase, sql: str) -> list[tuple[Any, ...]]:
    with db.read() as cur:
        return cur.execute(sql).fetchall()


def test_second_parts_run_in_order_on_the_lane_after_their_first_parts(db: DuckDatabase) -> None:
    futures = [db.submit_staged(insert_fact(u), derive(u)) for u in range(1, 6)]
    threads = [then.result(WAIT_S) for _, then in futures]
    assert set(threads) == {"retenta-applier"}
    derived = rows(db, "SELECT unit, seen FROM derived ORDER BY rowid")
    assert [u for u, _ in derived] == [1, 2, 3, 4, 5]  # in submission order
    assert all(seen >= unit for unit, seen in derived)  # each saw its own first part


def test_the_writer_goes_on_while_the_lane_applies(db: DuckDatabase) -> None:
    """Unit 1's second part waits until unit 2's first part has run: with one writer this
    would never finish."""
    second_first_ran = threading.Event()

    def first_of_two(cur: Any) -> None:
        cur.execute("INSERT INTO facts VALUES (2)")
        second_first_ran.set()

    _, then1 = db.submit_staged(insert_fact(1), derive(1, gate=second_first_ran))
    first2, then2 = db.submit_staged(first_of_two, derive(2))
    first2.result(WAIT_S)
    then1.result(WAIT_S)
    then2.result(WAIT_S)
    assert rows(db, "SELECT unit FROM derived ORDER BY rowid") == [(1,), (2,)]


def test_a_plain_unit_waits_for_the_lane_and_sees_its_work(db: DuckDatabase) -> None:
    release = threading.Event()
    _, then = db.submit_staged(insert_fact(1), derive(1, gate=release))
    counted = db.submit(lambda cur: cur.execute("SELECT count(*) FROM derived").fetchall()[0][0])
    threading.Timer(0.3, release.set).start()
    assert counted.result(WAIT_S) == 1  # ran only once the second part had committed
    assert then.done()


def test_a_failed_first_part_skips_its_second_part(db: DuckDatabase) -> None:
    def failing(cur: Any) -> None:
        cur.execute("INSERT INTO facts VALUES (9)")
        raise RuntimeError("resolve failed")

    first, then = db.submit_staged(failing, derive(9))
    with pytest.raises(RuntimeError, match="resolve failed"):
        first.result(WAIT_S)
    with pytest.raises(RuntimeError, match="resolve failed"):
        then.result(WAIT_S)
    db.write(lambda cur: None)  # the lane is empty again: a plain unit runs
    assert rows(db, "SELECT count(*) FROM facts") == [(0,)]
    assert rows(db, "SELECT count(*) FROM derived") == [(0,)]


def test_a_failed_second_part_rolls_back_alone(db: DuckDatabase) -> None:
    def failing(cur: Any) -> None:
        cur.execute("INSERT INTO derived VALUES (7, 0)")
        raise ValueError("apply failed")

    first, then = db.submit_staged(insert_fact(7), failing)
    first.result(WAIT_S)
    with pytest.raises(ValueError, match="apply failed"):
        then.result(WAIT_S)
    assert rows(db, "SELECT unit FROM facts") == [(7,)]
    assert rows(db, "SELECT count(*) FROM derived") == [(0,)]
    _, later = db.submit_staged(insert_fact(8), derive(8))
    later.result(WAIT_S)  # the lane goes on
    assert rows(db, "SELECT unit FROM derived") == [(8,)]


def test_inside_a_writer_unit_both_parts_run_in_its_transaction(db: DuckDatabase) -> None:
    def unit(cur: Any) -> tuple[Any, Any]:
        first, then = db.submit_staged(insert_fact(3), derive(3))
        return first.result(), then.result()

    assert db.write(unit)[1] == "retenta-writer"
    assert rows(db, "SELECT unit, seen FROM derived") == [(3, 1)]


def test_the_lane_cannot_wait_for_the_writer(db: DuckDatabase) -> None:
    def nested(cur: Any) -> None:
        db.write(lambda c: None)

    _, then = db.submit_staged(insert_fact(1), nested)
    with pytest.raises(RuntimeError, match="apply lane"):
        then.result(WAIT_S)


def test_close_finishes_what_the_lane_was_given(tmp_path: Path) -> None:
    database = DuckDatabase(tmp_path / "close.duckdb")
    database.write(lambda cur: cur.execute("CREATE TABLE facts (unit INTEGER)"))
    database.write(lambda cur: cur.execute("CREATE TABLE derived (unit INTEGER, seen BIGINT)"))
    futures = [database.submit_staged(insert_fact(u), derive(u)) for u in range(20)]
    database.close()
    assert all(then.done() and then.exception() is None for _, then in futures)
    reopened = DuckDatabase(tmp_path / "close.duckdb")
    try:
        assert rows(reopened, "SELECT count(*) FROM derived") == [(20,)]
    finally:
        reopened.close()
