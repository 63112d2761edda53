"""The ClickHouse views (chdb over Parquet written from DuckDB) hold the same rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from chdb import session as chdb_session

from retenta.app import Container
from retenta.segments import views
from tests.segments.test_views_seed import seed_workspaces


@pytest.fixture
def seeded(container: Container) -> tuple[str, str]:
    return seed_workspaces(container)


@pytest.fixture
def chdb(container: Container, seeded: tuple[str, str], tmp_path: Path) -> Iterator[Any]:
    sess = chdb_session.Session(str(tmp_path / "chdb"))
    with container.db.read() as cur:
        for ws in seeded:
            views.load_into_chdb(sess, views.materialize_for_clickhouse(cur, ws, tmp_path / ws))
    yield sess
    sess.close()


def normal(value: Any) -> Any:
    """One comparable form for both engines (JSON text parsed, times in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    return value


def rows_duckdb(container: Container, sql: str, ws: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        tables = views.load_data_tables(cur, ws)
        built = views.with_views(sqlglot.parse_one(sql), ws, "duckdb", data_tables=tables)
        return [tuple(normal(v) for v in r) for r in cur.execute(built.sql("duckdb")).fetchall()]


def rows_chdb(container: Container, sess: Any, sql: str, ws: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        tables = views.load_data_tables(cur, ws)
    built = views.with_views(sqlglot.parse_one(sql), ws, "clickhouse", data_tables=tables)
    table = sess.query(built.sql("clickhouse"), "ArrowTable")
    return [tuple(normal(v) for v in r.values()) for r in table.to_pylist()]


def test_each_view_has_the_same_rows_in_both_engines_and_stays_in_its_workspace(
    container: Container, seeded: tuple[str, str], chdb: Any
) -> None:
    for name in [*views.VIEW_COLUMNS, "data_loyalty"]:
        for ws in seeded:
            sql = f"SELECT * FROM {name}"
            duck = sorted(rows_duckdb(container, sql, ws), key=repr)
            click = sorted(rows_chdb(container, chdb, sql, ws), key=repr)
            assert duck, (name, ws)
            assert duck == click, (name, ws)
    a, b = seeded
    sql = "SELECT DISTINCT contact_id FROM events ORDER BY contact_id"
    assert rows_chdb(container, chdb, sql, a) == [(1,)]
    assert rows_chdb(container, chdb, sql, b) == [(101,)]
    total = chdb.query("SELECT count(DISTINCT workspace_id) FROM events_all", "CSV")
    assert str(total).strip() == "2"


def test_candidates_restrict_the_same_rows_in_both_engines(
    container: Container, seeded: tuple[str, str], chdb: Any
) -> None:
    a, _ = seeded
    for name in ("events", "orders", "contact_traits", "consents"):
        sql = f"WITH _cand AS (SELECT 1 AS contact_id) SELECT * FROM {name}"
        query = sqlglot.parse_one(sql)
        with container.db.read() as cur:
            duck_sql = views.with_views(query, a, "duckdb", candidates="_cand").sql("duckdb")
            duck = [tuple(normal(v) for v in r) for r in cur.execute(duck_sql).fetchall()]
        ch_sql = views.with_views(query, a, "clickhouse", candidates="_cand").sql("clickhouse")
        click = [tuple(normal(v) for v in r.values()) for r in
                 chdb.query(ch_sql, "ArrowTable").to_pylist()]  # fmt: skip
        assert duck
        assert sorted(duck, key=repr) == sorted(click, key=repr), name
