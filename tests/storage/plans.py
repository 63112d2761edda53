"""What DuckDB did for a statement: the upgrade tests check an index is probed."""

from __future__ import annotations

from typing import Any


def executed_plan(cur: Any, sql: str, params: list[Any]) -> str:
    """``EXPLAIN ANALYZE`` of ``sql`` as text: the scan type (``Index Scan`` or a table
    scan) is chosen at execution, so a plain ``EXPLAIN`` would not show it."""
    rows = cur.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall()
    return "\n".join(str(r[1]) for r in rows)
