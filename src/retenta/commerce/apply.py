"""Write a batch's ``Changes`` (from ``events.changes_from``) set-based: each entity is one
Arrow table and a handful of ``INSERT … SELECT`` / ``UPDATE … FROM`` statements."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pyarrow as pa

from retenta.commerce import orders as order_store
from retenta.commerce.events import CartState, Changes
from retenta.commerce.orders import (
    ITEM_STAGE,
    ORDER_STAGE,
    RETURN_STAGE,
    STATUS_STAGE,
    registered,
)
from retenta.commerce.tables import MONEY, TIMESTAMP

PRODUCT_FILL = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("url", pa.string()),
        ("image_url", pa.string()),
        ("price", MONEY),
        ("currency", pa.string()),
        ("category_path", pa.list_(pa.string())),
        ("brand", pa.string()),
        ("seen_at", TIMESTAMP),
    ]
)
FILLED = ("name", "url", "image_url", "price", "currency", "category_path", "brand")


def category_path(category: str | None) -> list[str] | None:
    """Segment's ``category`` as a path.

    >>> category_path("Women > Shoes/Sneakers"), category_path("Games"), category_path(None)
    (['Women', 'Shoes', 'Sneakers'], ['Games'], None)
    """
    if not category:
        return None
    parts = [p.strip() for p in re.split(r"[>/]", category)]
    return [p for p in parts if p] or None


def fill_products_sql() -> str:
    """New skus are created from events; an event-made product takes newer event data; a
    feed product only gets its empty fields filled (events never overwrite the feed)."""
    fresh = "(products.source = 'event' AND products.updated_at <= excluded.updated_at)"
    sets = [
        f"{f} = CASE WHEN {fresh} THEN COALESCE(excluded.{f}, products.{f})"
        f" ELSE COALESCE(products.{f}, excluded.{f}) END"
        for f in FILLED
    ]
    worth = " OR ".join(
        f"(excluded.{f} IS NOT NULL AND (products.{f} IS NULL OR ({fresh}"
        f" AND excluded.{f} IS DISTINCT FROM products.{f})))"
        for f in FILLED
    )
    cols = ", ".join(FILLED)
    return (
        f"INSERT INTO products (workspace_id, sku, {cols}, created_at, updated_at, source)"
        f" SELECT workspace_id, sku, {cols}, seen_at, seen_at, 'event' FROM _cm_fill"
        f" ON CONFLICT (workspace_id, sku) DO UPDATE SET {', '.join(sets)},"
        f" updated_at = CASE WHEN {fresh} THEN excluded.updated_at ELSE products.updated_at END"
        f" WHERE {worth}"
    )


FILL_PRODUCTS_SQL = fill_products_sql()


def apply_products(conn: Any, changes: Changes) -> None:
    rows = [
        {**r, "category_path": category_path(r.get("category"))} for r in changes.products.values()
    ]
    table = pa.Table.from_pylist(rows, schema=PRODUCT_FILL)
    with registered(conn, _cm_fill=table):
        conn.execute(FILL_PRODUCTS_SQL)


SEGMENTS = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("seg", pa.int32()),
        ("proposed_cart_id", pa.string()),
        ("has_lines", pa.bool_()),
        ("clear", pa.bool_()),
        ("convert", pa.bool_()),
        ("convert_order", pa.string()),
        ("first_at", TIMESTAMP),
        ("last_at", TIMESTAMP),
    ]
)
LINES = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("seg", pa.int32()),
        ("sku", pa.string()),
        ("mode", pa.string()),
        ("quantity", pa.int32()),
        ("price", MONEY),
        ("at", TIMESTAMP),
    ]
)


def cart_rows(changes: Changes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One segment per cart a contact touched in the batch (a new one after each order)."""
    segments, lines = [], []
    for contact_id, states in changes.carts.items():
        for seg, state in enumerate(states):
            base = {"workspace_id": state.workspace_id, "contact_id": contact_id, "seg": seg}
            segments.append({**base, **_segment(state)})
            lines += [{**base, "sku": sku, **line} for sku, line in state.lines.items()]
    return segments, lines


def _segment(state: CartState) -> dict[str, Any]:
    return {
        "proposed_cart_id": state.opened_by,
        "has_lines": bool(state.lines) or state.clear,
        "clear": state.clear,
        "convert": state.convert,
        "convert_order": state.convert_order,
        "first_at": state.first_at,
        "last_at": state.last_at,
    }


# Segment 0 continues the contact's open cart; later segments (after an order in the same
# batch) and contacts without an open cart start a new one, named after its first event.
# An order that is already stored (a repeated Order Completed) converts nothing.
CART_MAP_SQL = (
    "SELECT s.workspace_id, s.contact_id, s.seg, s.clear, s.first_at, s.last_at,"
    " s.convert AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.workspace_id = s.workspace_id"
    "  AND o.order_id = s.convert_order) AS convert,"
    " CASE WHEN s.seg = 0 THEN COALESCE(c.cart_id, s.proposed_cart_id)"
    "  ELSE s.proposed_cart_id END AS cart_id,"
    " s.seg > 0 OR c.cart_id IS NULL AS create_cart"
    " FROM _cm_segs s LEFT JOIN (SELECT workspace_id, contact_id,"
    "  arg_max(cart_id, updated_at) AS cart_id FROM carts WHERE status = 'open'"
    "  AND contact_id IN (SELECT contact_id FROM _cm_segs) GROUP BY ALL) c"
    " ON s.seg = 0 AND c.workspace_id = s.workspace_id AND c.contact_id = s.contact_id"
    " WHERE s.has_lines OR (s.seg = 0 AND c.cart_id IS NOT NULL)"
)
CART_STATEMENTS = (
    "INSERT INTO carts (workspace_id, cart_id, contact_id, status, created_at, updated_at)"
    " SELECT workspace_id, cart_id, contact_id, 'open', first_at, first_at FROM _cm_map"
    " WHERE create_cart ON CONFLICT DO NOTHING",
    "DELETE FROM cart_items USING _cm_map m WHERE m.clear"
    " AND cart_items.workspace_id = m.workspace_id AND cart_items.cart_id = m.cart_id",
    "INSERT INTO cart_items (workspace_id, cart_id, sku, quantity, price, added_at)"
    " SELECT l.workspace_id, m.cart_id, l.sku, l.quantity, l.price, l.at FROM _cm_lines l"
    " JOIN _cm_map m USING (workspace_id, contact_id, seg) WHERE l.mode = 'set'"
    " ON CONFLICT DO UPDATE SET quantity = excluded.quantity,"
    " price = COALESCE(excluded.price, cart_items.price)",
    "INSERT INTO cart_items (workspace_id, cart_id, sku, quantity, price, added_at)"
    " SELECT l.workspace_id, m.cart_id, l.sku, l.quantity, l.price, l.at FROM _cm_lines l"
    " JOIN _cm_map m USING (workspace_id, contact_id, seg) WHERE l.mode = 'delta'"
    " ON CONFLICT DO UPDATE SET quantity = cart_items.quantity + excluded.quantity,"
    " price = COALESCE(excluded.price, cart_items.price)",
    "DELETE FROM cart_items USING _cm_map m WHERE cart_items.quantity <= 0"
    " AND cart_items.workspace_id = m.workspace_id AND cart_items.cart_id = m.cart_id",
    "UPDATE carts SET updated_at = GREATEST(carts.updated_at, m.last_at), status = CASE"
    " WHEN m.convert THEN 'converted' WHEN NOT EXISTS (SELECT 1 FROM cart_items i"
    "  WHERE i.workspace_id = m.workspace_id AND i.cart_id = m.cart_id) THEN 'emptied'"
    " ELSE carts.status END FROM _cm_map m"
    " WHERE carts.workspace_id = m.workspace_id AND carts.cart_id = m.cart_id",
)


def apply_carts(conn: Any, changes: Changes) -> None:
    segments, lines = cart_rows(changes)
    segs_table = pa.Table.from_pylist(segments, schema=SEGMENTS)
    with registered(conn, _cm_segs=segs_table):
        mapping = conn.sql(CART_MAP_SQL).to_arrow_table()
    if mapping.num_rows == 0:
        return
    lines_table = pa.Table.from_pylist(lines, schema=LINES)
    with registered(conn, _cm_map=mapping, _cm_lines=lines_table):
        for sql in CART_STATEMENTS:
            conn.execute(sql)


def order_stage(changes: Changes) -> pa.Table:
    rows = []
    for row in changes.orders.values():
        attrs = row.get("attributes")
        rows.append(
            {**row, "status": None, "attributes": orjson.dumps(attrs).decode() if attrs else None}
        )
    return pa.Table.from_pylist(rows, schema=ORDER_STAGE)


def item_stage(changes: Changes) -> pa.Table:
    rows = [
        {"workspace_id": ws, "order_id": oid, **line}
        for (ws, oid), lines in changes.order_items.items()
        for line in lines
    ]
    return pa.Table.from_pylist(rows, schema=ITEM_STAGE)


def apply_orders(conn: Any, changes: Changes) -> None:
    if changes.orders or changes.statuses:
        order_store.write_orders(
            conn,
            order_stage(changes),
            item_stage(changes),
            pa.Table.from_pylist(changes.statuses, schema=STATUS_STAGE),
            authoritative=False,
        )
    if changes.returns:
        order_store.write_returns(conn, pa.Table.from_pylist(changes.returns, schema=RETURN_STAGE))
    keys = {(r["workspace_id"], r["order_id"]) for r in changes.returns}
    keys |= {k for k in changes.order_items}
    order_store.settle_returns(conn, sorted(keys), mark_returned=True)


SEARCHES = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("query", pa.string()),
        ("results", pa.int32()),
        ("searched_at", TIMESTAMP),
        ("message_id", pa.string()),
    ]
)
WISHLIST = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("wishlist", pa.string()),
        ("sku", pa.string()),
        ("add", pa.bool_()),
        ("added_at", TIMESTAMP),
    ]
)
COUPONS = pa.schema(
    [("workspace_id", pa.string()), ("order_id", pa.string()), ("coupon", pa.string())]
)
SEARCH_SQL = f"INSERT INTO searches ({', '.join(SEARCHES.names)}) SELECT * FROM _cm_searches"
WISHLIST_STATEMENTS = (
    "INSERT INTO wishlist_items (workspace_id, contact_id, wishlist, sku, added_at)"
    " SELECT workspace_id, contact_id, wishlist, sku, added_at FROM _cm_wish WHERE add"
    " ON CONFLICT DO NOTHING",
    "DELETE FROM wishlist_items USING _cm_wish w WHERE NOT w.add"
    " AND wishlist_items.workspace_id = w.workspace_id"
    " AND wishlist_items.contact_id = w.contact_id AND wishlist_items.wishlist = w.wishlist"
    " AND wishlist_items.sku = w.sku",
)
COUPON_SQL = (
    "UPDATE orders SET coupon = c.coupon FROM _cm_coupons c"
    " WHERE orders.workspace_id = c.workspace_id AND orders.order_id = c.order_id"
    " AND orders.coupon IS DISTINCT FROM c.coupon"
)


def apply_searches(conn: Any, changes: Changes) -> None:
    with registered(conn, _cm_searches=pa.Table.from_pylist(changes.searches, schema=SEARCHES)):
        conn.execute(SEARCH_SQL)


def apply_wishlist(conn: Any, changes: Changes) -> None:
    rows = [
        {"workspace_id": ws, "contact_id": cid, "wishlist": name, "sku": sku, **state}
        for (ws, cid, name, sku), state in changes.wishlist.items()
    ]
    with registered(conn, _cm_wish=pa.Table.from_pylist(rows, schema=WISHLIST)):
        for sql in WISHLIST_STATEMENTS:
            conn.execute(sql)


def apply_coupons(conn: Any, changes: Changes) -> None:
    last = {(c["workspace_id"], c["order_id"]): c for c in changes.coupons}
    with registered(conn, _cm_coupons=pa.Table.from_pylist(list(last.values()), schema=COUPONS)):
        conn.execute(COUPON_SQL)


def apply_changes(conn: Any, changes: Changes) -> None:
    """Each entity in dependency order; entities the batch does not touch cost nothing."""
    if changes.products:
        apply_products(conn, changes)
    if changes.carts:
        apply_carts(conn, changes)
    if changes.orders or changes.statuses or changes.returns:
        apply_orders(conn, changes)
    if changes.coupons:
        apply_coupons(conn, changes)
    if changes.searches:
        apply_searches(conn, changes)
    if changes.wishlist:
        apply_wishlist(conn, changes)
