"""The point reads' prewarm: it loads the tables' blocks into DuckDB's buffer pool, within
its budget, on a store reopened from disk (nothing of the table in memory before)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from retenta.app import Container, build_container
from retenta.settings import Settings
from retenta.storage.duckdb import prewarm as pw
from tests.conftest import make_workspace

ORDERS = 60_000


def reopened(tmp_path: Path, *, background: bool = False) -> Container:
    """A store with ``ORDERS`` orders written and checkpointed, opened again."""
    settings = Settings(data_dir=tmp_path / "data", background_workers=False)
    c = build_container(settings)
    ws = make_workspace(c).id
    c.db.write(
        lambda cur: cur.execute(
            "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, currency,"
            " placed_at, updated_at) SELECT ?, 'order-' || i || '-' || md5(i::VARCHAR), i,"
            " 'paid', i % 997, 'UAH', TIMESTAMPTZ '2025-03-01' + to_seconds(i),"
            " TIMESTAMPTZ '2025-03-01' FROM range(?) t(i)",
            [ws, ORDERS],
        )
    )
    c.close()  # checkpoints: the rows are in blocks of the file
    return build_container(Settings(data_dir=tmp_path / "data", background_workers=background))


def table_memory(cur: Any) -> int:
    row = cur.execute(
        "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
    ).fetchone()
    return int(row[0])


def test_prewarm_loads_the_tables_blocks(tmp_path: Path) -> None:
    c = reopened(tmp_path)
    try:
        with c.db.read() as cur:
            size = pw.table_bytes(cur, "orders")
            assert size >= 2 * 262_144  # several blocks, so the check below means something
            before = table_memory(cur)
            assert pw.prewarm(cur, tables=("orders",)) == [("orders", size)]
            # Blocks shared with other tables count whole in ``size``, so ask for most of it.
            assert table_memory(cur) - before >= size // 2
    finally:
        c.close()


def test_a_table_over_the_budget_is_skipped(tmp_path: Path) -> None:
    c = reopened(tmp_path)
    try:
        with c.db.read() as cur:
            size = pw.table_bytes(cur, "orders")
            before = table_memory(cur)
            assert pw.prewarm(cur, budget_bytes=size - 1, tables=("orders",)) == []
            assert table_memory(cur) == before
            # An empty table is skipped too; the next one that fits is still loaded.
            assert pw.prewarm(cur, budget_bytes=size, tables=("merges", "orders")) == [
                ("orders", size)
            ]
    finally:
        c.close()


def test_every_point_read_table_exists_and_scans(tmp_path: Path) -> None:
    """A renamed table would make the prewarm fail (and log) at every start."""
    c = reopened(tmp_path)
    try:
        with c.db.read() as cur:
            for table in pw.POINT_READ_TABLES:
                pw.table_bytes(cur, table)
                cur.execute(pw.scan_sql(cur, table)).fetchall()
    finally:
        c.close()


def test_the_server_prewarms_at_start(tmp_path: Path) -> None:
    c = reopened(tmp_path, background=True)

    async def run() -> None:
        await c.contacts.start()
        await c.contacts.stop()  # waits for the prewarm

    try:
        asyncio.run(run())
        assert "orders" in dict(c.contacts.prewarmed)
    finally:
        c.close()
