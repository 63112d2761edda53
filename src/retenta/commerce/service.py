"""E-commerce entities: catalog, orders, carts, wishlists, searches, custom data tables."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retenta.commerce import bulk, catalog, lifecycle, queries
from retenta.commerce import orders as order_store
from retenta.commerce.apply import WriterMemory, apply_changes
from retenta.commerce.carts import consolidate
from retenta.commerce.contact_ref import ContactResolver
from retenta.commerce.convert import orders_to_arrow, products_to_arrow
from retenta.commerce.events import changes_of, ecommerce_of
from retenta.commerce.schemas import OrderIn, ProductIn
from retenta.commerce.tables_service import DataTables
from retenta.core.messages import Message
from retenta.errors import ApiError, not_found
from retenta.storage.base import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


class CommerceService:
    name = "commerce"

    def __init__(self, *, db: Database) -> None:
        self.db = db
        self.tables = DataTables(db=db)
        self.writer = WriterMemory()
        self.catalog_listeners: list[Callable[[str], None]] = []  # e.g. signals' wake

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        """Update orders, carts, wishlists and searches from stored e-commerce events."""
        events = ecommerce_of(messages)
        if not events:
            return
        collecting = gc.isenabled()
        gc.disable()  # as in identity's resolve: many short-lived objects, next to no cycles
        try:
            catalog = self.writer.catalog
            catalog.load(conn, {m.workspace_id for m, _ in events})
            changes = changes_of(events, catalog.complete)
            if not changes.empty():
                apply_changes(conn, changes, self.writer)
        finally:
            if collecting:
                gc.enable()

    def consolidate_carts(self, conn: Any) -> None:
        """Fold ``cart_changes`` into ``carts`` / ``cart_items`` (a writer unit of work).

        The hot path appends cart changes and folds them now and then; readers that want the
        current carts use the ``current_carts`` / ``current_cart_items`` views instead."""
        consolidate(conn)
        self.writer.cart_rows = 0

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
        result = catalog.upsert_products(conn, workspace_id, table, utcnow())
        if "sku" in table.column_names:
            skus = [str(s).strip() for s in table["sku"].to_pylist() if s is not None]
            self.writer.catalog.forget(workspace_id, skus)
        for listener in self.catalog_listeners:
            listener(workspace_id)  # called before COMMIT: listeners only schedule work
        return result

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
        return bulk.upsert_orders(conn, workspace_id, orders, items)

    # --- catalog API -------------------------------------------------------------------

    async def put_products(self, *, workspace_id: str, products: list[ProductIn]) -> dict[str, Any]:
        """Bulk upsert from the API (already validated item by item)."""
        table = products_to_arrow(products)
        result = await self.db.awrite(lambda c: self.upsert_products(c, workspace_id, table))
        rejected_as_422(result["rejected"], "products")
        return {k: v for k, v in result.items() if k != "rejected"}

    def list_products(self, *, workspace_id: str, **filters: Any) -> dict[str, Any]:
        with self.db.read() as cur:
            items, cursor = catalog.list_products(cur, workspace_id, **filters)
        return {"items": items, "next_cursor": cursor}

    def get_product(self, *, workspace_id: str, sku: str) -> dict[str, Any]:
        with self.db.read() as cur:
            product = catalog.get_product(cur, workspace_id, sku)
            if product is None:
                raise not_found("product")
            product["history"] = catalog.product_history(cur, workspace_id, sku)
        return product

    # --- orders API --------------------------------------------------------------------

    async def put_orders(
        self, *, workspace_id: str, orders: list[OrderIn], resolver: ContactResolver
    ) -> dict[str, Any]:
        """Upsert orders with their items for contacts given by id or identifiers."""
        contact_ids = [
            await contact_of(workspace_id, order, f"orders[{i}]", resolver)
            for i, order in enumerate(orders)
        ]
        orders_t, items_t = orders_to_arrow(orders, contact_ids)
        result = await self.db.awrite(
            lambda c: bulk.upsert_orders(c, workspace_id, orders_t, items_t, source="api")
        )
        rejected_as_422(result.pop("rejected_orders"), "orders")
        rejected_as_422(result.pop("rejected_items"), "items")
        refs = [
            {"order_id": o.order_id, "contact_id": c}
            for o, c in zip(orders, contact_ids, strict=True)
        ]
        return {**result, "orders": refs}

    def get_order(self, *, workspace_id: str, order_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            order = queries.order_detail(cur, workspace_id, order_id)
        if order is None:
            raise not_found("order")
        return order

    async def set_order_status(
        self, *, workspace_id: str, order_id: str, status: str, changed_at: datetime | None
    ) -> dict[str, Any]:
        """Move an order along the lifecycle; a move it does not allow is a 409."""
        key = (workspace_id, order_id)
        at = changed_at or utcnow()

        def work(conn: Any) -> None:
            current = order_store.current_statuses(conn, [key]).get(key)
            if current is None:
                raise not_found("order")
            if current != status and not lifecycle.reachable(current, status):
                raise ApiError(
                    409, "invalid_transition",
                    f"status: an order that is {current} cannot become {status}", field="status",
                )  # fmt: skip
            if current != status:
                order_store.change_status(conn, key, status, at, by="api")

        await self.db.awrite(work)
        return self.get_order(workspace_id=workspace_id, order_id=order_id)

    # --- a contact's commerce ----------------------------------------------------------

    def timeline_ids(self, *, workspace_id: str, contact_id: int, identity: Any) -> list[int]:
        """The contact and every contact merged into it; 404 outside the workspace."""
        with self.db.read() as cur:
            if not queries.contact_exists(cur, workspace_id, contact_id):
                raise not_found("contact")
            ids = identity.timeline_contact_ids(cur, workspace_id, contact_id)
        return [int(i) for i in ids]

    def contact_orders(
        self, *, workspace_id: str, contact_ids: list[int], limit: int, cursor: str | None
    ) -> dict[str, Any]:
        with self.db.read() as cur:
            items, nxt = queries.contact_orders(
                cur, workspace_id, contact_ids, limit=limit, before=cursor
            )
        return {"items": items, "next_cursor": nxt}

    def contact_cart(self, *, workspace_id: str, contact_ids: list[int]) -> dict[str, Any]:
        with self.db.read() as cur:
            cart = queries.contact_cart(cur, workspace_id, contact_ids)
        return {"cart": cart}

    def contact_wishlist(self, *, workspace_id: str, contact_ids: list[int]) -> dict[str, Any]:
        with self.db.read() as cur:
            return {"items": queries.contact_wishlist(cur, workspace_id, contact_ids)}


async def contact_of(
    workspace_id: str, order: OrderIn, field: str, resolver: ContactResolver
) -> int:
    if order.contact_id is not None:
        return resolver.by_id(workspace_id, order.contact_id, field=f"{field}.contact_id")
    assert order.identifiers is not None  # the model requires one of the two
    given = order.identifiers.given()
    return await resolver.by_identifiers(workspace_id, given, field=f"{field}.identifiers")


def rejected_as_422(rejected: list[dict[str, Any]], what: str) -> None:
    """Rows the bulk layer refused although the API model accepted them: say which, exactly."""
    if rejected:
        first = rejected[0]
        field = f"{what}[{first['row']}].{first['field']}"
        details = [
            {"field": f"{what}[{e['row']}].{e['field']}", "reason": e["reason"]} for e in rejected
        ]
        raise ApiError(
            422, "validation_error", f"{field}: {first['reason']}", field=field, details=details
        )
