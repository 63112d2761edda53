"""Migration 0046: ``merges`` gets an index on ``winner_id``, so the reads of the merges
naming a contact as winner probe it; a store written before it upgrades with every merge as
it was, and unmerge (which updates ``reverted_at``) goes on through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from retenta.app import build_container
from retenta.contacts.queries import has_merged_in
from retenta.settings import Settings
from retenta.storage.duckdb import engine
from tests.storage.plans import executed_plan

WS = "ws-old"
WINNER_READ = "SELECT id, loser_id, reverted_at FROM merges WHERE winner_id = ?"


def _pre_0046(path: Path) -> None:
    """A store as 0045 left it, with 2,000 merges (winners 0..499, four losers each)."""
    conn = duckdb.connect(str(path))
    engine.apply_migrations(conn, before=46)
    conn.execute(
        "INSERT INTO merges (workspace_id, winner_id, loser_id, rule, inputs, snapshot)"
        " SELECT ?, i % 500, 10000 + i, 'test', '{}', '{}' FROM range(2000) t(i)",
        [WS],
    )
    conn.close()


def _merges(cur: Any) -> list[tuple[Any, ...]]:
    return cur.execute("SELECT * FROM merges ORDER BY id").fetchall()


def _plan(cur: Any, winner: int) -> str:
    return executed_plan(cur, WINNER_READ, [winner])


def test_a_store_written_before_0046_upgrades_and_probes_the_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _pre_0046(data / "retenta.duckdb")
    with duckdb.connect(str(data / "retenta.duckdb")) as conn:
        before = _merges(conn)
        assert "Index Scan" not in _plan(conn, 7)
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            assert _merges(cur) == before
            indexes = cur.execute(
                "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'merges'"
            ).fetchall()
            assert indexes == [("merges_winner",)]
            assert "Index Scan" in _plan(cur, 7)
            for winner in (0, 7, 499, 500):  # the first, one, the last, none
                want = sorted((r[0], r[4], r[9]) for r in before if r[3] == winner)
                assert sorted(cur.execute(WINNER_READ, [winner]).fetchall()) == want
                assert has_merged_in(cur, WS, winner) is (winner < 500)

        def revert(cur: Any) -> None:  # as unmerge does: the row stays, reverted_at is set
            cur.execute(
                "UPDATE merges SET reverted_at = now() WHERE workspace_id = ? AND winner_id = ?",
                [WS, 7],
            )

        container.db.write(revert)
        with container.db.read() as cur:
            assert has_merged_in(cur, WS, 7) is False
            assert len(cur.execute(WINNER_READ, [7]).fetchall()) == 4
            assert has_merged_in(cur, WS, 8) is True
    finally:
        container.close()
