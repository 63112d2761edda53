from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from retenta.storage.duckdb.engine import DuckDatabase, apply_migrations, migration_files


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
