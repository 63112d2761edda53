"""Which contacts may have events in L0 and L1 (``storage/duckdb/tier_members.py``): the
bitmap, and its upkeep by appends, tier moves, commits, rollbacks and restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.storage.duckdb import compaction as cp
from retenta.storage.duckdb.engine import DuckDatabase
from retenta.storage.duckdb.events import EVENT_SCHEMA, append_events
from retenta.storage.duckdb.tier_members import ID_LIMIT, L0_TIER, L1_TIER, MERGES, ContactBits

T0 = datetime(2026, 1, 1, tzinfo=UTC)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.lists(st.integers(0, 300), max_size=12)),
        st.tuples(st.just("clear"), st.tuples(st.integers(-5, 310), st.integers(-5, 310))),
    ),
    max_size=25,
)


@given(ops)
@settings(max_examples=200, deadline=None)
def test_the_bitmap_answers_exactly_what_a_set_would(steps: list[tuple[str, Any]]) -> None:
    bits, model = ContactBits(), set[int]()
    for op, arg in steps:
        if op == "set":
            bits.set(np.array(arg, dtype=np.int64))
            model |= set(arg)
        else:
            lo, hi = arg
            bits = bits.cleared(lo, hi)
            model = {i for i in model if not lo <= i < hi}
        assert [i for i in range(-3, 320) if bits.maybe(i) and i >= 0] == sorted(model)


def test_ids_past_the_limit_or_negative_are_always_maybe() -> None:
    bits = ContactBits(limit=64)
    bits.set(np.array([5, 64, 10**12], dtype=np.int64))
    assert [bits.maybe(i) for i in (5, 6, 64, 10**12, -1)] == [True, False, True, True, True]
    assert bits.nbytes == 1  # nothing past the limit was stored


def test_sparse_ids_never_grow_the_bitmap_past_its_limit() -> None:
    bits = ContactBits()
    bits.set(np.array([ID_LIMIT, ID_LIMIT + 5, 2**40], dtype=np.int64))
    assert bits.nbytes == 0
    assert bits.maybe(ID_LIMIT + 5)
    bits.set(np.array([ID_LIMIT - 1], dtype=np.int64))
    assert bits.nbytes == ID_LIMIT // 8  # 16 MiB at the most
    small = ContactBits(limit=100)
    for top in (95, 99):  # 12 bytes, then a quarter more would be 15: the limit's 13
        small.set(np.array([top], dtype=np.int64))
    assert small.nbytes == 13


def test_clearing_returns_a_copy_and_leaves_the_bitmap_readers_hold() -> None:
    bits = ContactBits()
    bits.set(np.arange(0, 40))
    held = bits
    emptied = bits.cleared(0, 40)
    assert not any(emptied.maybe(i) for i in range(40))
    assert all(held.maybe(i) for i in range(40))


# --- upkeep by the database ------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDatabase]:
    database = DuckDatabase(tmp_path / "members.duckdb")
    try:
        yield database
    finally:
        database.close()


def events(contacts: list[int], *, prefix: str = "m") -> pa.Table:
    n = len(contacts)
    cols: dict[str, list[Any]] = {name: [None] * n for name in EVENT_SCHEMA.names}
    cols.update(
        workspace_id=["ws"] * n,
        message_id=[f"{prefix}-{i}" for i in range(n)],
        contact_id=contacts,
        type=["track"] * n,
        timestamp=[T0] * n,
        received_at=[T0] * n,
    )
    return pa.table(cols, schema=EVENT_SCHEMA)


def absent_from_l1(db: DuckDatabase, contact_id: int) -> bool:
    return L1_TIER in db.probe_event_tiers([contact_id]).absent


def maybe_in_l1(db: DuckDatabase, contact_ids: list[int]) -> list[int]:
    return [cid for cid in contact_ids if not absent_from_l1(db, cid)]


def maybe_in_l0(db: DuckDatabase, contact_ids: list[int]) -> list[int]:
    return [cid for cid in contact_ids if L0_TIER not in db.probe_event_tiers([cid]).absent]


def l1_rows(cur: Any) -> int:
    """Rows in L1: its sorted part and its runs."""
    row = cur.execute(f"SELECT (SELECT count(*) FROM {L1_TIER}) + (SELECT count(*) FROM {cp.RUNS})")
    return int(row.fetchone()[0])


def flush_all(db: DuckDatabase) -> None:
    db.write(lambda c: cp.flush(c, max_rows=10_000))


def merge_l1_into_l2(db: DuckDatabase) -> None:
    db.write(lambda c: cp.start_pass(c, cp.L2, step_rows=10_000))
    while db.write(lambda c: cp.pass_in_progress(c)) is not None:
        db.write(lambda c: cp.pass_step(c, cp.L2))


def test_a_flush_marks_its_contacts_and_only_them(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([1, 2, 2, 7])))
    assert maybe_in_l1(db, [1, 2, 7]) == []  # still in L0
    flush_all(db)
    assert maybe_in_l1(db, [1, 2, 3, 7, 10**6]) == [1, 2, 7]


def test_appends_mark_l0_and_a_flush_leaves_there_only_what_stays(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([1, 2], prefix="a")))
    db.write(lambda c: append_events(c, events([2, 3], prefix="b")))
    assert maybe_in_l0(db, [1, 2, 3, 4]) == [1, 2, 3]
    db.write(lambda c: cp.flush(c, max_rows=2))  # the first two rows: 1 and 2 leave
    assert maybe_in_l0(db, [1, 2, 3]) == [2, 3]  # 2 has a row left
    assert maybe_in_l1(db, [1, 2, 3]) == [1, 2]
    flush_all(db)
    assert maybe_in_l0(db, [1, 2, 3]) == []


def test_l0_keeps_its_bits_until_the_flush_commits(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([5, 6])))
    seen_inside: list[list[int]] = []

    def flush_and_look(c: Any) -> None:
        cp.flush(c, max_rows=10_000)
        seen_inside.append(maybe_in_l0(db, [5, 6]))  # committed state: still in L0

    db.write(flush_and_look)
    assert seen_inside == [[5, 6]]
    assert maybe_in_l0(db, [5, 6]) == []

    def flush_then_fail(c: Any) -> None:
        append_events(c, events([7], prefix="x"))
        cp.flush(c, max_rows=10_000)
        raise RuntimeError("crash after the flush")

    db.write(lambda c: append_events(c, events([8], prefix="y")))
    with pytest.raises(RuntimeError):
        db.write(flush_then_fail)
    assert maybe_in_l0(db, [7, 8]) == [7, 8]  # 8 is still there; 7's bit is a harmless extra


def test_a_unit_that_flushes_then_appends_keeps_the_new_rows_in_l0(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([9, 10], prefix="a")))

    def flush_then_append(c: Any) -> None:
        cp.flush(c, max_rows=10_000)
        append_events(c, events([10], prefix="b"))

    db.write(flush_then_append)
    assert maybe_in_l0(db, [9, 10]) == [10]


def test_a_probe_does_not_hold_once_a_unit_committed_after_it(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([4])))
    probe = db.probe_event_tiers([4])
    assert probe.absent == {L1_TIER, MERGES}
    assert probe.held()
    flush_all(db)
    assert not probe.held()


def test_merging_l1_into_l2_clears_its_range_after_the_commit(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([1, 5, 9])))
    flush_all(db)
    seen_inside: list[bool] = []

    def step_and_look(c: Any) -> None:
        cp.pass_step(c, cp.L2)
        seen_inside.append(absent_from_l1(db, 5))  # committed state still has it in L1

    db.write(lambda c: cp.start_pass(c, cp.L2, step_rows=10_000))
    db.write(step_and_look)
    assert seen_inside == [False]
    assert maybe_in_l1(db, [1, 5, 9]) == []
    with db.read() as cur:
        assert l1_rows(cur) == 0


def test_a_rolled_back_pass_step_clears_nothing(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([3, 8])))
    flush_all(db)
    db.write(lambda c: cp.start_pass(c, cp.L2, step_rows=10_000))

    def step_then_fail(c: Any) -> None:
        cp.pass_step(c, cp.L2)
        raise RuntimeError("crash after the step")

    with pytest.raises(RuntimeError):
        db.write(step_then_fail)
    assert maybe_in_l1(db, [3, 8]) == [3, 8]
    with db.read() as cur:
        assert l1_rows(cur) == 2


def test_a_unit_that_merges_then_flushes_keeps_the_flushed_contacts(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([2, 6], prefix="a")))
    flush_all(db)
    db.write(lambda c: append_events(c, events([6], prefix="b")))
    db.write(lambda c: cp.start_pass(c, cp.L2, step_rows=10_000))

    def merge_then_flush(c: Any) -> None:
        cp.pass_step(c, cp.L2)  # clears 2..7 at the commit
        cp.flush(c, max_rows=10_000)  # but 6 is back in L1

    db.write(merge_then_flush)
    assert maybe_in_l1(db, [2, 6]) == [6]


def test_rows_appended_straight_into_l1_are_marked(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([11, 12]), target=L1_TIER))
    assert maybe_in_l1(db, [11, 12, 13]) == [11, 12]


def test_a_restart_loads_the_members_from_l1(tmp_path: Path) -> None:
    path = tmp_path / "restart.duckdb"
    first = DuckDatabase(path)
    first.write(lambda c: append_events(c, events([21, 22])))
    flush_all(first)
    first.write(lambda c: append_events(c, events([23], prefix="n")))  # stays in L0
    first.close()
    again = DuckDatabase(path)
    try:
        assert maybe_in_l1(again, [21, 22, 23]) == [21, 22]
        assert maybe_in_l0(again, [21, 22, 23]) == [23]
        merge_l1_into_l2(again)
        assert maybe_in_l1(again, [21, 22]) == []
    finally:
        again.close()


def test_rows_written_by_hand_are_seen_once_noted(db: DuckDatabase) -> None:
    db.write(lambda c: append_events(c, events([31])))
    db.write(lambda c: c.execute(f"INSERT INTO {L1_TIER} SELECT * FROM {cp.L0}"))
    db.write(
        lambda c: c.execute(
            f"INSERT INTO {L0_TIER} SELECT * REPLACE (32 AS contact_id) FROM {cp.L0}"
        )
    )
    assert maybe_in_l1(db, [31]) == []  # around the tier moves: unseen, as documented
    assert maybe_in_l0(db, [32]) == []
    db.write(db.tier_members.note_all)
    assert maybe_in_l1(db, [31]) == [31]
    assert maybe_in_l0(db, [32]) == [32]
