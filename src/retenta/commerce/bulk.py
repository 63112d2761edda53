"""``upsert_orders`` for bulk import and the orders API: coerce, check references, write."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retenta.commerce import orders as store
from retenta.commerce.catalog import ATTRIBUTES, NOT_NEGATIVE
from retenta.commerce.coerce import ROW, Column, coerce, unknown_columns
from retenta.commerce.orders import ITEM_STAGE, ORDER_STAGE, RETURN_STAGE, Key, registered
from retenta.commerce.tables import (
    ORDER_CHANNELS,
    ORDER_ITEM_REQUIRED,
    ORDER_ITEM_SCHEMA,
    ORDER_REQUIRED,
    ORDER_SCHEMA,
    ORDER_STATUSES,
)

NO_ORDER = "no such order (unknown, or its order row was rejected)"
CHANNEL = (
    "CASE lower(trim(CAST({raw} AS VARCHAR))) WHEN 'store' THEN 'offline' WHEN 'pos' THEN"
    " 'offline' WHEN 'call_center' THEN 'call_centre' WHEN 'call centre' THEN 'call_centre'"
    " ELSE NULLIF(lower(trim(CAST({raw} AS VARCHAR))), '') END"
)
LOWER = "NULLIF(lower(trim(CAST({raw} AS VARCHAR))), '')"


def one_of(values: tuple[str, ...]) -> str:
    """An SQL membership check over ``{v}``.

    >>> one_of(("a", "b"))
    "{v} IN ('a', 'b')"
    """
    return "{v} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _money(name: str) -> Column:
    return Column(name, "DECIMAL(18, 2)", check=NOT_NEGATIVE, check_reason="must not be negative")


ORDER_COLUMNS = [
    Column("order_id", "VARCHAR", required=True),
    Column("contact_id", "BIGINT", required=True),
    Column(
        "status",
        "VARCHAR",
        convert=LOWER,
        check=one_of(ORDER_STATUSES),
        check_reason="expected one of " + ", ".join(ORDER_STATUSES),
    ),
    Column(
        "channel",
        "VARCHAR",
        convert=CHANNEL,
        check=one_of(ORDER_CHANNELS),
        check_reason="expected one of " + ", ".join(ORDER_CHANNELS),
    ),
    Column("store_id", "VARCHAR"),
    *(_money(f) for f in ("total", "revenue", "discount", "shipping", "tax")),
    Column(
        "currency",
        "VARCHAR",
        convert="upper(NULLIF(trim(CAST({raw} AS VARCHAR)), ''))",
        check="regexp_full_match({v}, '[A-Z]{{3}}')",
        check_reason="expected a 3-letter ISO 4217 code",
    ),
    Column("coupon", "VARCHAR"),
    Column("placed_at", "TIMESTAMPTZ", required=True),
    Column("attributes", "JSON", convert=ATTRIBUTES),
]
ITEM_COLUMNS = [
    Column("order_id", "VARCHAR", required=True),
    Column("line_no", "INTEGER", check="{v} > 0", check_reason="must be positive"),
    Column("sku", "VARCHAR", required=True),
    Column("name", "VARCHAR"),
    Column("category", "VARCHAR"),
    Column("brand", "VARCHAR"),
    Column("quantity", "INTEGER", check="{v} > 0", check_reason="must be positive"),
    Column("price", "DECIMAL(18, 2)", required=True, check=NOT_NEGATIVE,
           check_reason="must not be negative"),
    Column("returned_quantity", "INTEGER", check="{v} >= 0", check_reason="must not be negative"),
]  # fmt: skip


def check_columns(table: pa.Table, schema: pa.Schema, required: tuple[str, ...], what: str) -> None:
    """A missing required or an unknown column is the caller's bug: raise, naming it."""
    extra = unknown_columns(table, schema.names)
    if extra:
        raise ValueError(f"unknown {what} columns: {', '.join(extra)}")
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} columns required: {', '.join(missing)}")


ORDER_STAGE_SQL = (
    "SELECT $ws AS workspace_id, order_id, contact_id, status, channel, store_id, total,"
    " revenue, discount, shipping, tax, currency, coupon, placed_at, placed_at AS updated_at,"
    " $src AS source_message_id, CAST(attributes AS VARCHAR) AS attributes"
    f" FROM _cm_clean QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY {ROW} DESC) = 1"
)
# Lines without a line_no are numbered by their position within their order.
ITEM_STAGE_SQL = (
    "SELECT $ws AS workspace_id, order_id, line_no, sku, name, category, brand, quantity,"
    " price, returned_quantity FROM (SELECT order_id, COALESCE(line_no, CAST(row_number()"
    f"  OVER (PARTITION BY order_id ORDER BY {ROW}) AS INTEGER)) AS line_no, sku, name,"
    f"  category, brand, COALESCE(quantity, 1) AS quantity, price, returned_quantity, {ROW}"
    "  FROM _cm_clean)"
    f" QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY {ROW} DESC) = 1"
)


def staged(conn: Any, sql: str, clean: pa.Table, params: dict[str, Any]) -> pa.Table:
    with registered(conn, _cm_clean=clean):
        return conn.sql(sql, params=params).to_arrow_table()


def upsert_orders(
    conn: Any, workspace_id: str, orders: pa.Table, items: pa.Table, *, source: str = "import"
) -> dict[str, Any]:
    """See ``CommerceService.upsert_orders``; ``source`` is kept as the orders'
    ``source_message_id`` (``import`` or ``api``)."""
    check_columns(orders, ORDER_SCHEMA, ORDER_REQUIRED, "order")
    if items.num_columns:
        check_columns(items, ORDER_ITEM_SCHEMA, ORDER_ITEM_REQUIRED, "order item")
    clean_orders, rejected_orders = coerce(conn, orders, ORDER_COLUMNS, name="orders")
    params = {"ws": workspace_id, "src": source}
    order_stage = staged(conn, ORDER_STAGE_SQL, clean_orders, params).cast(ORDER_STAGE)
    item_rows, rejected_items = _items(conn, workspace_id, items, order_stage)
    counts, _ = store.write_orders(
        conn,
        order_stage,
        item_rows.select(ITEM_STAGE.names).cast(ITEM_STAGE),
        pa.Table.from_pylist([], schema=store.STATUS_STAGE),
        authoritative=True,
    )
    if "returned_quantity" in items.column_names:
        _replace_import_returns(conn, item_rows, order_stage)
    return {**counts, "rejected_orders": rejected_orders, "rejected_items": rejected_items}


def _items(
    conn: Any, workspace_id: str, items: pa.Table, order_stage: pa.Table
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Clean item rows whose order is in this batch or already stored."""
    if items.num_rows == 0:
        empty = pa.Table.from_pylist([], schema=ITEM_STAGE)
        return empty.append_column("returned_quantity", pa.array([], pa.int32())), []
    clean, rejected = coerce(conn, items, ITEM_COLUMNS, name="items")
    known = set(order_stage["order_id"].to_pylist())
    asked = sorted(set(clean["order_id"].to_pylist()) - known)
    known |= {o for _, o in store.current_statuses(conn, [(workspace_id, o) for o in asked])}
    ok = pc.is_in(clean["order_id"], value_set=pa.array(sorted(known), pa.string()))
    rows = clean[ROW].filter(pc.invert(ok)).to_pylist()
    rejected += [{"row": r, "field": "order_id", "reason": NO_ORDER} for r in rows]
    table = staged(conn, ITEM_STAGE_SQL, clean.filter(ok), {"ws": workspace_id})
    return table, sorted(rejected, key=lambda e: e["row"])


REPLACE_RETURNS_SQL = (
    "DELETE FROM order_returns USING (SELECT DISTINCT workspace_id, order_id FROM _cm_items) k"
    " WHERE order_returns.source_message_id = 'import'"
    " AND order_returns.workspace_id = k.workspace_id AND order_returns.order_id = k.order_id"
)
IMPORT_RETURNS_SQL = (
    "SELECT i.workspace_id, i.order_id, i.sku, sum(i.returned_quantity) AS quantity,"
    " CAST(NULL AS DECIMAL(18, 2)) AS amount, o.placed_at AS returned_at,"
    " 'import' AS source_message_id FROM _cm_items i JOIN orders o"
    " ON o.workspace_id = i.workspace_id AND o.order_id = i.order_id"
    " WHERE i.returned_quantity > 0 GROUP BY ALL"
)


def _replace_import_returns(conn: Any, items: pa.Table, orders: pa.Table) -> None:
    """Imported ``returned_quantity`` figures replace the previous import's, never add up."""
    if items.num_rows == 0:
        return
    with registered(conn, _cm_items=items):
        conn.execute(REPLACE_RETURNS_SQL)
        facts = conn.sql(IMPORT_RETURNS_SQL).to_arrow_table().cast(RETURN_STAGE)
    store.write_returns(conn, facts)
    keys: list[Key] = sorted(set(store.table_keys(items)))
    store.settle_returns(conn, keys, mark_returned=False)
