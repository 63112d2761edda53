"""The Arrow layouts the bulk functions accept (``upsert_products``, ``upsert_orders``).

These are the contract with ``retenta.imports``: build a ``pyarrow.Table`` whose column
*names* come from these schemas (any subset that includes the required ones), in any order.
Types are cast by DuckDB to the column types below, so ``float64`` or ``"19.99"`` strings for
money, ``int64`` for quantities, ISO strings or timestamps for times all work; a value that
does not cast is reported in the result's ``rejected`` list, never stored half-way.

A column that is absent, or a null in a present column, leaves the stored value as it is
(an import of just ``sku, price`` re-prices the catalog without blanking names).
"""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("us", tz="UTC")

PRODUCT_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string(), nullable=False),  # required
        ("name", pa.string()),
        ("url", pa.string()),
        ("image_url", pa.string()),
        ("price", MONEY),
        ("sale_price", MONEY),
        ("currency", pa.string()),  # ISO 4217, upper-cased
        ("stock", pa.int64()),
        ("in_stock", pa.bool_()),  # derived from stock > 0 when absent
        # list<string>, or one string split on " > " / "/" ("Women > Shoes > Sneakers")
        ("category_path", pa.list_(pa.string())),
        ("brand", pa.string()),
        ("attributes", pa.string()),  # a JSON object as text; merged into stored attributes
    ]
)
PRODUCT_REQUIRED = ("sku",)

ORDER_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),  # required
        pa.field("contact_id", pa.int64(), nullable=False),  # required, already resolved
        ("status", pa.string()),  # placed | paid | shipped | returned | cancelled; default paid
        ("channel", pa.string()),  # online | offline | call_centre; default online
        ("store_id", pa.string()),
        ("total", MONEY),  # default: sum(quantity * price) of the order's items
        ("revenue", MONEY),
        ("discount", MONEY),
        ("shipping", MONEY),
        ("tax", MONEY),
        ("currency", pa.string()),
        ("coupon", pa.string()),
        pa.field("placed_at", TIMESTAMP, nullable=False),  # required
        ("attributes", pa.string()),  # JSON object as text
    ]
)
ORDER_REQUIRED = ("order_id", "contact_id", "placed_at")

ORDER_ITEM_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),  # required
        ("line_no", pa.int32()),  # default: position of the line within its order, from 1
        pa.field("sku", pa.string(), nullable=False),  # required
        ("name", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("quantity", pa.int32()),  # default 1; must be > 0
        pa.field("price", MONEY, nullable=False),  # required, unit price
        ("returned_quantity", pa.int32()),  # units returned so far (kept as an import fact)
    ]
)
ORDER_ITEM_REQUIRED = ("order_id", "sku", "price")

ORDER_STATUSES = ("placed", "paid", "shipped", "returned", "cancelled")
ORDER_CHANNELS = ("online", "offline", "call_centre")
