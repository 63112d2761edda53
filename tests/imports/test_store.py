"""``imports.store`` helpers around the writer's statements."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from retenta.imports.store import registered


def test_registered_lets_the_error_that_aborted_the_transaction_through() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("BEGIN TRANSACTION")
    with (
        pytest.raises(duckdb.ConstraintException, match="Duplicate key"),
        registered(conn, "_rows", pa.table({"x": [1]})),
    ):
        conn.execute("INSERT INTO t SELECT x FROM _rows")
    conn.execute("ROLLBACK")
    with pytest.raises(duckdb.CatalogException):  # unregistered all the same
        conn.execute("SELECT * FROM _rows")
