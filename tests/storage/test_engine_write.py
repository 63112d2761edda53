"""A unit of work is one transaction, nested writes included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retenta.storage.duckdb.engine import DuckDatabase


def test_a_write_inside_a_unit_is_part_of_it(tmp_path: Path) -> None:
    """``write`` called on the writer thread runs in the unit's transaction: it rolls back
    with the unit (it used to run on the base connection and commit on its own)."""
    db = DuckDatabase(tmp_path / "unit.duckdb")
    db.write(lambda cur: cur.execute("CREATE TABLE t AS SELECT * FROM range(2) r(v)"))

    def unit(cur: Any) -> None:
        db.write(lambda inner: inner.execute("INSERT INTO t VALUES (3)"))
        raise RuntimeError("the unit fails after its nested write")

    with pytest.raises(RuntimeError, match="nested write"):
        db.write(unit)
    try:
        with db.read() as cur:
            assert cur.execute("SELECT count(*) FROM t").fetchall() == [(2,)]
    finally:
        db.close()
