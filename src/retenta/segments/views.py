"""The documented logical views that segments read, confined to one workspace.

Segment SQL (compiled definitions and user SQL templates) reads only these names:
``contacts``, ``identities``, ``events``, ``orders``, ``order_items``, ``products``,
``consents``, ``message_events``, ``contact_traits`` and ``data_<table>`` per custom data
table. ``with_views`` prepends, as CTEs, exactly the views a query reads; each CTE binds
the workspace id as a literal (never a user value) and maps every ``contact_id`` to the
LIVE contact: merges never rewrite rows, they set ``contacts.merged_into`` (chains
possible), so rows of merged-away contacts are re-attributed and rows of erased contacts
dropped. Only merged or erased contacts need mapping and they are few, so one small map
(``_live_contacts``: id → live id or NULL) is LEFT JOINed and COALESCEd.

DuckDB CTEs read the physical tables by schema-qualified names (``main.events``), which a
user query may never use (see ``sqlcheck``). ClickHouse CTEs read physical tables
``<view>_all`` with a ``workspace_id`` column, written from DuckDB by
``materialize_for_clickhouse`` and loaded by ``load_into_chdb`` (chdb).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot  # noqa: F401 (the doctests use it)
from sqlglot import exp

from retenta.segments.view_sql import (
    CANDIDATE_IDS,
    CONSENT_ROWS_VIEW,
    DATA_PREFIX,
    EVENT_FACTS_VIEW,
    IDENTIFIER_COLUMNS,
    LIVE_MAP,
    LIVE_MAP_SQL,
    ORDER_LINES_VIEW,
    ORDER_TRAITS_PLAIN_VIEW,
    ORDER_TRAITS_VIEW,
    Dialect,
    ViewError,
    candidate_ids,
    data_columns,
    duckdb_body,
    needs,
    parse_query,
    restrict,
)

# Columns of each view, in order (the contract; ClickHouse CTEs select exactly these).
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": ("contact_id", "created_at", "updated_at", "last_seen_at", "email", "phone",
                 "external_id", "language", "timezone", "attributes"),
    "identities": ("contact_id", "type", "value", "first_seen", "last_seen"),
    "events": ("contact_id", "message_id", "type", "event", "timestamp", "received_at",
               "properties", "context", "source", "traits", "user_id", "anonymous_id"),
    "orders": ("contact_id", "order_id", "status", "channel", "store_id", "total", "revenue",
               "discount", "shipping", "tax", "currency", "coupon", "placed_at", "updated_at",
               "attributes"),
    "order_items": ("contact_id", "order_id", "line_no", "sku", "name", "category", "brand",
                    "quantity", "price", "returned_quantity", "placed_at", "status"),
    "products": ("sku", "name", "url", "price", "sale_price", "currency", "stock", "in_stock",
                 "category_path", "brand", "attributes", "image_url", "created_at",
                 "updated_at"),
    "consents": ("contact_id", "channel", "topic", "status", "source", "changed_at"),
    "message_events": ("contact_id", "send_id", "channel", "campaign_id", "message_id", "tags",
                       "status", "at", "machine", "properties"),
    "contact_traits": ("contact_id", "orders", "revenue", "average_order_value",
                       "first_order_at", "last_order_at", "last_activity_at",
                       "favourite_category"),
}  # fmt: skip
JSON_COLUMNS = frozenset({"attributes", "properties", "context", "traits"})
_UNMAPPED = frozenset({"products"})


def view_names(data_tables: Mapping[str, Any] | None = None) -> list[str]:
    """The documented view names (plus ``data_<name>`` for the given custom data tables).

    >>> view_names()[:3]
    ['contacts', 'identities', 'events']
    >>> view_names({"loyalty": []})[-1]
    'data_loyalty'
    """
    return [*VIEW_COLUMNS, *(DATA_PREFIX + name for name in data_tables or {})]


def load_data_tables(cur: Any, workspace_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{table name: columns}`` of the workspace's custom data tables."""
    rows = cur.execute(
        "SELECT name, columns, link FROM custom_tables WHERE workspace_id = ? ORDER BY name",
        [workspace_id],
    ).fetchall()
    return {str(r[0]): orjson.loads(r[1]) for r in rows}


def _clickhouse_body(name: str, data_tables: Mapping[str, list[dict[str, Any]]]) -> exp.Query:
    if name.startswith(DATA_PREFIX) and name not in VIEW_COLUMNS:
        columns = data_columns(data_tables[name[len(DATA_PREFIX) :]])
    else:
        columns = VIEW_COLUMNS[name]
    where = exp.column("workspace_id").eq(exp.Placeholder(this="ws"))
    return (
        exp.select(*(exp.column(c, quoted=True) for c in columns))
        .from_(exp.table_(f"{name}_all", quoted=True))
        .where(where)
    )


def _check_names(
    names: Iterable[str], data_tables: Mapping[str, Any], dialect: Dialect = "duckdb"
) -> list[str]:
    known = view_names(data_tables)
    internal = (
        [
            EVENT_FACTS_VIEW,
            ORDER_LINES_VIEW,
            CONSENT_ROWS_VIEW,
            ORDER_TRAITS_VIEW,
            ORDER_TRAITS_PLAIN_VIEW,
        ]
        if dialect == "duckdb"
        else []
    )
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in known and n not in internal]
    if unknown:
        raise ViewError(f"unknown view {unknown[0]!r}; views are: {', '.join(known)}")
    return [n for n in known + internal if n in wanted]


def view_ctes(
    workspace_id: str,
    names: Iterable[str],
    dialect: Dialect = "duckdb",
    *,
    data_tables: Mapping[str, list[dict[str, Any]]] | None = None,
    columns_used: set[str] | None = None,
    candidates: str | None = None,
) -> list[tuple[str, exp.Query]]:
    """The CTEs (name, query) to put in front of a query reading ``names``.

    ``columns_used`` (the column names the query mentions; None = all) lets ``contacts``
    and ``contact_traits`` skip the joins behind columns nobody reads (they become NULL).
    DuckDB views that map contacts are preceded by the ``_live_contacts`` map.
    ``candidates`` names a relation (table, registered Arrow, or an earlier CTE) with a
    ``contact_id`` column: every contact view then holds only those contacts' rows, read
    through the raw contact column so the scans prune (real-time evaluation).
    """
    tables = dict(data_tables or {})
    wanted = _check_names(names, tables, dialect)
    out: list[tuple[str, exp.Query]] = []
    if dialect == "duckdb":
        mapped = [n for n in wanted if n not in _UNMAPPED]
        if candidates is not None and mapped:
            out.append((LIVE_MAP, _parse(LIVE_MAP_SQL)))
            out.append((CANDIDATE_IDS, candidate_ids(candidates)))
        elif any(not _is_light_contacts(n, columns_used) for n in mapped):
            out.append((LIVE_MAP, _parse(LIVE_MAP_SQL)))
        for n in wanted:
            body = duckdb_body(n, columns_used, tables)
            restricted = candidates is not None and n not in _UNMAPPED
            out.append((n, restrict(body, candidates) if restricted else body))  # type: ignore[arg-type]
    elif dialect == "clickhouse":
        for n in wanted:
            body = _clickhouse_body(n, tables)
            if candidates is not None and n not in _UNMAPPED:
                pick = exp.select("contact_id").from_(exp.to_table(candidates))
                body = body.where(exp.column("contact_id").isin(query=pick))
            out.append((n, body))
    else:
        raise ViewError(f"unknown dialect {dialect!r}")
    return [(n, _bind_workspace(q, workspace_id)) for n, q in out]


def _bind_workspace(query: exp.Query, workspace_id: str) -> exp.Query:
    """``:ws`` → the workspace id literal, in place (every body here is a fresh tree)."""
    for node in list(query.find_all(exp.Placeholder)):
        if node.name == "ws":
            node.replace(exp.Literal.string(workspace_id))
    return query


def _is_light_contacts(name: str, used: set[str] | None) -> bool:
    return name == "contacts" and not needs(used, IDENTIFIER_COLUMNS)


def _parse(sql: str) -> exp.Query:
    return parse_query(sql)


def cte_names(query: exp.Expression) -> set[str]:
    """Names the query defines itself (CTE aliases, at any depth)."""
    return {cte.alias_or_name for cte in query.find_all(exp.CTE)}


def views_read(query: exp.Expression) -> list[str]:
    """Unqualified table names a query reads that are not its own CTEs, in order.

    >>> views_read(sqlglot.parse_one("WITH a AS (SELECT 1) SELECT * FROM orders, a"))
    ['orders']
    """
    own = cte_names(query)
    found = [
        t.name
        for t in query.find_all(exp.Table)
        if isinstance(t.this, exp.Identifier)
        and not t.args.get("db")
        and not t.args.get("catalog")
        and t.name not in own
    ]
    return list(dict.fromkeys(found))


def columns_mentioned(query: exp.Expression) -> set[str] | None:
    """Every column name the query mentions, or None when it selects ``*``.

    ``count(*)`` reads no column (it made every view compute every column: the 10-condition
    count computed each contact's favourite category from 17M viewed events for nothing).

    >>> columns_mentioned(sqlglot.parse_one("SELECT a FROM t GROUP BY a HAVING count(*) > 1"))
    {'a'}
    >>> columns_mentioned(sqlglot.parse_one("SELECT * FROM t")) is None
    True
    """
    if any(not isinstance(s.parent, exp.Count) for s in query.find_all(exp.Star)):
        return None
    return {c.name for c in query.find_all(exp.Column)}


def with_views(
    query: exp.Query,
    workspace_id: str,
    dialect: Dialect = "duckdb",
    *,
    data_tables: Mapping[str, list[dict[str, Any]]] | None = None,
    candidates: str | None = None,
) -> exp.Query:
    """``query`` with the CTEs of exactly the views it reads prepended (a new tree).

    Names that are neither views nor the query's own CTEs raise ``ViewError``. With
    ``candidates`` (see ``view_ctes``) the views come right after the query's own CTE of
    that name when it has one (so they can read it), else first.
    """
    query = query.copy()
    if not isinstance(query, exp.Select | exp.SetOperation):
        query = exp.select("*").from_(query.subquery("q"))
    names = [n for n in views_read(query) if n != candidates]
    ctes = view_ctes(
        workspace_id,
        names,
        dialect,
        data_tables=data_tables,
        columns_used=columns_mentioned(query),
        candidates=candidates,
    )
    existing = query.args.get("with_")
    built = [
        exp.CTE(
            this=body,
            alias=exp.TableAlias(this=exp.to_identifier(name)),
            materialized=(name in (LIVE_MAP, CANDIDATE_IDS)) if dialect == "duckdb" else None,
        )
        for name, body in ctes
    ]
    if not built:
        return query
    own = list(existing.expressions) if existing else []
    at = next((i + 1 for i, c in enumerate(own) if candidates and c.alias == candidates), 0)
    recursive = bool(existing and existing.args.get("recursive"))
    query.set("with_", exp.With(expressions=own[:at] + built + own[at:], recursive=recursive))
    return query


def _view_select(name: str, workspace_id: str, data_tables: Mapping[str, Any]) -> str:
    """DuckDB SQL of a whole view plus its ``workspace_id``, JSON columns as text."""
    if name in VIEW_COLUMNS:
        columns = VIEW_COLUMNS[name]
    else:
        columns = data_columns(data_tables[name[len(DATA_PREFIX) :]])
    selects: list[exp.Expr] = [exp.alias_(exp.Literal.string(workspace_id), "workspace_id")]
    for col in columns:
        ref = exp.column(col, quoted=True)
        json = col in JSON_COLUMNS and name in VIEW_COLUMNS
        selects.append(exp.alias_(exp.cast(ref, "VARCHAR"), col, quoted=True) if json else ref)
    query = exp.select(*selects).from_(exp.to_table(name))
    return with_views(query, workspace_id, "duckdb", data_tables=data_tables).sql("duckdb")


def materialize_for_clickhouse(cur: Any, workspace_id: str, out_dir: Path | str) -> dict[str, Path]:
    """Write every view of a workspace to Parquet: ``{view name: path}`` for ``load_into_chdb``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = load_data_tables(cur, workspace_id)
    paths: dict[str, Path] = {}
    for name in view_names(tables):
        table: pa.Table = cur.sql(_view_select(name, workspace_id, tables)).to_arrow_table()
        path = out / f"{name}.{_file_safe(workspace_id)}.parquet"
        pq.write_table(table, path)
        paths[name] = path
    return paths


def _file_safe(text: str) -> str:
    """
    >>> _file_safe("ws_1/../x")
    'ws_1____x'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def load_into_chdb(session: Any, paths: Mapping[str, Path | str]) -> None:
    """Create (or append to) the ClickHouse table ``<view>_all`` from each Parquet file."""
    for name, path in paths.items():
        table = exp.to_identifier(f"{name}_all", quoted=True).sql("clickhouse")
        source = exp.Anonymous(
            this="file", expressions=[exp.Literal.string(str(path)), exp.var("Parquet")]
        ).sql("clickhouse")
        session.query(
            f"CREATE TABLE IF NOT EXISTS {table} ENGINE = MergeTree ORDER BY tuple()"
            f" AS SELECT * FROM {source} LIMIT 0"
        )
        session.query(f"INSERT INTO {table} SELECT * FROM {source}")


__all__ = [
    "CANDIDATE_IDS",
    "DATA_PREFIX",
    "JSON_COLUMNS",
    "LIVE_MAP",
    "LIVE_MAP_SQL",
    "VIEW_COLUMNS",
    "Dialect",
    "ViewError",
    "columns_mentioned",
    "cte_names",
    "data_columns",
    "load_data_tables",
    "load_into_chdb",
    "materialize_for_clickhouse",
    "view_ctes",
    "view_names",
    "views_read",
    "with_views",
]
