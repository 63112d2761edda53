from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from retenta.storage.duckdb.engine import DuckDatabase, apply_migrations, migration_files


@pytest.mark.migrations
def test_migrations_apply_once_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    db = DuckDatabase(path)
    db.write(lambda c: c.execute("INSERT INTO workspaces (id, name) VALUES ('w', 'W')"))
    db.close()
    conn = duckdb.connect(str(path))
    assert apply_migrations(conn) == []
    versions = [
        r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    ]
    assert versions == [v for v, _, _ in migration_files()]
    assert conn.execute("SELECT name FROM workspaces").fetchall() == [("W",)]


def test_failed_unit_of_work_leaves_nothing(tmp_path: Path) -> None:
    db = DuckDatabase(tmp_path / "y.duckdb")

    def half(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("INSERT INTO workspaces (id, name) VALUES ('a', 'A')")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        db.write(half)
    with db.read() as c:
        assert c.execute("SELECT count(*) FROM workspaces").fetchone() == (0,)
    db.close()


def catalog(path: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT 'column', table_name, column_name, data_type, column_default,"
            " is_nullable::VARCHAR"
            " FROM duckdb_columns() WHERE database_name = current_database()"
            " UNION ALL SELECT 'index', table_name, index_name, sql, NULL, NULL"
            " FROM duckdb_indexes() WHERE database_name = current_database()"
            " UNION ALL SELECT 'view', view_name, sql, NULL, NULL, NULL"
            " FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
            " UNION ALL SELECT 'migration', version::VARCHAR, name, NULL, NULL, NULL"
            " FROM schema_migrations ORDER BY ALL"
        ).fetchall()


@pytest.mark.migrations
def test_the_tests_template_store_is_what_the_migrations_make(
    tmp_path: Path, migrated_store: Path
) -> None:
    """Tests start their stores as copies of ``migrated_store`` (``tests/conftest.py``)."""
    DuckDatabase(tmp_path / "fresh.duckdb").close()
    assert catalog(tmp_path / "fresh.duckdb") == catalog(migrated_store)
    assert len(catalog(migrated_store)) > 300
