"""E-commerce entities: catalog, orders, carts, wishlists, searches, custom data tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retenta.commerce import catalog
from retenta.commerce.apply import apply_changes
from retenta.commerce.events import changes_from, is_ecommerce
from retenta.core.messages import Message
from retenta.storage.base import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


class CommerceService:
    name = "commerce"

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        """Update orders, carts, wishlists and searches from stored e-commerce events."""
        if not any(is_ecommerce(m) for m in messages):
            return
        changes = changes_from(messages)
        if not changes.empty():
            apply_changes(conn, changes)

    def upsert_products(self, conn: Any, workspace_id: str, table: pa.Table) -> dict[str, Any]:
        """Bulk upsert of catalog rows, inside a writer unit of work.

        ``table`` has columns named as in ``retenta.commerce.tables.PRODUCT_SCHEMA`` (``sku``
        required, the rest optional; absent columns and nulls keep what is stored).
        Changes of price, sale_price, stock and in_stock are appended to ``products_history``.
        Idempotent: the same table twice changes nothing the second time.

        Returns ``{"inserted": n, "updated": n, "unchanged": n, "history": n,
        "rejected": [{"row": i, "field": name, "reason": text}, ...]}`` where ``row`` is the
        0-based index in ``table``; rejected rows are not stored.
        """
        return catalog.upsert_products(conn, workspace_id, table, utcnow())

    def upsert_orders(
        self, conn: Any, workspace_id: str, orders: pa.Table, items: pa.Table
    ) -> dict[str, Any]:
        """Bulk upsert of orders and their line items, inside a writer unit of work.

        ``orders`` follows ``tables.ORDER_SCHEMA`` (``order_id``, ``contact_id``, ``placed_at``
        required; contact ids already resolved), ``items`` follows ``tables.ORDER_ITEM_SCHEMA``
        (``order_id``, ``sku``, ``price`` required). The items given for an order replace
        its stored items; an order with no rows in ``items`` keeps its stored items.
        A status change is recorded in ``order_status_history``; ``returned_quantity`` is kept
        as an ``order_returns`` fact with ``source_message_id = 'import'``.
        Idempotent: importing the same orders twice changes nothing.

        Returns ``{"orders_inserted": n, "orders_updated": n, "items": n, "status_changes": n,
        "rejected_orders": [{"row", "field", "reason"}], "rejected_items": [...]}``; an item
        whose order is rejected or absent (from ``orders`` and from storage) is rejected too.
        """
        raise NotImplementedError
