"""The writer tells its outcome listeners how each unit of work ended, before it resolves."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from retenta.storage.duckdb.engine import DuckDatabase


def test_listeners_hear_each_commit_and_rollback_on_the_writer_thread(tmp_path: Path) -> None:
    db = DuckDatabase(tmp_path / "db.duckdb")
    heard: list[tuple[bool, str, int]] = []

    def listener(committed: bool) -> None:
        with db.read() as cur:  # what a reader sees once the listener is told
            (n,) = cur.execute("SELECT count(*) FROM t").fetchall()[0]
        heard.append((committed, threading.current_thread().name, n))

    try:
        db.write(lambda cur: cur.execute("CREATE TABLE t (x INTEGER)"))
        db.outcome_listeners.append(listener)
        db.write(lambda cur: cur.execute("INSERT INTO t VALUES (1)"))

        def failing(cur: Any) -> None:
            cur.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("an applier failed")

        with pytest.raises(RuntimeError):
            db.write(failing)
        # told before the future resolves: the caller sees the listener's work done
        assert heard == [(True, "retenta-writer", 1), (False, "retenta-writer", 1)]
    finally:
        db.close()


def test_a_failing_listener_neither_changes_the_outcome_nor_silences_the_others(
    tmp_path: Path,
) -> None:
    db = DuckDatabase(tmp_path / "db.duckdb")
    heard: list[bool] = []

    def broken(committed: bool) -> None:
        raise ValueError("listener bug")

    db.outcome_listeners += [broken, heard.append]
    try:
        assert db.write(lambda cur: cur.execute("SELECT 7").fetchall()) == [(7,)]
        assert heard == [True]
        assert db.write(lambda cur: cur.execute("SELECT 8").fetchall()) == [(8,)]
        assert heard == [True, True]
    finally:
        db.close()


def test_the_caller_hears_the_error_that_aborted_the_unit_not_a_later_one(tmp_path: Path) -> None:
    """A statement after the failing one (an unregister in a ``finally``) raises "Current
    transaction is aborted"; the caller is told the first error, with its own type."""
    db = DuckDatabase(tmp_path / "db.duckdb")
    try:
        db.write(lambda cur: cur.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        db.write(lambda cur: cur.execute("INSERT INTO t VALUES (1)"))

        def unit(cur: Any) -> None:
            try:
                cur.execute("INSERT INTO t VALUES (1)")
            finally:
                cur.execute("SELECT 1")  # refused: the transaction is aborted

        with pytest.raises(duckdb.ConstraintException, match="Duplicate key"):
            db.write(unit)
        with db.read() as cur:
            assert cur.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    finally:
        db.close()
