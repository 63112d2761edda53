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
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

Dialect = Literal["duckdb", "clickhouse"]
LIVE_MAP = "_live_contacts"
DATA_PREFIX = "data_"
MAX_MERGE_HOPS = 64
IDENTIFIER_COLUMNS = ("email", "phone", "external_id")
EVENT_TRAIT_COLUMNS = ("last_activity_at", "favourite_category")
DATA_SQL_TYPES = {
    "text": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
}


class ViewError(ValueError):
    """A query names a view that does not exist in this workspace."""


# ---------------------------------------------------------------------------------------
# DuckDB bodies. `:ws` is replaced by the workspace id as an AST literal; `{live}` marks
# the contact mapping, `LIVE(x)` the expression of the live contact of alias x.

_MAPPED = "COALESCE(m.live_id, {a}.contact_id)"
_MAP_JOIN = "LEFT JOIN " + LIVE_MAP + " AS m ON m.id = {a}.contact_id"
_MAP_KEEP = "(m.id IS NULL OR m.live_id IS NOT NULL)"

LIVE_MAP_SQL = f"""
WITH RECURSIVE chain(id, target, hops) AS (
    SELECT id, merged_into, 1 FROM main.contacts
    WHERE workspace_id = :ws AND merged_into IS NOT NULL
    UNION ALL
    SELECT chain.id, c.merged_into, chain.hops + 1 FROM chain
    JOIN main.contacts AS c ON c.id = chain.target
    WHERE c.merged_into IS NOT NULL AND chain.hops < {MAX_MERGE_HOPS}
), ends AS (SELECT id, arg_max(target, hops) AS target FROM chain GROUP BY id)
SELECT ends.id AS id,
    CASE WHEN t.erased_at IS NULL AND t.merged_into IS NULL THEN ends.target END AS live_id
FROM ends LEFT JOIN main.contacts AS t ON t.id = ends.target AND t.workspace_id = :ws
UNION ALL
SELECT id, CAST(NULL AS BIGINT) FROM main.contacts
WHERE workspace_id = :ws AND erased_at IS NOT NULL AND merged_into IS NULL
"""


def _mapped(columns: str, table: str) -> str:
    """SELECT of ``table`` (alias x) with its contact mapped to the live one."""
    return (
        f"SELECT {_MAPPED.format(a='x')} AS contact_id, {columns} FROM {table} AS x "
        f"{_MAP_JOIN.format(a='x')} WHERE x.workspace_id = :ws AND {_MAP_KEEP}"
    )


_IDENTIFIERS_OF_CONTACT = f"""
SELECT {_MAPPED.format(a="x")} AS contact_id,
    arg_max(x.value, x.last_seen) FILTER (WHERE x.type = 'email') AS email,
    arg_max(x.value, x.last_seen) FILTER (WHERE x.type = 'phone') AS phone,
    arg_max(x.value, x.last_seen) FILTER (WHERE x.type = 'external_id') AS external_id
FROM main.identities AS x {_MAP_JOIN.format(a="x")}
WHERE x.workspace_id = :ws AND x.type IN ('email', 'phone', 'external_id') AND {_MAP_KEEP}
GROUP BY 1
"""
_LIVE_CONTACTS_WHERE = "c.workspace_id = :ws AND c.merged_into IS NULL AND c.erased_at IS NULL"
_CONTACT_COLUMNS = (
    "c.id AS contact_id, c.created_at, c.updated_at, c.last_seen_at, {ids}, c.language,"
    " c.timezone, c.attributes"
)


def _contacts_sql(with_identifiers: bool) -> str:
    if not with_identifiers:
        nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {n}" for n in IDENTIFIER_COLUMNS)
        cols = _CONTACT_COLUMNS.format(ids=nulls)
        return f"SELECT {cols} FROM main.contacts AS c WHERE {_LIVE_CONTACTS_WHERE}"
    cols = _CONTACT_COLUMNS.format(ids="i.email, i.phone, i.external_id")
    return (
        f"SELECT {cols} FROM main.contacts AS c LEFT JOIN ({_IDENTIFIERS_OF_CONTACT}) AS i"
        f" ON i.contact_id = c.id WHERE {_LIVE_CONTACTS_WHERE}"
    )


_ORDER_ITEMS_SQL = f"""
SELECT {_MAPPED.format(a="o")} AS contact_id, i.order_id, i.line_no, i.sku,
    COALESCE(i.name, p.name) AS name,
    COALESCE(i.category, p.category_path[-1]) AS category,
    COALESCE(i.brand, p.brand) AS brand, i.quantity, CAST(i.price AS DOUBLE) AS price,
    i.returned_quantity, o.placed_at, o.status
FROM main.order_items AS i
JOIN main.orders AS o ON o.workspace_id = i.workspace_id AND o.order_id = i.order_id
LEFT JOIN main.products AS p ON p.workspace_id = i.workspace_id AND p.sku = i.sku
{_MAP_JOIN.format(a="o")}
WHERE i.workspace_id = :ws AND o.workspace_id = :ws AND {_MAP_KEEP}
"""

_CONSENTS_SQL = (
    "SELECT contact_id, channel, topic, status, source, changed_at FROM ("
    + _mapped(
        "x.channel, x.topic, x.status, x.source, x.changed_at, x.rowid AS seq", "main.consents"
    )
    + ") AS h QUALIFY row_number() OVER ("
    "PARTITION BY contact_id, channel, topic ORDER BY changed_at DESC, seq DESC) = 1"
)

# The profile's computed traits (contacts/traits.py) for every live contact at once:
# cancelled orders ignored; an order with lines is worth its lines net of returns, one
# without lines its amount (nothing once returned); favourite category = most units bought
# net of returns (ties: alphabetical), else most 'Product Viewed'.
_TRAIT_ORDERS = f"""
lines AS (
    SELECT i.order_id, COALESCE(i.category, p.category_path[-1]) AS category,
        GREATEST(i.quantity - COALESCE(i.returned_quantity, 0), 0) AS units,
        i.price * GREATEST(i.quantity - COALESCE(i.returned_quantity, 0), 0) AS net
    FROM main.order_items AS i
    LEFT JOIN main.products AS p ON p.workspace_id = i.workspace_id AND p.sku = i.sku
    WHERE i.workspace_id = :ws
), kept_orders AS (
    {
    _mapped(
        "x.order_id, x.status, COALESCE(x.revenue, x.total) AS amount, x.placed_at", "main.orders"
    )
} AND x.status <> 'cancelled'
), order_net AS (SELECT order_id, sum(net) AS net FROM lines GROUP BY order_id
), order_figures AS (
    SELECT k.contact_id, count(*) AS orders,
        sum(CASE WHEN n.order_id IS NOT NULL THEN n.net
                 WHEN k.status = 'returned' OR k.amount IS NULL THEN 0
                 ELSE k.amount END) AS revenue,
        min(k.placed_at) AS first_order_at, max(k.placed_at) AS last_order_at
    FROM kept_orders AS k LEFT JOIN order_net AS n ON n.order_id = k.order_id
    GROUP BY k.contact_id
), bought AS (
    SELECT k.contact_id, l.category, sum(l.units) AS weight
    FROM lines AS l JOIN kept_orders AS k ON k.order_id = l.order_id
    WHERE l.category IS NOT NULL AND l.category <> ''
    GROUP BY k.contact_id, l.category HAVING sum(l.units) > 0
    QUALIFY row_number() OVER (PARTITION BY k.contact_id ORDER BY weight DESC, l.category) = 1
)"""
_TRAIT_EVENTS = f"""
, activity AS (
    SELECT contact_id, max(timestamp) AS last_activity_at FROM (
        {_mapped("x.timestamp", "main.all_events")}) AS e GROUP BY contact_id
), viewed AS (
    SELECT contact_id, category, count(*) AS weight FROM (
        {_mapped("x.properties ->> 'category' AS category", "main.all_events")}
        AND x.event = 'Product Viewed') AS v
    WHERE category IS NOT NULL AND category <> '' GROUP BY contact_id, category
    QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY weight DESC, category) = 1
)"""
_TRAIT_SELECT = """
SELECT c.id AS contact_id, COALESCE(f.orders, 0) AS orders,
    CAST(ROUND(COALESCE(f.revenue, 0), 2) AS DOUBLE) AS revenue,
    CASE WHEN f.orders > 0 THEN ROUND(CAST(ROUND(f.revenue, 2) AS DOUBLE) / f.orders, 2)
         ELSE 0.0 END AS average_order_value,
    f.first_order_at, f.last_order_at, {last_activity} AS last_activity_at,
    {favourite} AS favourite_category
FROM main.contacts AS c
LEFT JOIN order_figures AS f ON f.contact_id = c.id
LEFT JOIN bought AS b ON b.contact_id = c.id {event_joins}
WHERE c.workspace_id = :ws AND c.merged_into IS NULL AND c.erased_at IS NULL
"""


def _traits_sql(with_events: bool) -> str:
    if with_events:
        select = _TRAIT_SELECT.format(
            last_activity="a.last_activity_at",
            favourite="COALESCE(b.category, v.category)",
            event_joins="LEFT JOIN activity AS a ON a.contact_id = c.id"
            " LEFT JOIN viewed AS v ON v.contact_id = c.id",
        )
        return f"WITH {_TRAIT_ORDERS}{_TRAIT_EVENTS} {select}"
    select = _TRAIT_SELECT.format(
        last_activity="CAST(NULL AS TIMESTAMPTZ)", favourite="b.category", event_joins=""
    )
    return f"WITH {_TRAIT_ORDERS} {select}"


_STATIC_SQL: dict[str, str] = {
    "identities": _mapped("x.type, x.value, x.first_seen, x.last_seen", "main.identities"),
    "events": _mapped(
        "x.message_id, x.type, x.event, x.timestamp, x.received_at, x.properties, x.context,"
        " x.source, x.traits, x.user_id, x.anonymous_id",
        "main.all_events",
    ),
    "orders": _mapped(
        "x.order_id, x.status, x.channel, x.store_id, CAST(x.total AS DOUBLE) AS total,"
        " CAST(x.revenue AS DOUBLE) AS revenue, CAST(x.discount AS DOUBLE) AS discount,"
        " CAST(x.shipping AS DOUBLE) AS shipping, CAST(x.tax AS DOUBLE) AS tax, x.currency,"
        " x.coupon, x.placed_at, x.updated_at, x.attributes",
        "main.orders",
    ),
    "order_items": _ORDER_ITEMS_SQL,
    "products": (
        "SELECT sku, name, url, CAST(price AS DOUBLE) AS price,"
        " CAST(sale_price AS DOUBLE) AS sale_price, currency, stock, in_stock, category_path,"
        " brand, attributes, image_url, created_at, updated_at"
        " FROM main.products WHERE workspace_id = :ws"
    ),
    "consents": _CONSENTS_SQL,
    "message_events": _mapped(
        'x.send_id, x.channel, x.campaign_id, x.message_id, x.tags, x.status, x."at", x.machine,'
        " x.properties",
        "main.message_events",
    ),
}

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


_SAFE_NAME = re.compile(r"^[a-z0-9_]+$")


def data_columns(columns: list[dict[str, Any]]) -> tuple[str, ...]:
    """The view's columns: the user's, then ``contact_id`` and ``sku`` unless taken.

    >>> data_columns([{"name": "tier", "type": "text"}, {"name": "sku", "type": "text"}])
    ('tier', 'sku', 'contact_id', 'updated_at')
    """
    names = tuple(c["name"] for c in columns)
    links = tuple(n for n in ("contact_id", "sku", "updated_at") if n not in names)
    return names + links


def _data_sql(name: str, columns: list[dict[str, Any]]) -> exp.Query:
    """A custom data table's rows, typed from their JSON (rows with an erased contact go)."""
    selects: list[exp.Expr] = []
    for col in columns:
        if not _SAFE_NAME.match(col["name"]):
            raise ViewError(f"data table {name!r}: column {col['name']!r} is not a safe name")
        path = exp.JSONExtractScalar(
            this=exp.column("data", "x"), expression=exp.Literal.string(f"$.{col['name']}")
        )
        cast = exp.cast(path, DATA_SQL_TYPES[col["type"]], dialect="duckdb")
        selects.append(exp.alias_(cast, col["name"], quoted=True))
    taken = {c["name"] for c in columns}
    links = {
        "contact_id": sqlglot.parse_one(
            "CASE WHEN x.contact_id IS NULL THEN NULL ELSE COALESCE(m.live_id, x.contact_id) END"
        ),
        "sku": exp.column("sku", "x"),
        "updated_at": exp.column("updated_at", "x"),
    }
    selects += [exp.alias_(e, n) for n, e in links.items() if n not in taken]
    keep = sqlglot.parse_one(
        "x.workspace_id = :ws AND x.table_name = :table AND"
        " (x.contact_id IS NULL OR m.id IS NULL OR m.live_id IS NOT NULL)"
    )
    keep = exp.replace_placeholders(keep, table=name)
    return (
        exp.select(*selects)
        .from_(exp.table_("custom_rows", db="main", alias="x"))
        .join(exp.table_(LIVE_MAP, alias="m"), on="m.id = x.contact_id", join_type="left")
        .where(keep)
    )


def _needs(used: set[str] | None, columns: Iterable[str]) -> bool:
    return used is None or any(c in used for c in columns)


def _duckdb_body(
    name: str, used: set[str] | None, data_tables: Mapping[str, list[dict[str, Any]]]
) -> exp.Query:
    if name == "contacts":
        sql = _contacts_sql(_needs(used, IDENTIFIER_COLUMNS))
    elif name == "contact_traits":
        sql = _traits_sql(_needs(used, EVENT_TRAIT_COLUMNS))
    elif name in _STATIC_SQL:
        sql = _STATIC_SQL[name]
    else:
        return _data_sql(name[len(DATA_PREFIX) :], data_tables[name[len(DATA_PREFIX) :]])
    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(parsed, exp.Query)
    return parsed


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


def _check_names(names: Iterable[str], data_tables: Mapping[str, Any]) -> list[str]:
    known = view_names(data_tables)
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ViewError(f"unknown view {unknown[0]!r}; views are: {', '.join(known)}")
    return [n for n in known if n in wanted]


def view_ctes(
    workspace_id: str,
    names: Iterable[str],
    dialect: Dialect = "duckdb",
    *,
    data_tables: Mapping[str, list[dict[str, Any]]] | None = None,
    columns_used: set[str] | None = None,
) -> list[tuple[str, exp.Query]]:
    """The CTEs (name, query) to put in front of a query reading ``names``.

    ``columns_used`` (the column names the query mentions; None = all) lets ``contacts``
    and ``contact_traits`` skip the joins behind columns nobody reads (they become NULL).
    DuckDB views that map contacts are preceded by the ``_live_contacts`` map.
    """
    tables = dict(data_tables or {})
    wanted = _check_names(names, tables)
    out: list[tuple[str, exp.Query]] = []
    if dialect == "duckdb":
        if any(n not in _UNMAPPED and not _is_light_contacts(n, columns_used) for n in wanted):
            out.append((LIVE_MAP, _parse(LIVE_MAP_SQL)))
        out += [(n, _duckdb_body(n, columns_used, tables)) for n in wanted]
    elif dialect == "clickhouse":
        out += [(n, _clickhouse_body(n, tables)) for n in wanted]
    else:
        raise ViewError(f"unknown dialect {dialect!r}")
    return [(n, _bind_workspace(q, workspace_id)) for n, q in out]


def _bind_workspace(query: exp.Query, workspace_id: str) -> exp.Query:
    bound = exp.replace_placeholders(query, ws=workspace_id)
    assert isinstance(bound, exp.Query)
    return bound


def _is_light_contacts(name: str, used: set[str] | None) -> bool:
    return name == "contacts" and not _needs(used, IDENTIFIER_COLUMNS)


def _parse(sql: str) -> exp.Query:
    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(parsed, exp.Query)
    return parsed


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
    """Every column name the query mentions, or None when it selects ``*``."""
    if any(True for _ in query.find_all(exp.Star)):
        return None
    return {c.name for c in query.find_all(exp.Column)}


def with_views(
    query: exp.Query,
    workspace_id: str,
    dialect: Dialect = "duckdb",
    *,
    data_tables: Mapping[str, list[dict[str, Any]]] | None = None,
) -> exp.Query:
    """``query`` with the CTEs of exactly the views it reads prepended (a new tree).

    Names that are neither views nor the query's own CTEs raise ``ViewError``.
    """
    query = query.copy()
    if not isinstance(query, exp.Select | exp.SetOperation):
        query = exp.select("*").from_(query.subquery("q"))
    names = views_read(query)
    ctes = view_ctes(
        workspace_id,
        names,
        dialect,
        data_tables=data_tables,
        columns_used=columns_mentioned(query),
    )
    existing = query.args.get("with_")
    built = [
        exp.CTE(
            this=body,
            alias=exp.TableAlias(this=exp.to_identifier(name)),
            materialized=(name == LIVE_MAP) if dialect == "duckdb" else None,
        )
        for name, body in ctes
    ]
    if not built:
        return query
    own = list(existing.expressions) if existing else []
    recursive = bool(existing and existing.args.get("recursive"))
    query.set("with_", exp.With(expressions=built + own, recursive=recursive))
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
