"""The catalog: bulk upsert with a change log of watched fields, and catalog reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retenta.commerce.coerce import Column, coerce, unknown_columns
from retenta.commerce.queries import plain
from retenta.commerce.tables import PRODUCT_SCHEMA
from retenta.storage.base import rows_as_dicts

WATCHED = ("price", "sale_price", "stock", "in_stock")
FIELDS = [n for n in PRODUCT_SCHEMA.names if n != "sku"]
PLAIN = [f for f in FIELDS if f != "attributes"]
SPLIT_PATH = (
    r"list_filter(string_split_regex(trim(CAST({raw} AS VARCHAR)), '\s*(>|/)\s*'),"
    " lambda x: x <> '')"
)
# A JSON object, normalized (merge-patched onto {}) so stored text compares equal.
ATTRIBUTES = (
    "CASE WHEN json_valid(CAST({raw} AS VARCHAR)) AND json_type(CAST({raw} AS VARCHAR)) = 'OBJECT'"
    " THEN json_merge_patch(JSON '{{}}', CAST({raw} AS JSON)) END"
)
NOT_NEGATIVE = "{v} >= 0"


def product_columns(table: pa.Table) -> list[Column]:
    """The coercion of catalog input; a category path may come as a list or as one string."""
    path_type = (
        table.schema.field("category_path").type if "category_path" in table.schema.names else None
    )
    split = path_type is not None and not pa.types.is_list(path_type)
    return [
        Column("sku", "VARCHAR", required=True),
        Column("name", "VARCHAR"),
        Column("url", "VARCHAR"),
        Column("image_url", "VARCHAR"),
        Column("price", "DECIMAL(18, 2)", check=NOT_NEGATIVE, check_reason="must not be negative"),
        Column(
            "sale_price", "DECIMAL(18, 2)", check=NOT_NEGATIVE, check_reason="must not be negative"
        ),
        Column(
            "currency",
            "VARCHAR",
            convert="upper(NULLIF(trim(CAST({raw} AS VARCHAR)), ''))",
            check="regexp_full_match({v}, '[A-Z]{{3}}')",
            check_reason="expected a 3-letter ISO 4217 code",
        ),
        Column("stock", "INTEGER"),
        Column("in_stock", "BOOLEAN"),
        Column("category_path", "VARCHAR[]", convert=SPLIT_PATH if split else None),
        Column("brand", "VARCHAR"),
        Column("attributes", "JSON", convert=ATTRIBUTES),
    ]


def _stage_sql(present: set[str]) -> str:
    """The last row per sku, joined to what is stored, with ``is_new`` and ``changed``."""
    in_stock = "COALESCE(s.in_stock, s.stock > 0)" if "stock" in present else "s.in_stock"
    diffs = [
        f"(s.{f} IS NOT NULL AND s.{f} IS DISTINCT FROM p.{f})" for f in PLAIN if f != "in_stock"
    ]
    diffs.append(f"({in_stock} IS NOT NULL AND {in_stock} IS DISTINCT FROM p.in_stock)")
    diffs.append(
        "(s.attributes IS NOT NULL"
        " AND json_merge_patch(p.attributes, s.attributes) <> p.attributes)"
    )
    diffs.append("p.source IS DISTINCT FROM 'feed'")
    cols = ", ".join(f"s.{f}" for f in FIELDS if f != "in_stock")
    return (
        f"WITH s AS (SELECT * FROM _cm_products_in"
        f" QUALIFY row_number() OVER (PARTITION BY sku ORDER BY _row DESC) = 1)"
        f" SELECT s.sku, {cols}, {in_stock} AS in_stock, p.sku IS NULL AS is_new,"
        f" p.sku IS NOT NULL AND ({' OR '.join(diffs)}) AS changed"
        f" FROM s LEFT JOIN products p ON p.workspace_id = ? AND p.sku = s.sku"
    )


def _history_sql() -> str:
    parts = [
        f"SELECT s.sku, '{f}', CAST(p.{f} AS VARCHAR), CAST(s.{f} AS VARCHAR)"
        f" FROM _cm_products s JOIN products p ON p.workspace_id = $ws AND p.sku = s.sku"
        f" WHERE s.changed AND s.{f} IS NOT NULL AND s.{f} IS DISTINCT FROM p.{f}"
        for f in WATCHED
    ]
    return (
        "INSERT INTO products_history (workspace_id, sku, field, old, new, changed_at)"
        f" SELECT $ws, *, $now FROM ({' UNION ALL '.join(parts)})"
    )


def _upsert_sql() -> str:
    cols = ", ".join(FIELDS)
    updates = ", ".join(f"{f} = COALESCE(excluded.{f}, products.{f})" for f in PLAIN)
    return (
        f"INSERT INTO products (workspace_id, sku, {cols}, created_at, updated_at, source)"
        f" SELECT $ws, sku, {', '.join(PLAIN)}, COALESCE(attributes, JSON '{{}}'),"
        f" $now, $now, 'feed'"
        f" FROM _cm_products WHERE is_new OR changed"
        f" ON CONFLICT (workspace_id, sku) DO UPDATE SET {updates},"
        f" attributes = json_merge_patch(products.attributes, excluded.attributes),"
        f" updated_at = excluded.updated_at, source = 'feed'"
    )


def upsert_products(conn: Any, workspace_id: str, table: pa.Table, now: datetime) -> dict[str, Any]:
    """See ``CommerceService.upsert_products``."""
    extra = unknown_columns(table, PRODUCT_SCHEMA.names)
    if extra:
        raise ValueError(f"unknown product columns: {', '.join(extra)}")
    if "sku" not in table.column_names:
        raise ValueError("product column 'sku' is required")
    clean, rejected = coerce(conn, table, product_columns(table), name="products")
    conn.register("_cm_products_in", clean)
    try:
        staged = conn.sql(
            _stage_sql(set(table.column_names)), params=[workspace_id]
        ).to_arrow_table()
    finally:
        conn.unregister("_cm_products_in")
    counts = _write_staged(conn, workspace_id, staged, now)
    return {**counts, "rejected": rejected}


def _write_staged(conn: Any, workspace_id: str, staged: pa.Table, now: datetime) -> dict[str, int]:
    inserted = int(pc.sum(staged["is_new"]).as_py() or 0)
    updated = int(pc.sum(staged["changed"]).as_py() or 0)
    history = 0
    if inserted or updated:
        params = {"ws": workspace_id, "now": now}
        conn.register("_cm_products", staged)
        try:
            if updated:
                history = _count(conn.execute(_history_sql(), params))
            conn.execute(_upsert_sql(), params)
        finally:
            conn.unregister("_cm_products")
    unchanged = staged.num_rows - inserted - updated
    return {"inserted": inserted, "updated": updated, "unchanged": unchanged, "history": history}


def _count(result: Any) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


PRODUCT_SELECT = (
    "SELECT sku, name, url, image_url, price, sale_price, currency, stock, in_stock,"
    " category_path, brand, attributes, source, created_at, updated_at FROM products"
)


def list_products(
    cur: Any,
    workspace_id: str,
    *,
    q: str | None,
    category: str | None,
    brand: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Products by sku order (keyset pagination); ``q`` is a sku or a name substring."""
    where, params = ["workspace_id = ?"], [workspace_id]
    if q:
        where.append("(sku = ? OR name ILIKE ?)")
        params += [q, "%" + q.replace("%", r"\%").replace("_", r"\_") + "%"]
    if category:
        where.append("list_contains(list_transform(category_path, lambda c: lower(c)), lower(?))")
        params.append(category)
    if brand:
        where.append("lower(brand) = lower(?)")
        params.append(brand)
    if cursor:
        where.append("sku > ?")
        params.append(cursor)
    sql = f"{PRODUCT_SELECT} WHERE {' AND '.join(where)} ORDER BY sku LIMIT {int(limit) + 1}"
    rows = [plain(r) for r in rows_as_dicts(cur.execute(sql, params))]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["sku"] if more and rows else None)


def get_product(cur: Any, workspace_id: str, sku: str) -> dict[str, Any] | None:
    sql = f"{PRODUCT_SELECT} WHERE workspace_id = ? AND sku = ?"
    rows = [plain(r) for r in rows_as_dicts(cur.execute(sql, [workspace_id, sku]))]
    return rows[0] if rows else None


def product_history(cur: Any, workspace_id: str, sku: str, limit: int = 50) -> list[dict[str, Any]]:
    sql = (
        "SELECT field, old, new, changed_at FROM products_history"
        " WHERE workspace_id = ? AND sku = ? ORDER BY changed_at DESC LIMIT ?"
    )
    return list(rows_as_dicts(cur.execute(sql, [workspace_id, sku, limit])))
