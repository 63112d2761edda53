"""DuckDB's pool sized to the memory budget (``storage/duckdb/memory.py``), with real DuckDB."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase
from retenta.storage.duckdb.memory import (
    GROW_STEP,
    Budget,
    MiB,
    PoolGovernor,
    next_limit,
    process_rss,
    size_bytes,
)
from retenta.storage.registry import open_database

LIMIT = "SELECT current_setting('memory_limit')"
POOL_USED = "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def limit_of(conn: duckdb.DuckDBPyConnection) -> int:
    found = size_bytes(conn.execute(LIMIT).fetchall()[0][0])
    assert found is not None
    return found


@given(
    process=st.integers(0, 64 << 30),
    pool_max=st.integers(256 * MiB, 16 << 30),
    rss=st.integers(0, 64 << 30),
    used=st.integers(0, 64 << 30),
)
def test_the_pool_is_what_the_rest_leaves_within_its_bounds(
    process: int, pool_max: int, rss: int, used: int
) -> None:
    budget = Budget(process=process, pool_max=pool_max)
    pool = budget.pool_for(rss, used)
    assert budget.pool_min <= pool <= pool_max
    others = max(0, rss - used)
    if budget.pool_min < pool < pool_max:
        assert others + pool + budget.headroom == process


@given(current=st.integers(256 * MiB, 8 << 30), target=st.integers(256 * MiB, 8 << 30))
def test_a_limit_goes_down_promptly_and_up_by_a_step(current: int, target: int) -> None:
    new = next_limit(current, target)
    if new is None:
        assert current - 16 * MiB < target < current + GROW_STEP
    else:
        assert new == target


def test_process_rss_reads_this_process() -> None:
    rss = process_rss()
    assert rss is not None
    assert 20 * MiB < rss < 64 << 30


def test_the_governor_evicts_the_pool_down_to_what_the_budget_leaves(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "pool.duckdb"), config={"memory_limit": "1GB"})
    conn.execute("CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS s FROM range(2000000) r(i)")
    conn.execute("CHECKPOINT")
    conn.execute("SELECT sum(i), max(s) FROM t").fetchall()  # blocks now cached in the pool
    cached = conn.execute(POOL_USED).fetchall()[0][0]
    assert cached > 24 * MiB
    # what the process holds besides the pool leaves the pool half of what it caches now
    rss = {"now": 1400 * MiB - 96 * MiB + cached - cached // 2}
    clock = Clock()
    budget = Budget(process=1400 * MiB, pool_max=1 << 30, pool_min=4 * MiB)
    governor = PoolGovernor(budget, rss=lambda: rss["now"], clock=clock)
    expected = cached // 2
    assert governor.govern(conn) == expected
    assert abs(limit_of(conn) - expected) < MiB  # DuckDB keeps it rounded
    assert conn.execute(POOL_USED).fetchall()[0][0] <= expected
    clock.now += 1.0  # not due yet: nothing read, nothing set
    rss["now"] = 100 * MiB
    assert governor.govern(conn) is None
    clock.now += 1.0  # due: a small process gets the pool's whole ceiling back
    assert governor.govern(conn) == 1 << 30
    assert limit_of(conn) == pytest.approx(1 << 30, rel=0.01)
    assert governor.govern(conn) is None
    assert governor.seconds_left() == 2.0


def test_over_budget_it_says_so_once(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "over.duckdb"))
    clock = Clock()
    budget = Budget(process=500 * MiB, pool_max=1 << 30)
    governor = PoolGovernor(budget, rss=lambda: 900 * MiB, clock=clock)
    with caplog.at_level("WARNING", logger="retenta.storage.duckdb.memory"):
        assert governor.govern(conn) == budget.pool_min
        clock.now += 5
        governor.govern(conn)
    warnings = [r for r in caplog.records if "memory_budget" in r.getMessage()]
    assert len(warnings) == 1
    assert "RETENTA_STORAGE__MEMORY_BUDGET" in warnings[0].getMessage()


def test_the_writer_governs_while_idle_and_between_units(tmp_path: Path) -> None:
    """A budget smaller than the process already is: the idle writer lowers the pool to its
    floor (half its ceiling) without any unit being written, and units still run."""
    budget = (process_rss() or 0) // MiB + 50  # the rest alone exceeds it
    db = DuckDatabase(tmp_path / "w.duckdb", memory_limit="1GB", memory_budget=f"{budget}MiB")
    try:
        deadline = time.monotonic() + 10
        with db.read() as cur:
            while limit_of(cur) > 600 * MiB and time.monotonic() < deadline:
                time.sleep(0.05)
            assert limit_of(cur) == pytest.approx(10**9 / 2, rel=0.01)  # half its ceiling
        assert db.write(lambda c: c.execute("SELECT 42").fetchall()) == [(42,)]
    finally:
        db.close()


def test_without_a_budget_the_pool_stays_as_configured(tmp_path: Path) -> None:
    db = DuckDatabase(tmp_path / "n.duckdb", memory_limit="1GB", memory_budget=None)
    try:
        db.write(lambda c: c.execute("SELECT 1").fetchall())
        time.sleep(0.1)
        with db.read() as cur:
            assert limit_of(cur) == pytest.approx(10**9, rel=0.01)
    finally:
        db.close()


def test_the_server_settings_carry_the_budget(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.storage.memory_budget == "1400MiB"
    db = open_database(settings)
    try:
        assert isinstance(db, DuckDatabase)
        assert db._governor is not None
        assert db._governor.budget.process == 1400 * MiB
        assert db._governor.budget.pool_max == 10**9
        assert db._governor.budget.pool_min == 10**9 // 2
    finally:
        db.close()


def test_a_budget_that_is_not_a_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_budget '1400'"):
        DuckDatabase(tmp_path / "bad.duckdb", memory_budget="1400")


@pytest.mark.parametrize("off", ["off", "", "None"])
def test_the_budget_can_be_turned_off_from_the_environment(
    off: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTA_STORAGE__MEMORY_BUDGET", off)
    assert Settings(data_dir=tmp_path).storage.memory_budget is None
    monkeypatch.setenv("RETENTA_STORAGE__MEMORY_BUDGET", "2GiB")
    assert Settings(data_dir=tmp_path).storage.memory_budget == "2GiB"


def test_out_of_memory_puts_the_pool_back_at_its_ceiling(tmp_path: Path) -> None:
    """A unit that runs out of the pool (a 256 MiB pool failed a 1M-row import) rolls back as
    ever, and the pool is at its ceiling for the unit tried again."""
    budget = (process_rss() or 0) // MiB + 50
    db = DuckDatabase(tmp_path / "o.duckdb", memory_limit="1GB", memory_budget=f"{budget}MiB")
    try:
        with db.read() as cur:
            deadline = time.monotonic() + 10
            while limit_of(cur) > 600 * MiB and time.monotonic() < deadline:
                time.sleep(0.05)

        def runs_out(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute("CREATE TABLE t (i INTEGER)")
            raise duckdb.OutOfMemoryException("failed to pin block")

        with pytest.raises(duckdb.OutOfMemoryException):
            db.write(runs_out)
        with db.read() as cur:
            assert limit_of(cur) == pytest.approx(10**9, rel=0.01)
            assert cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'"
            ).fetchall() == [(0,)]
        assert db._governor is not None
        assert db._governor.seconds_left() > 50  # held there, not lowered at the next tick
        db.write(lambda c: c.execute("SELECT 1").fetchall())
        with db.read() as cur:
            assert limit_of(cur) == pytest.approx(10**9, rel=0.01)
    finally:
        db.close()
