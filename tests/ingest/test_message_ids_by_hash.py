"""Migrations 0047 and 0048: ``message_ids`` keeps each id's 64-bit hash, the writer's
in-memory fingerprints of those hashes decide fresh ids, and the table, without an index
since 0048, settles old retries by a join on the hash. A store written before either
upgrades with every id, and an old retry is still a duplicate after a restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from retenta.app import build_container
from retenta.core.messages import Message
from retenta.ingest.dedup import MessageIdDedup, hash_keys, insert_keys, key_hash
from retenta.settings import Settings
from retenta.storage.duckdb import engine

WS = "ws-old"
IDS = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(3000)]  # UUIDs, as clients send


def _pre_0047(path: Path) -> None:
    conn = duckdb.connect(str(path))
    engine.apply_migrations(conn, before=47)
    conn.execute("INSERT INTO message_ids SELECT ?, unnest(?::VARCHAR[])", [WS, IDS])
    conn.close()


def _indexes(cur: Any) -> list[str]:
    sql = "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'message_ids'"
    return [r[0] for r in cur.execute(sql).fetchall()]


def test_a_store_at_0047_drops_the_index_and_keeps_every_id(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "z.duckdb"))
    engine.apply_migrations(conn, before=48)
    conn.execute("CREATE INDEX message_ids_h ON message_ids (h)")  # 0047 as session 13 ran it
    keys = pa.table({"workspace_id": [WS] * len(IDS), "message_id": IDS})
    insert_keys(conn, keys, hash_keys([(WS, m) for m in IDS]))
    assert _indexes(conn) == ["message_ids_h"]
    engine.apply_migrations(conn)
    assert _indexes(conn) == []
    rows = conn.execute("SELECT workspace_id, message_id, h FROM message_ids").fetchall()
    assert sorted(m for _, m, _ in rows) == sorted(IDS)
    assert all(h == key_hash((w, m)) for w, m, h in rows)
    dedup = MessageIdDedup()
    dedup.ensure_loaded(conn)  # from the hashes, sorted by DuckDB
    assert dedup.stored is not None
    assert len(dedup.stored) == len(IDS)
    keys_ = [(WS, IDS[7]), (WS, "never-sent")]
    assert dedup.fresh_mask(conn, keys_, hash_keys(keys_)) == [False, True]
    conn.close()


def _message(workspace_id: str, message_id: str) -> Message:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    return Message(workspace_id=workspace_id, message_id=message_id, type="track",
                   timestamp=now, received_at=now, event="Viewed", anonymous_id="a-1")  # fmt: skip


def test_a_store_written_before_0047_upgrades_and_settles_old_retries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _pre_0047(data / "retenta.duckdb")
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            rows = cur.execute("SELECT workspace_id, message_id, h FROM message_ids").fetchall()
            assert sorted(m for _, m, _ in rows) == sorted(IDS)
            assert all(h == key_hash((w, m)) for w, m, h in rows)
            assert _indexes(cur) == []  # 0047's index is gone (0048)
        # a restarted server holds no recent ids: an old retry is settled by the table probe
        out = container.ingest.ingest_sync([_message(WS, IDS[5]), _message(WS, "new-1")])
        assert (out.duplicates, out.stored) == (1, 1)
        assert container.ingest.dedup.exact_lookups >= 1
    finally:
        container.close()


def test_a_row_with_the_same_hash_but_another_id_is_not_a_duplicate(tmp_path: Path) -> None:
    """The probe finds rows by hash; only an exact (workspace, id) match is a duplicate."""
    conn = duckdb.connect(str(tmp_path / "x.duckdb"))
    engine.apply_migrations(conn)
    fresh = (WS, "fresh-id")
    twin = pa.table({"workspace_id": [WS], "message_id": ["stored-id"]})
    insert_keys(conn, twin, hash_keys([fresh]))  # stored under the fresh id's hash
    dedup = MessageIdDedup()
    dedup.ensure_loaded(conn)
    assert dedup.fresh_mask(conn, [fresh], hash_keys([fresh])) == [True]
    assert dedup.exact_lookups == 1  # the fingerprint hit was checked against the table
    conn.close()


def test_a_fingerprint_hit_on_a_stored_id_of_another_workspace_is_not_a_duplicate(
    tmp_path: Path,
) -> None:
    conn = duckdb.connect(str(tmp_path / "y.duckdb"))
    engine.apply_migrations(conn)
    insert_keys(conn, pa.table({"workspace_id": ["ws-a"], "message_id": ["m-1"]}))
    dedup = MessageIdDedup()
    dedup.ensure_loaded(conn)
    keys = [("ws-b", "m-1"), ("ws-a", "m-1")]
    hashes: Any = np.array([key_hash(("ws-a", "m-1"))] * 2, dtype=np.uint64)  # a forced hit
    assert dedup.fresh_mask(conn, keys, hashes) == [True, False]
    conn.close()


def test_the_set_loads_range_by_range_in_order(tmp_path: Path, monkeypatch: Any) -> None:
    """At start-up the hashes are read in slices of their value, each sorted, so the set is
    filled in order without a DuckDB sort; every stored id is found afterwards."""
    import retenta.ingest.dedup as dedup

    conn = duckdb.connect(str(tmp_path / "r.duckdb"))
    engine.apply_migrations(conn)
    keys = [(WS, m) for m in IDS]
    insert_keys(conn, pa.table({"workspace_id": [WS] * len(IDS), "message_id": IDS}))
    monkeypatch.setattr(dedup, "LOAD_RANGE_IDS", 100)  # 30 ranges
    slices = list(dedup._hashes_in_order(conn, len(IDS)))
    assert len(slices) == 30
    joined = np.concatenate(slices)
    assert joined.tolist() == sorted(hash_keys(keys).tolist())
    loaded = MessageIdDedup()
    loaded.ensure_loaded(conn)
    assert loaded.stored is not None
    assert loaded.stored.contains(hash_keys(keys)).all()
    conn.close()


def test_the_load_holds_duckdbs_pool_small_and_restores_the_limit(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The server's start-up load reads every stored hash; with the configured limit given,
    DuckDB's pool is held small meanwhile (its blocks would otherwise stay cached) and the
    configured limit is back afterwards."""
    import retenta.ingest.dedup as dedup

    conn = duckdb.connect(str(tmp_path / "m.duckdb"), config={"memory_limit": "1GB"})
    engine.apply_migrations(conn)
    insert_keys(conn, pa.table({"workspace_id": [WS] * len(IDS), "message_id": IDS}))
    monkeypatch.setattr(dedup, "LOAD_RANGE_IDS", 1_000)
    limits: list[str] = []
    scan = dedup._hashes_in_order

    def watched(c: Any, stored: int) -> Any:
        for part in scan(c, stored):
            limits.append(c.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            yield part

    monkeypatch.setattr(dedup, "_hashes_in_order", watched)
    setting = "SELECT current_setting('memory_limit')"
    configured = conn.execute(setting).fetchone()
    loaded = MessageIdDedup()
    loaded.ensure_loaded(conn, memory_limit="1GB")
    assert loaded.stored is not None
    assert len(loaded.stored) == len(IDS)
    assert limits == ["61.0 MiB"] * 3  # LOAD_MEMORY_LIMIT, as DuckDB reports 64MB
    assert conn.execute(setting).fetchone() == configured
    conn.close()


def test_a_failed_start_up_load_leaves_the_configured_limit(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A load that fails after the pool was held small aborts its transaction, where the
    limit cannot be set back; the pipeline sets it again in a transaction of its own."""
    import asyncio

    import retenta.ingest.dedup as dedup
    from retenta.ingest.pipeline import IngestPipeline
    from retenta.storage.duckdb.engine import DuckDatabase
    from tests.ingest.resolvers import TableResolver

    db = DuckDatabase(tmp_path / "f.duckdb", memory_limit="1GB")
    setting = "SELECT current_setting('memory_limit')"
    try:
        keys = pa.table({"workspace_id": [WS] * len(IDS), "message_id": IDS})
        db.write(lambda c: insert_keys(c, keys))
        with db.read() as cur:
            configured = cur.execute(setting).fetchall()
        monkeypatch.setattr(dedup, "LOAD_RANGE_IDS", 1_000)

        def failing(c: Any, stored: int) -> Any:
            c.execute("SELECT * FROM no_such_table")  # aborts the writer's transaction
            yield np.zeros(0, dtype=np.uint64)

        monkeypatch.setattr(dedup, "_hashes_in_order", failing)
        settings = Settings(data_dir=tmp_path, background_workers=False)
        pipeline = IngestPipeline(db=db, resolver=TableResolver(), appliers=[], settings=settings)
        with pytest.raises(duckdb.CatalogException):
            asyncio.run(pipeline.start())
        with db.read() as cur:
            assert cur.execute(setting).fetchall() == configured
    finally:
        db.close()
