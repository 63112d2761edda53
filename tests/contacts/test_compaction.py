"""Event compaction: tiers move, clustering holds, nothing is lost or doubled, even on a crash."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.contacts.service import ContactService
from retenta.settings import Settings
from retenta.storage.duckdb import compaction as cp
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor, compact_until_idle
from tests.conftest import make_workspace
from tests.contacts.seed import add_events, all_message_ids, event_table, new_contact

SMALL = CompactionPolicy(
    flush_rows=50, max_flush_rows=80, step_rows=40, l1_max_runs=3, l1_merge_min_rows=300
)


def seed_many(container: Container, ws: str, contacts: int, per_contact: int, batches: int) -> None:
    """Events of many contacts, appended to L0 in interleaved batches (like live ingest)."""
    ids = [new_contact(container, ws) for _ in range(contacts)]
    for b in range(batches):
        for cid in ids:
            add_events(container, event_table(ws, cid, per_contact, prefix=f"b{b}"))


def tier_counts(container: Container) -> dict[str, int]:
    """Rows per tier, L1's runs counted in L1."""
    with container.db.read() as cur:
        counts = {
            t: int(cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in (cp.L0, cp.L1, cp.RUNS, cp.L2)
        }
    counts[cp.L1] += counts.pop(cp.RUNS)
    return counts


def out_of_order(container: Container, table: str) -> int:
    """Rows whose contact id is below the previous row's, in storage order."""
    with container.db.read() as cur:
        row = cur.execute(
            f"SELECT count(*) FROM (SELECT contact_id AS c,"
            f" lag(contact_id) OVER (ORDER BY rowid) AS pc FROM {table}) WHERE c < pc"
        ).fetchone()
    return int(row[0])


def assert_same_events(before: list[str], container: Container) -> None:
    after = all_message_ids(container)
    dupes = [m for m, n in collections.Counter(after).items() if n > 1]
    assert dupes == []
    assert sorted(after) == sorted(before)


def test_flush_moves_recent_rows_into_one_sorted_run(container: Container) -> None:
    ws = make_workspace(container).id
    seed_many(container, ws, contacts=6, per_contact=10, batches=1)
    before = all_message_ids(container)
    assert container.db.write(Compactor(SMALL).step) == "flush"
    counts = tier_counts(container)
    assert counts == {cp.L0: 0, cp.L1: 60, cp.L2: 0}
    assert out_of_order(container, cp.L1) == 0
    assert_same_events(before, container)


def test_flush_is_bounded_per_transaction(container: Container) -> None:
    ws = make_workspace(container).id
    seed_many(container, ws, contacts=20, per_contact=10, batches=1)
    container.db.write(Compactor(SMALL).step)
    assert tier_counts(container)[cp.L0] == 200 - SMALL.max_flush_rows


def test_full_cycle_clusters_everything_into_the_base(container: Container) -> None:
    ws, other = make_workspace(container).id, make_workspace(container, "Other").id
    seed_many(container, ws, contacts=8, per_contact=15, batches=3)
    seed_many(container, other, contacts=4, per_contact=15, batches=2)
    before = all_message_ids(container)
    actions = compact_until_idle(container.db, Compactor(SMALL))
    assert "flush" in actions
    assert "start:events" in actions
    assert any(a == "pass:events" for a in actions)
    counts = tier_counts(container)
    assert counts[cp.L2] >= SMALL.l1_merge_min_rows
    assert counts[cp.L0] < SMALL.flush_rows
    assert out_of_order(container, cp.L2) == 0
    assert_same_events(before, container)


def test_l1_runs_are_consolidated_in_place(container: Container) -> None:
    ws = make_workspace(container).id
    policy = CompactionPolicy(
        flush_rows=30, max_flush_rows=30, step_rows=25, l1_max_runs=3, l1_merge_min_rows=10**9
    )
    seed_many(container, ws, contacts=9, per_contact=10, batches=1)
    before = all_message_ids(container)
    actions = compact_until_idle(container.db, Compactor(policy))
    assert actions.count("flush") == 3
    assert "start:events_l1" in actions
    assert tier_counts(container) == {cp.L0: 0, cp.L1: 90, cp.L2: 0}
    assert out_of_order(container, cp.L1) == 0
    with container.db.read() as cur:
        assert cur.execute("SELECT runs FROM event_tier_state").fetchone()[0] == 0
    assert_same_events(before, container)


def pass_state(conn: Any) -> list[Any]:
    return list(conn.execute("SELECT * FROM event_compaction").fetchall())


class FailingInsert:
    """A connection that fails the step's append to the target, after the deletes ran."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = None) -> Any:
        if sql.startswith("INSERT INTO events ("):
            raise RuntimeError("simulated crash in the middle of a step")
        return self.conn.execute(sql, params or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_step_that_fails_half_way_changes_nothing(container: Container) -> None:
    ws = make_workspace(container).id
    seed_many(container, ws, contacts=10, per_contact=10, batches=4)
    compactor = Compactor(SMALL)
    while container.db.write(cp.pass_in_progress) != cp.L2:
        container.db.write(compactor.step)
    before, counts = all_message_ids(container), tier_counts(container)
    state = container.db.write(pass_state)
    with pytest.raises(RuntimeError, match="simulated crash"):
        container.db.write(lambda c: cp.pass_step(FailingInsert(c), cp.L2))
    assert tier_counts(container) == counts
    assert container.db.write(pass_state) == state
    compact_until_idle(container.db, compactor)
    assert_same_events(before, container)


def test_a_restart_between_steps_resumes_the_pass(settings: Settings) -> None:
    first = build_container(settings)
    ws = make_workspace(first).id
    seed_many(first, ws, contacts=10, per_contact=10, batches=4)
    compactor = Compactor(SMALL)
    while first.db.write(cp.pass_in_progress) != cp.L2:
        first.db.write(compactor.step)
    first.db.write(compactor.step)
    first.db.write(compactor.step)
    before = all_message_ids(first)
    first.close()
    second = build_container(settings)
    try:
        assert second.db.write(cp.pass_in_progress) == cp.L2  # progress survived the restart
        assert_same_events(before, second)
        compact_until_idle(second.db, compactor)
        assert_same_events(before, second)
        assert out_of_order(second, cp.L2) == 0
    finally:
        second.close()


def test_erase_during_a_pass_removes_rows_from_every_tier(container: Container) -> None:
    ws = make_workspace(container).id
    seed_many(container, ws, contacts=10, per_contact=10, batches=4)
    compactor = Compactor(SMALL)
    while container.db.write(cp.pass_in_progress) != cp.L2:
        container.db.write(compactor.step)
    container.db.write(compactor.step)
    with container.db.read() as cur:
        victim = int(cur.execute("SELECT max(contact_id) FROM all_events").fetchone()[0])
    container.db.write(
        lambda c: [
            c.execute(f"DELETE FROM {t} WHERE contact_id = ?", [victim])
            for t in (cp.L0, cp.L1, cp.RUNS, cp.L2)
        ]
    )
    compact_until_idle(container.db, compactor)
    with container.db.read() as cur:
        left = cur.execute("SELECT count(*) FROM all_events WHERE contact_id = ?", [victim])
        assert left.fetchone()[0] == 0


CHILD = """
import sys
from retenta.storage.duckdb.engine import DuckDatabase
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor
db = DuckDatabase(sys.argv[1])
compactor = Compactor(CompactionPolicy(flush_rows=50, max_flush_rows=80, step_rows=40,
                                       l1_max_runs=3, l1_merge_min_rows=300))
while True:
    print(db.write(compactor.step), flush=True)
"""


def test_sigkill_in_the_middle_of_compaction_loses_nothing(settings: Settings) -> None:
    first = build_container(settings)
    ws = make_workspace(first).id
    seed_many(first, ws, contacts=12, per_contact=10, batches=5)
    before = all_message_ids(first)
    first.close()
    path = settings.data_dir / "retenta.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    steps = 0
    for line in child.stdout:  # kill it while a merge into the base is under way
        steps += line.strip() == "pass:events"
        if steps == 3:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    second = build_container(settings)
    try:
        assert_same_events(before, second)
        compact_until_idle(second.db, Compactor(SMALL))
        assert_same_events(before, second)
        assert out_of_order(second, cp.L2) == 0
    finally:
        second.close()


def test_the_service_compacts_in_the_background(container: Container) -> None:
    ws = make_workspace(container).id
    seed_many(container, ws, contacts=10, per_contact=10, batches=3)
    before = all_message_ids(container)
    service = ContactService(
        db=container.db, identity=container.identity, compaction=SMALL, compaction_idle_s=0.01
    )

    async def run_until_settled() -> None:
        await service.start()
        try:
            for _ in range(500):
                await asyncio.sleep(0.02)
                counts = tier_counts(container)
                idle = container.db.write(cp.pass_in_progress) is None
                if idle and counts[cp.L2] > 0 and counts[cp.L0] < SMALL.flush_rows:
                    return
            raise AssertionError(f"compaction did not settle: {tier_counts(container)}")
        finally:
            await service.stop()

    asyncio.run(run_until_settled())
    assert_same_events(before, container)
    assert out_of_order(container, cp.L2) == 0
