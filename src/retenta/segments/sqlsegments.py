"""Running SQL-template segments: check (sqlcheck), add the views, run read-only and bounded.

The checked query is wrapped as ``SELECT DISTINCT CAST(contact_id AS BIGINT) ...`` with the
workspace's views in front, and runs on its own cursor inside a READ ONLY transaction
(DuckDB refuses any write there), interrupted after ``time_limit_s`` and refused past
``row_limit`` rows: a partial segment is never returned as if it were whole.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlglot import exp

from retenta.segments import views
from retenta.segments.sqlcheck import CheckedSql, SqlCheckError, SqlProblem, check_sql

DEFAULT_TIME_LIMIT_S = 30.0
DEFAULT_ROW_LIMIT = 5_000_000


class SqlRunError(RuntimeError):
    """A checked query failed when it ran (time or row limit, a type error, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SqlRun:
    contact_ids: list[int]
    elapsed_ms: float
    sql: str


def members_query(checked: CheckedSql) -> exp.Query:
    """Distinct non-null contact ids of a checked template (views not yet added).

    >>> from retenta.segments.sqlcheck import check_sql
    >>> q = members_query(check_sql("SELECT contact_id FROM orders", views=["orders"]))
    >>> print(q.sql("duckdb", pretty=True))
    SELECT DISTINCT
      CAST(q.contact_id AS BIGINT) AS contact_id
    FROM (
      SELECT
        contact_id
      FROM orders
    ) AS q
    WHERE
      NOT q.contact_id IS NULL
    """
    inner = checked.query.subquery("q")
    column = exp.column("contact_id", "q")
    return (
        exp.select(exp.alias_(exp.cast(column, "BIGINT"), "contact_id"))
        .distinct()
        .from_(inner)
        .where(column.is_(exp.null()).not_())
    )


def check(
    cur: Any, workspace_id: str, sql: str, params: Mapping[str, Any] | None = None
) -> CheckedSql:
    """``check_sql`` against the views of this workspace (its custom data tables included)."""
    tables = views.load_data_tables(cur, workspace_id)
    return check_sql(sql, views=views.view_names(tables), params=params)


def segment_query(
    cur: Any,
    workspace_id: str,
    sql: str,
    params: Mapping[str, Any] | None = None,
    dialect: views.Dialect = "duckdb",
) -> exp.Query:
    """The whole member query of a template, views prepended (for refresh and explain)."""
    checked = check(cur, workspace_id, sql, params)
    tables = views.load_data_tables(cur, workspace_id)
    return views.with_views(members_query(checked), workspace_id, dialect, data_tables=tables)


def check_report(
    cur: Any, workspace_id: str, sql: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"ok", "errors": [{reason, position?}], "views_used"}`` (the check endpoint's body)."""
    try:
        checked = check(cur, workspace_id, sql, params)
    except SqlCheckError as exc:
        return {"ok": False, "errors": [e.as_dict() for e in exc.errors], "views_used": []}
    return {"ok": True, "errors": [], "views_used": checked.views_used}


def run(
    cur: Any,
    workspace_id: str,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> SqlRun:
    """Members of a template. ``SqlCheckError`` if refused, ``SqlRunError`` if it fails."""
    query = segment_query(cur, workspace_id, sql, params).limit(row_limit + 1)
    text = query.sql("duckdb")
    started = time.perf_counter()
    rows = _run_bounded(cur, text, time_limit_s)
    if len(rows) > row_limit:
        raise SqlRunError(f"the query returned more than the row limit of {row_limit} contacts")
    elapsed = (time.perf_counter() - started) * 1000
    return SqlRun([int(r[0]) for r in rows], round(elapsed, 1), text)


def _run_bounded(cur: Any, text: str, time_limit_s: float) -> list[tuple[Any, ...]]:
    """Rows of ``text`` on a fresh cursor in a READ ONLY transaction, interrupted in time."""
    own = cur.cursor()
    timer = threading.Timer(time_limit_s, own.interrupt)
    timer.daemon = True
    try:
        own.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        rows: list[tuple[Any, ...]] = own.execute(text).fetchall()
        return rows
    except duckdb.InterruptException as exc:
        raise SqlRunError(
            f"the query ran longer than the time limit of {time_limit_s:g} s"
        ) from exc
    except duckdb.Error as exc:
        raise SqlRunError(_run_reason(exc)) from exc
    finally:
        timer.cancel()
        with contextlib.suppress(duckdb.Error):
            own.execute("ROLLBACK")
        own.close()


def _run_reason(exc: duckdb.Error) -> str:
    """The first line of DuckDB's message, which names the column or type at fault."""
    text = str(exc).strip().split("\n")[0]
    if "contact_id" in text and "not found" in text:
        return "the query must return a contact_id column"
    return f"the query failed: {text}"


__all__ = [
    "SqlCheckError",
    "SqlProblem",
    "SqlRun",
    "SqlRunError",
    "check",
    "check_report",
    "members_query",
    "run",
    "segment_query",
]
