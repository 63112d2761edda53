"""Migration 0045: ``event_summary`` gets an index on ``contact_id``, so the profile's
summary branch is an index probe; a store written before it upgrades with every row as it
was, and the writer's summary upkeep (flushes, range passes, erasure) goes on through it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb

from retenta.app import build_container
from retenta.contacts import profile_sql
from retenta.settings import Settings
from retenta.storage.duckdb import engine
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor
from tests.contacts.seed import add_events, event_table, new_contact
from tests.storage.plans import executed_plan

WS = "ws-old"


def _pre_0045(path: Path) -> None:
    """A store as 0044 left it: contacts and their event summaries, several rows for some."""
    conn = duckdb.connect(str(path))
    engine.apply_migrations(conn, before=45)
    conn.execute(
        "INSERT INTO contacts (workspace_id, id, created_at, updated_at, last_seen_at)"
        " SELECT ?, i, TIMESTAMPTZ '2026-01-01', TIMESTAMPTZ '2026-01-01',"
        " TIMESTAMPTZ '2026-01-01' FROM range(1, 301) t(i)",
        [WS],
    )
    conn.execute("SELECT max(nextval('contact_id_seq')) FROM range(300)")
    conn.execute(
        "INSERT INTO event_summary (workspace_id, contact_id, last_at, categories, views)"
        " SELECT ?, 1 + i % 300, TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 MINUTE,"
        " CASE WHEN i % 4 = 0 THEN [] ELSE ['c' || (i % 3), 'd'] END,"
        " CASE WHEN i % 4 = 0 THEN [] ELSE [i % 5 + 1, 1] END FROM range(700) t(i)",
        [WS],
    )
    conn.close()


def _summary(cur: Any) -> list[tuple[Any, ...]]:
    return cur.execute("SELECT * FROM event_summary ORDER BY ALL").fetchall()


def _plan(cur: Any, contact_id: int) -> str:
    branch = profile_sql._PER_ID[3].format(k=1)  # the summary's branch
    return executed_plan(cur, branch, [contact_id])


def test_a_store_written_before_0045_upgrades_with_its_rows_and_probes_the_index(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _pre_0045(data / "retenta.duckdb")
    with duckdb.connect(str(data / "retenta.duckdb")) as conn:
        before = _summary(conn)
        assert "Index Scan" not in _plan(conn, 7)
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            assert _summary(cur) == before
            indexes = cur.execute(
                "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'event_summary'"
            ).fetchall()
            assert indexes == [("event_summary_contact",)]
            assert "Index Scan" in _plan(cur, 7)
            for cid in (1, 7, 300, 301):  # several rows, one, the last, none
                want = [r for r in before if r[1] == cid]
                got = cur.execute(
                    "SELECT * FROM event_summary WHERE contact_id = ? ORDER BY ALL", [cid]
                ).fetchall()
                assert got == want
        profile = container.contacts.profile(workspace_id=WS, contact_id=7)
        times = [r[2] for r in before if r[1] == 7]
        assert profile["traits"]["last_activity_at"] == max(times)
    finally:
        container.close()


def test_the_writer_keeps_the_summary_exact_through_the_index(tmp_path: Path) -> None:
    """Appends, flushes and range passes, and erasure, each change summary rows under the
    index; the summary read through it equals a recompute from the events after each."""
    data = tmp_path / "data"
    data.mkdir()
    container = build_container(Settings(data_dir=data, background_workers=False))
    ws = container.tenancy.create_workspace(name="Shop")
    policy = CompactionPolicy(
        flush_rows=40, max_flush_rows=30, step_rows=25, l1_max_runs=2, l1_merge_min_rows=50
    )
    compactor = Compactor(policy)

    def recompute(cur: Any, cid: int) -> tuple[Any, int]:
        row = cur.execute(
            "SELECT max(timestamp), count(*) FILTER (WHERE event = 'Product Viewed')"
            " FROM all_events WHERE contact_id = ?",
            [cid],
        ).fetchone()
        return row[0], row[1]

    def through_index(cur: Any, cid: int) -> tuple[Any, int]:
        rows = cur.execute(profile_sql._PER_ID[3].format(k=1), [cid]).fetchall()
        last = max((r[7] for r in rows if r[7] is not None), default=None)
        recent = cur.execute(
            "SELECT max(timestamp), count(*) FROM events_recent WHERE contact_id = ?", [cid]
        ).fetchone()
        views = sum(sum(r[13]) for r in rows) + recent[1]
        newest = max((t for t in (last, recent[0]) if t is not None), default=None)
        return newest, views

    try:
        ids = [new_contact(container, ws) for _ in range(12)]
        for rnd in range(4):
            for n, cid in enumerate(ids):
                add_events(container, event_table(ws, cid, 3 + (n + rnd) % 4, prefix=f"r{rnd}"))
            while container.db.write(compactor.step):
                pass
            with container.db.read() as cur:
                assert "Index Scan" in _plan(cur, ids[0])
                for cid in ids:
                    assert through_index(cur, cid) == recompute(cur, cid), (rnd, cid)
        with container.db.read() as cur:  # every tier move ran: L0 -> L1 runs -> L2
            tiers = [
                cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("events", "events_l1", "events_l1_runs")
            ]
            assert tiers[0] > 0
        asyncio.run(
            container.contacts.erase(workspace_id=ws, contact_id=ids[0], requested_by="test")
        )
        with container.db.read() as cur:
            gone = cur.execute("SELECT count(*) FROM event_summary WHERE contact_id = ?", [ids[0]])
            assert gone.fetchone() == (0,)
            for cid in ids[1:]:
                assert through_index(cur, cid) == recompute(cur, cid)
    finally:
        container.close()
