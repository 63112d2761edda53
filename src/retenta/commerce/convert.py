"""Validated API models → the Arrow tables the bulk functions take (one path for all writers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.commerce.apply import category_path
from retenta.commerce.schemas import OrderIn, ProductIn
from retenta.commerce.tables import ORDER_ITEM_SCHEMA, ORDER_SCHEMA, PRODUCT_SCHEMA


def _json(value: dict[str, Any] | None) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def product_row(product: ProductIn) -> dict[str, Any]:
    row = product.model_dump(exclude_unset=True)
    if isinstance(row.get("category_path"), str):
        row["category_path"] = category_path(row["category_path"])
    if "attributes" in row:
        row["attributes"] = _json(row["attributes"])
    return row


def products_to_arrow(products: list[ProductIn]) -> pa.Table:
    """Only the fields some product sets become columns, so unsent fields keep stored values.

    >>> t = products_to_arrow([ProductIn(sku="a", price=2), ProductIn(sku="b", name="B")])
    >>> t.column_names, t["price"].to_pylist()
    (['sku', 'name', 'price'], [Decimal('2.00'), None])
    """
    rows = [product_row(p) for p in products]
    names = {k for r in rows for k in r}
    schema = pa.schema([f for f in PRODUCT_SCHEMA if f.name in names])
    return pa.Table.from_pylist(rows, schema=schema)


def orders_to_arrow(orders: list[OrderIn], contact_ids: list[int]) -> tuple[pa.Table, pa.Table]:
    now = datetime.now(UTC)
    rows, items = [], []
    for order, contact_id in zip(orders, contact_ids, strict=True):
        row = order.model_dump(exclude={"identifiers", "items"})
        row.update(
            contact_id=contact_id,
            placed_at=order.placed_at or now,
            attributes=_json(order.attributes),
        )
        rows.append(row)
        items += [{"order_id": order.order_id, **i.model_dump()} for i in order.items]
    return (
        pa.Table.from_pylist(rows, schema=ORDER_SCHEMA),
        pa.Table.from_pylist(items, schema=ORDER_ITEM_SCHEMA),
    )
