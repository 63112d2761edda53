"""Migration 0050: flushes land in L1's runs (``events_l1_runs``), the one event table
indexed by contact, and the first timeline page finds a contact's rows there by probing it
(``queries._l1_rows``); its pages still equal what the tiers hold, also past the probe's cap
and as range passes move L1; a store written before 0050 upgrades with its L1 rows as they
were."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from retenta.app import Container, build_container
from retenta.contacts import queries as q
from retenta.settings import Settings
from retenta.storage.duckdb import compaction as cp
from retenta.storage.duckdb import engine
from retenta.storage.duckdb.tier_members import L1_TIER
from tests.conftest import Workspace
from tests.contacts.seed import T0, add_events, event_table, merge, new_contact
from tests.contacts.test_point_reads_skip_tiers import flush, stored_ids
from tests.storage.plans import executed_plan


class Recording:
    """A read cursor that keeps every statement with its parameters: a prepared one
    (``contacts/prepared``) as its ``PREPARE`` text with the ``EXECUTE``'s literals."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.statements: list[tuple[str, list[Any]]] = []
        self._prepared: dict[str, str] = {}

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        if m := re.fullmatch(r"PREPARE (\w+) AS (.*)", sql, re.S):
            self._prepared[m[1]] = m[2]
        elif m := re.fullmatch(r"EXECUTE (\w+)(?:\((.*)\))?", sql, re.S):
            args = [int(a) for a in m[2].split(", ")] if m[2] else []
            self.statements.append((self._prepared[m[1]], args))
        else:
            self.statements.append((sql, list(params or [])))
        return self.cur.execute(sql, params or [])


@pytest.fixture
def people(container: Container, ws: Workspace) -> dict[str, int]:
    """Ann, Bob and Cy (merged into Bob), 6 events each in every tier, interleaved in time
    (L2 oldest, L0 newest), among 30 contacts with 4 events each in L1."""
    ann, bob, cy = (new_contact(container, ws.id) for _ in range(3))
    named = {"ann": ann, "bob": bob, "cy": cy}
    for name, who in named.items():
        add_events(container, event_table(ws.id, who, 6, prefix=f"{name}2-"), target="events")
        start = T0 + timedelta(seconds=20)
        add_events(container, event_table(ws.id, who, 6, start=start, prefix=f"{name}1-"))
    for other in [new_contact(container, ws.id) for _ in range(30)]:
        add_events(container, event_table(ws.id, other, 4, prefix=f"o{other}-"))
    flush(container)
    for name, who in named.items():
        start = T0 + timedelta(seconds=40)
        add_events(container, event_table(ws.id, who, 6, start=start, prefix=f"{name}0-"))
    merge(container, ws.id, winner=bob, loser=cy)
    return named


def test_a_first_page_reads_l1_by_probing_its_index(
    container: Container, ws: Workspace, people: dict[str, int]
) -> None:
    ann = people["ann"]
    with container.db.read() as cur:
        page = q.live_first_page(cur, ws.id, ann, limit=100, together=container.db.read_together)
        recorded = Recording(cur)
        rows = q._l1_rows(recorded, 100, ann)
        probes = [executed_plan(cur, sql, p) for sql, p in recorded.statements if cp.RUNS in sql]
    assert page is not None
    assert [e["message_id"] for e in page] == stored_ids(container, [ann])
    assert len(page) == 18
    assert sorted(r[1] for r in rows) == [f"ann1--{ann}-{k:06d}" for k in range(6)]
    assert len(recorded.statements) == 2  # the runs' probe, the sorted part's newest
    assert len(probes) == 1
    assert "Index Scan" in probes[0]


def test_a_contact_with_many_rows_in_l1_gets_its_newest_the_ordered_way(
    container: Container, ws: Workspace, people: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the cap the probe's rows are not all of them: the newest ``limit`` are read sorted
    instead, and every page size still equals the stored events."""
    monkeypatch.setattr(q, "L1_PROBE_CAP", 4)  # ann has 6 rows in L1
    ann = people["ann"]
    with container.db.read() as cur:
        recorded = Recording(cur)
        rows = q._l1_rows(recorded, 3, ann)
    assert [r[1] for r in rows] == [f"ann1--{ann}-{k:06d}" for k in (5, 4, 3)]
    assert [sql.count("ORDER BY") for sql, _ in recorded.statements] == [0, 1, 1]
    for limit in (1, 5, 12, 100):
        with container.db.read() as cur:
            page = q.live_first_page(
                cur, ws.id, ann, limit=limit, together=container.db.read_together
            )
        assert page is not None
        assert [e["message_id"] for e in page] == stored_ids(container, [ann], limit)


def test_pages_stay_exact_as_ranges_pass_through_l1(
    container: Container, ws: Workspace, people: dict[str, int]
) -> None:
    """A range pass deletes and re-inserts L1's rows: the index follows every step."""

    def pages() -> list[list[Any]]:
        out = []
        for who in (people["ann"], people["bob"]):
            page = container.contacts.timeline(
                workspace_id=ws.id, contact_id=who, limit=100, cursor=None
            )
            out.append([e["message_id"] for e in page["items"]])
        return out

    def rows_in(table: str) -> int:
        with container.db.read() as cur:
            return int(cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    before = pages()
    assert (rows_in(cp.RUNS), rows_in(L1_TIER)) == (3 * 6 + 30 * 4, 0)
    for tier in (cp.L1, cp.L2):
        container.db.write(lambda c, t=tier: cp.start_pass(c, t, step_rows=10))
        while container.db.write(cp.pass_in_progress) is not None:
            container.db.write(lambda c, t=tier: cp.pass_step(c, t))
            assert pages() == before
        if tier == cp.L1:  # the runs sorted into L1's sorted part
            assert (rows_in(cp.RUNS), rows_in(L1_TIER)) == (0, 3 * 6 + 30 * 4)
    assert (rows_in(cp.RUNS), rows_in(L1_TIER)) == (0, 0)


@pytest.mark.migrations
def test_a_store_written_before_0050_upgrades_with_its_l1_rows_in_the_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect(str(data / "retenta.duckdb")) as conn:
        engine.apply_migrations(conn, before=50)
        conn.execute(
            f"INSERT INTO {L1_TIER} (workspace_id, message_id, contact_id, type, event,"
            " timestamp, received_at, properties, traits, context, source)"
            " SELECT 'ws-old', 'm' || i, i % 50, 'track', 'Viewed',"
            " TIMESTAMPTZ '2026-01-01' + to_seconds(i), TIMESTAMPTZ '2026-01-01', '{}', '{}',"
            " '{}', 'api' FROM range(5000) t(i)"
        )
        before = conn.execute(f"SELECT * FROM {L1_TIER} ORDER BY message_id").fetchall()
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            indexes = cur.execute(
                "SELECT table_name, index_name FROM duckdb_indexes() WHERE table_name LIKE ?",
                ["events%"],
            ).fetchall()
            assert indexes == [(cp.RUNS, "events_l1_runs_contact")]
            moved = cur.execute(f"SELECT * FROM {cp.RUNS} ORDER BY message_id").fetchall()
            assert moved == before  # L1's rows may be runs: they wait there for an L1 pass
            assert cur.execute(f"SELECT count(*) FROM {L1_TIER}").fetchone() == (0,)
            assert cur.execute("SELECT count(*) FROM all_events").fetchone() == (5000,)
        assert L1_TIER not in container.db.probe_event_tiers([7]).absent
        with container.db.read() as cur:
            ids = [r[1] for r in q._l1_rows(cur, 100, 7)]
        assert sorted(ids) == sorted(f"m{i}" for i in range(7, 5000, 50))
    finally:
        container.close()
