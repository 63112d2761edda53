"""DuckDB bodies of the logical views (see ``views``): SQL text of our own, parsed by sqlglot.

No user value ever enters this text: ``:ws`` is replaced by the workspace id as an AST
literal, and data-table column names are checked against ``[a-z0-9_]`` and quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

import sqlglot
from sqlglot import exp

from retenta.storage.duckdb.event_facts import HOT_PROPERTIES

Dialect = Literal["duckdb", "clickhouse"]
LIVE_MAP = "_live_contacts"
DATA_PREFIX = "data_"
MAX_MERGE_HOPS = 64
IDENTIFIER_COLUMNS = ("email", "phone", "external_id")
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
WITH RECURSIVE dead AS MATERIALIZED (
    SELECT id, merged_into FROM main.contacts
    WHERE workspace_id = :ws AND (merged_into IS NOT NULL OR erased_at IS NOT NULL)
), chain(id, target, hops) AS (
    SELECT id, merged_into, 1 FROM dead WHERE merged_into IS NOT NULL
    UNION ALL
    SELECT chain.id, d.merged_into, chain.hops + 1 FROM chain
    JOIN dead AS d ON d.id = chain.target
    WHERE d.merged_into IS NOT NULL AND chain.hops < {MAX_MERGE_HOPS}
), ends AS (SELECT id, arg_max(target, hops) AS target FROM chain GROUP BY id)
SELECT d.id AS id, CASE WHEN t.id IS NULL THEN e.target END AS live_id
FROM dead AS d LEFT JOIN ends AS e ON e.id = d.id LEFT JOIN dead AS t ON t.id = e.target
"""
# Driven by `dead` (not by the recursive part) on purpose: DuckDB then estimates the map
# at the size of a filter on contacts, builds its hash table on the map and probes the
# big table with it. Estimated from the recursion, the map looked larger than `orders`,
# and DuckDB built the hash table on orders/events instead (RFM at 1M: 1.0 → 0.45 s for
# that join).


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


# Joins match on the one text key (both sides are confined to :ws by the WHERE or the ON):
# a second key, `workspace_id = workspace_id`, made every probe hash and compare two
# strings (purchase leaf at 1M: 482 -> 335 ms CPU, same members).
_ORDER_ITEMS_BODY = f"""
SELECT {_MAPPED.format(a="o")} AS contact_id, i.order_id, i.line_no, i.sku,
    COALESCE(i.name, p.name) AS name,
    COALESCE(i.category, p.category_path[-1]) AS category,
    COALESCE(i.brand, p.brand) AS brand, i.quantity, CAST(i.price AS DOUBLE) AS price,
    i.returned_quantity, o.placed_at, o.status{{own}}
FROM main.order_items AS i
JOIN main.orders AS o ON o.order_id = i.order_id
LEFT JOIN main.products AS p ON p.workspace_id = :ws AND p.sku = i.sku
{_MAP_JOIN.format(a="o")}
WHERE i.workspace_id = :ws AND o.workspace_id = :ws AND {_MAP_KEEP}
"""
_ORDER_ITEMS_SQL = _ORDER_ITEMS_BODY.format(own="")

# Internal view of the compiler (DuckDB): ``order_items`` plus the line's own name, category
# and brand, before the product fills in a missing one. A purchase filter on one of those
# also tests the line's own value (``own IS NULL OR <the same test of own>``: exact, since
# the view's value is the line's own whenever the line has one), which DuckDB pushes into
# the lines' scan, so only lines that can pass are joined to orders and products (purchase
# leaf "category contains" at 1M: 732 -> 392 ms CPU, same members).
ORDER_LINES_VIEW = "_order_lines"
LINE_OWN_COLUMNS = {"name": "_line_name", "category": "_line_category", "brand": "_line_brand"}
_ORDER_LINES_SQL = _ORDER_ITEMS_BODY.format(
    own="".join(f", i.{c} AS {own}" for c, own in LINE_OWN_COLUMNS.items())
)

# Current state per (contact, channel, topic): the latest change, ties to the later row.
# One GROUP BY with arg_max on a single ordered key (changed_at in µs, then the rowid) —
# faster at 1M than keeping the last row with a window (consent leaf 498–702 → 374–403 ms).
_CONSENT_LAST = "(epoch_us(x.changed_at)::HUGEINT * 4294967296 + x.rowid)"
_CONSENTS_SQL = (
    f"SELECT {_MAPPED.format(a='x')} AS contact_id, x.channel, x.topic,"
    f" arg_max(x.status, {_CONSENT_LAST}) AS status,"
    f" arg_max(x.source, {_CONSENT_LAST}) AS source,"
    f" max(x.changed_at) AS changed_at"
    f" FROM main.consents AS x {_MAP_JOIN.format(a='x')}"
    f" WHERE x.workspace_id = :ws AND {_MAP_KEEP} GROUP BY 1, x.channel, x.topic"
)

# Internal view of the compiler (DuckDB): the consent rows themselves, with the key the
# ``consents`` view orders them by. A consent condition fixes channel and topic, so it
# groups these rows by contact alone — ``arg_max(status, _last)`` per contact is the view's
# status of that (contact, channel, topic) — instead of grouping every (contact, channel,
# topic) first (consent leaf at 1M: 231 -> 153 ms CPU, same members).
CONSENT_ROWS_VIEW = "_consent_rows"
_CONSENT_ROWS_SQL = (
    f"SELECT {_MAPPED.format(a='x')} AS contact_id, x.channel, x.topic, x.status,"
    f" {_CONSENT_LAST} AS _last"
    f" FROM main.consents AS x {_MAP_JOIN.format(a='x')}"
    f" WHERE x.workspace_id = :ws AND {_MAP_KEEP}"
)

# The profile's computed traits (contacts/traits.py) for every live contact at once:
# cancelled orders ignored; an order with lines is worth its lines net of returns, one
# without lines its amount (nothing once returned); favourite category = most units bought
# net of returns (ties: alphabetical), else most 'Product Viewed'. Only the parts behind the
# columns a query reads are computed (the others are NULL): counts and dates read orders
# alone, money adds one GROUP BY of the lines, the favourite the lines with their products
# and the viewed events. last_activity_at is ``contacts.last_seen_at`` (identity keeps it at
# the newest event's time, merges included) or a newer event of the hot tier not flushed
# there yet — the same as the profile's newest event without scanning every event.
TRAIT_ORDER_COLUMNS = ("orders", "revenue", "average_order_value", "first_order_at",
                       "last_order_at")  # fmt: skip
TRAIT_MONEY_COLUMNS = ("revenue", "average_order_value")
_KEPT_ORDERS = f"""kept_orders AS (
    {
    _mapped(
        "x.order_id, x.status, COALESCE(x.revenue, x.total) AS amount, x.placed_at", "main.orders"
    )
} AND x.status <> 'cancelled'
)"""
_ORDER_NET = """order_net AS (
    SELECT i.order_id,
        sum(i.price * GREATEST(i.quantity - COALESCE(i.returned_quantity, 0), 0)) AS net
    FROM main.order_items AS i WHERE i.workspace_id = :ws GROUP BY i.order_id
)"""
_ORDER_FIGURES = """order_figures AS (
    SELECT k.contact_id, count(*) AS orders, {revenue} AS revenue,
        min(k.placed_at) AS first_order_at, max(k.placed_at) AS last_order_at
    FROM kept_orders AS k {net_join}
    GROUP BY k.contact_id
)"""
_REVENUE = """sum(CASE WHEN n.order_id IS NOT NULL THEN n.net
                 WHEN k.status = 'returned' OR k.amount IS NULL THEN 0
                 ELSE k.amount END)"""
_BOUGHT = """bought AS (
    SELECT contact_id, category FROM (
        SELECT k.contact_id, COALESCE(i.category, p.category_path[-1]) AS category,
            sum(GREATEST(i.quantity - COALESCE(i.returned_quantity, 0), 0)) AS weight
        FROM main.order_items AS i
        JOIN kept_orders AS k ON k.order_id = i.order_id
        LEFT JOIN main.products AS p ON p.workspace_id = :ws AND p.sku = i.sku
        WHERE i.workspace_id = :ws AND COALESCE(i.category, p.category_path[-1]) <> ''
        GROUP BY k.contact_id, COALESCE(i.category, p.category_path[-1])) AS w
    WHERE weight > 0
    QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY weight DESC, category) = 1
)"""
_VIEWED = f"""viewed AS (
    SELECT contact_id, NULLIF(category, '') AS category, count(*) AS weight FROM (
        {_mapped("x.properties ->> 'category' AS category", "main.all_events")}
        AND x.event = 'Product Viewed') AS v
    GROUP BY contact_id, category
    QUALIFY row_number() OVER (PARTITION BY contact_id
        ORDER BY NULLIF(category, '') IS NULL, weight DESC, category) = 1
)"""
# (No filter on the extracted category before the GROUP BY: DuckDB would push it under
# the candidates' semi-join and extract JSON from every row instead of a few.)
_RECENT_ACTIVITY = f"""recent_activity AS (
    SELECT contact_id, max(timestamp) AS at FROM (
        {_mapped("x.timestamp", "main.events_recent")}) AS e GROUP BY contact_id
)"""
_TRAIT_SELECT = """
SELECT c.id AS contact_id, {orders} AS orders, {revenue} AS revenue,
    {aov} AS average_order_value, {first} AS first_order_at, {last} AS last_order_at,
    {activity} AS last_activity_at, {favourite} AS favourite_category
FROM main.contacts AS c {joins}
WHERE c.workspace_id = :ws AND c.merged_into IS NULL AND c.erased_at IS NULL
"""
_NULL_TS = "CAST(NULL AS TIMESTAMPTZ)"
_REVENUE_OUT = "CAST(ROUND(COALESCE(f.revenue, 0), 2) AS DOUBLE)"
_AOV_OUT = (
    "CASE WHEN f.orders > 0 THEN ROUND(CAST(ROUND(f.revenue, 2) AS DOUBLE) / f.orders, 2)"
    " ELSE 0.0 END"
)


def _traits_sql(used: set[str] | None) -> str:
    """The traits view computing only what the columns in ``used`` need (None = all)."""
    figures, money = needs(used, TRAIT_ORDER_COLUMNS), needs(used, TRAIT_MONEY_COLUMNS)
    favourite = needs(used, ("favourite_category",))
    activity = needs(used, ("last_activity_at",))
    ctes: list[str] = []
    joins: list[str] = []
    if figures or favourite:
        ctes.append(_KEPT_ORDERS)
    if money:
        ctes.append(_ORDER_NET)
    if figures:
        net_join = "LEFT JOIN order_net AS n ON n.order_id = k.order_id" if money else ""
        revenue = _REVENUE if money else "CAST(NULL AS DOUBLE)"
        ctes.append(_ORDER_FIGURES.format(revenue=revenue, net_join=net_join))
        joins.append("LEFT JOIN order_figures AS f ON f.contact_id = c.id")
    if favourite:
        ctes += [_BOUGHT, _VIEWED]
        joins += [
            "LEFT JOIN bought AS b ON b.contact_id = c.id",
            "LEFT JOIN viewed AS v ON v.contact_id = c.id",
        ]
    if activity:
        ctes.append(_RECENT_ACTIVITY)
        joins.append("LEFT JOIN recent_activity AS a ON a.contact_id = c.id")
    null_double = "CAST(NULL AS DOUBLE)"
    select = _TRAIT_SELECT.format(
        orders="COALESCE(f.orders, 0)" if figures else "CAST(NULL AS BIGINT)",
        revenue=_REVENUE_OUT if money else null_double,
        aov=_AOV_OUT if money else null_double,
        first="f.first_order_at" if figures else _NULL_TS,
        last="f.last_order_at" if figures else _NULL_TS,
        activity="GREATEST(c.last_seen_at, a.at)" if activity else _NULL_TS,
        favourite="COALESCE(b.category, v.category)" if favourite else "CAST(NULL AS VARCHAR)",
        joins=" ".join(joins),
    )
    return f"WITH {', '.join(ctes)} {select}" if ctes else select


# Internal view of the compiler (never in user SQL): event rows with the hot properties as
# columns — the time-ordered ``event_facts`` copy of L1 + L2, plus L0 read from its JSON
# (``storage.duckdb.event_facts``; used only while that copy is in sync).
EVENT_FACTS_VIEW = "_event_facts"


def _event_facts_sql() -> str:
    stored = ", ".join(f"x.{key}" for key in HOT_PROPERTIES)
    parsed = ", ".join(f"x.properties ->> '$.{key}' AS {key}" for key in HOT_PROPERTIES)
    return (
        f"{_mapped('x.event, x.timestamp, ' + stored, 'main.event_facts')} UNION ALL"
        f" {_mapped('x.event, x.timestamp, ' + parsed, 'main.events_recent')}"
    )


# Internal view of the compiler: the order traits of every live contact read from the
# per-contact ``order_summary`` (``segments/order_summary.py``; used only while in sync).
# The same figures as ``contact_traits``: raw contacts' rows summed per live contact. The
# contacts whose orders changed since the last fold read their exact figures from the
# delta instead (the sync check's TEMP ``order_summary_delta``; unqualified, so that it
# shadows the always-empty table of that name in ``main``).
ORDER_TRAITS_VIEW = "_order_traits"
# The same without the delta: used when the sync check found nothing marked. (At 1M summary
# rows the delta's anti-join as a LEFT JOIN costs ~17 ms, as NOT EXISTS ~70 ms, as NOT IN
# ~40 ms: one A/B in one snapshot, 25 contacts in the delta.)
ORDER_TRAITS_PLAIN_VIEW = "_order_traits_plain"
_ORDER_ROWS = """(
    SELECT s.contact_id, s.orders, s.revenue, s.first_order_at, s.last_order_at
    FROM main.order_summary AS s LEFT JOIN (
        SELECT contact_id FROM order_summary_delta WHERE workspace_id = :ws
    ) AS d ON d.contact_id = s.contact_id
    WHERE s.workspace_id = :ws AND d.contact_id IS NULL
    UNION ALL
    SELECT d.contact_id, d.orders, d.revenue, d.first_order_at, d.last_order_at
    FROM order_summary_delta AS d WHERE d.workspace_id = :ws
)"""
# A summary row is one raw contact's (one row per contact: ``rebuild`` and ``refresh`` group by
# it, and a duplicate would break the sync check's hash sums). So only contacts that merges
# touch need the GROUP BY: a contact neither merged away nor merged into keeps its one row
# as is (the AOV leaf at 1M: 120 -> 56 ms CPU; the store had no merges).
_MERGE_TARGETS = f"(SELECT live_id FROM {LIVE_MAP} WHERE live_id IS NOT NULL)"
_ORDER_TRAITS_SQL = f"""
WITH order_figures AS (
    SELECT x.contact_id, x.orders, x.revenue, x.first_order_at, x.last_order_at
    FROM {_ORDER_ROWS} AS x
    WHERE x.orders > 0 AND x.contact_id NOT IN (SELECT id FROM {LIVE_MAP})
        AND x.contact_id NOT IN {_MERGE_TARGETS}
    UNION ALL
    SELECT {_MAPPED.format(a="x")} AS contact_id, CAST(sum(x.orders) AS BIGINT) AS orders,
        sum(x.revenue) AS revenue, min(x.first_order_at) AS first_order_at,
        max(x.last_order_at) AS last_order_at
    FROM {_ORDER_ROWS} AS x {_MAP_JOIN.format(a="x")}
    WHERE x.orders > 0 AND {_MAP_KEEP} AND (m.id IS NOT NULL OR x.contact_id IN {_MERGE_TARGETS})
    GROUP BY 1
)
SELECT c.id AS contact_id, COALESCE(f.orders, 0) AS orders, {_REVENUE_OUT} AS revenue,
    {_AOV_OUT} AS average_order_value, f.first_order_at, f.last_order_at
FROM main.contacts AS c LEFT JOIN order_figures AS f ON f.contact_id = c.id
WHERE {_LIVE_CONTACTS_WHERE}
"""
_ORDER_TRAITS_PLAIN_SQL = _ORDER_TRAITS_SQL.replace(
    f"FROM {_ORDER_ROWS} AS x", "FROM main.order_summary AS x"
).replace("WHERE x.orders > 0 AND", "WHERE x.workspace_id = :ws AND x.orders > 0 AND")

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
    ORDER_LINES_VIEW: _ORDER_LINES_SQL,
    "products": (
        "SELECT sku, name, url, CAST(price AS DOUBLE) AS price,"
        " CAST(sale_price AS DOUBLE) AS sale_price, currency, stock, in_stock, category_path,"
        " brand, attributes, image_url, created_at, updated_at"
        " FROM main.products WHERE workspace_id = :ws"
    ),
    "consents": _CONSENTS_SQL,
    CONSENT_ROWS_VIEW: _CONSENT_ROWS_SQL,
    EVENT_FACTS_VIEW: _event_facts_sql(),
    ORDER_TRAITS_VIEW: _ORDER_TRAITS_SQL,
    ORDER_TRAITS_PLAIN_VIEW: _ORDER_TRAITS_PLAIN_SQL,
    "message_events": _mapped(
        'x.send_id, x.channel, x.campaign_id, x.message_id, x.tags, x.status, x."at", x.machine,'
        " x.properties",
        "main.message_events",
    ),
}


_SAFE_NAME = re.compile(r"^[a-z0-9_]+$")


def data_columns(columns: list[dict[str, Any]]) -> tuple[str, ...]:
    """The view's columns: the user's, then ``contact_id`` and ``sku`` unless taken.

    >>> data_columns([{"name": "tier", "type": "text"}, {"name": "sku", "type": "text"}])
    ('tier', 'sku', 'contact_id', 'updated_at')
    """
    names = tuple(c["name"] for c in columns)
    links = tuple(n for n in ("contact_id", "sku", "updated_at") if n not in names)
    return names + links


def data_sql(name: str, columns: list[dict[str, Any]]) -> exp.Query:
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


def needs(used: set[str] | None, columns: Iterable[str]) -> bool:
    return used is None or any(c in used for c in columns)


def duckdb_body(
    name: str, used: set[str] | None, data_tables: Mapping[str, list[dict[str, Any]]]
) -> exp.Query:
    if name == "contacts":
        sql = _contacts_sql(needs(used, IDENTIFIER_COLUMNS))
    elif name == "contact_traits":
        sql = _traits_sql(used)
    elif name in _STATIC_SQL:
        sql = _STATIC_SQL[name]
    else:
        return data_sql(name[len(DATA_PREFIX) :], data_tables[name[len(DATA_PREFIX) :]])
    return parse_query(sql)


@lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Query:
    parsed = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(parsed, exp.Query)
    return parsed


def parse_query(sql: str) -> exp.Query:
    """A fresh tree of our own view SQL; each text is parsed once (parsing was ~60% of a
    compile), and callers get a copy they may change."""
    return _parsed(sql).copy()


CANDIDATE_IDS = "_candidate_ids"
_CANDIDATES_REL = "_candidates_rel"
# Physical tables whose rows belong to a contact, and the column that says which.
CONTACT_TABLES = {
    "all_events": "contact_id",
    "events_recent": "contact_id",
    "event_facts": "contact_id",
    "identities": "contact_id",
    "orders": "contact_id",
    "consents": "contact_id",
    "message_events": "contact_id",
    "custom_rows": "contact_id",
    "contacts": "id",
}
CANDIDATE_IDS_SQL = f"""
SELECT contact_id AS id FROM {_CANDIDATES_REL}
UNION ALL
SELECT id FROM {LIVE_MAP} WHERE live_id IN (SELECT contact_id FROM {_CANDIDATES_REL})
"""


def candidate_ids(candidates: str) -> exp.Query:
    """Raw contact ids whose rows belong to the candidates: theirs and their merged-away ones."""
    query = parse_query(CANDIDATE_IDS_SQL)
    for table in query.find_all(exp.Table):
        if table.name == _CANDIDATES_REL:
            table.set("this", exp.to_identifier(candidates))
    return query


def restrict(body: exp.Query, candidates: str) -> exp.Query:
    """Limit a DuckDB view body to the candidates, on the raw contact column of each scan.

    A filter on the view's (mapped) ``contact_id`` cannot reach the scan; one on the raw
    column can (DuckDB then skips row groups by zone maps), so REALTIME's evaluation of a
    few contacts reads a few row groups instead of every event.
    """
    for table in list(body.find_all(exp.Table)):
        column = CONTACT_TABLES.get(table.name)
        select = table.find_ancestor(exp.Select)
        if table.db != "main" or column is None or select is None:
            continue
        ref = exp.column(column, table.alias_or_name)
        if table.name == "contacts":
            pick = exp.select("contact_id").from_(exp.to_table(candidates))
        else:
            pick = exp.select("id").from_(CANDIDATE_IDS)
        select.where(ref.isin(query=pick), copy=False)
    return body
