"""Read side: an order with its items and history; a contact's orders, cart and wishlist."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from retenta.storage.base import rows_as_dicts

ORDER_COLUMNS = (
    "order_id, contact_id, status, channel, store_id, total, revenue, discount, shipping, tax,"
    " currency, coupon, placed_at, updated_at, attributes"
)


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """Money as JSON numbers (``Decimal`` would serialize as a string).

    >>> plain({"price": Decimal("9.90"), "sku": "a"})
    {'price': 9.9, 'sku': 'a'}
    """
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def _all(cur: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return [plain(r) for r in rows_as_dicts(cur.execute(sql, params))]


def order_detail(cur: Any, workspace_id: str, order_id: str) -> dict[str, Any] | None:
    found = _all(
        cur,
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE workspace_id = ? AND order_id = ?",
        [workspace_id, order_id],
    )
    if not found:
        return None
    key = [workspace_id, order_id]
    return {
        **found[0],
        "items": order_items(cur, workspace_id, [order_id]).get(order_id, []),
        "status_history": _all(
            cur,
            "SELECT status, changed_at, source_message_id FROM order_status_history"
            " WHERE workspace_id = ? AND order_id = ? ORDER BY changed_at, status",
            key,
        ),
        "returns": _all(
            cur,
            "SELECT sku, quantity, amount, returned_at, source_message_id FROM order_returns"
            " WHERE workspace_id = ? AND order_id = ? ORDER BY returned_at",
            key,
        ),
    }


def order_items(
    cur: Any, workspace_id: str, order_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    if not order_ids:
        return {}
    rows = _all(
        cur,
        "SELECT order_id, line_no, sku, name, category, brand, quantity, price,"
        " returned_quantity FROM order_items WHERE workspace_id = ? AND list_contains(?, order_id)"
        " ORDER BY order_id, line_no",
        [workspace_id, order_ids],
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("order_id"), []).append(row)
    return out


def contact_exists(cur: Any, workspace_id: str, contact_id: int) -> bool:
    sql = "SELECT 1 FROM contacts WHERE workspace_id = ? AND id = ?"
    return cur.execute(sql, [workspace_id, contact_id]).fetchone() is not None


def live_contact(cur: Any, workspace_id: str, contact_id: int) -> int | None:
    """The contact, or the one it was merged into (followed to the end), in this workspace."""
    sql = (
        "WITH RECURSIVE chain(id, merged_into, depth) AS ("
        " SELECT id, merged_into, 0 FROM contacts WHERE workspace_id = ? AND id = ?"
        " UNION ALL SELECT c.id, c.merged_into, chain.depth + 1 FROM contacts c"
        " JOIN chain ON c.id = chain.merged_into WHERE c.workspace_id = ? AND chain.depth < 50)"
        " SELECT id FROM chain WHERE merged_into IS NULL LIMIT 1"
    )
    row = cur.execute(sql, [workspace_id, contact_id, workspace_id]).fetchone()
    return int(row[0]) if row else None


def contact_orders(
    cur: Any, workspace_id: str, contact_ids: list[int], *, limit: int, before: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; the cursor is ``<placed_at in µs>.<order_id>`` of the last row returned."""
    where = ["workspace_id = ?", "list_contains(?, contact_id)"]
    params: list[Any] = [workspace_id, contact_ids]
    if before:
        at, _, oid = before.partition(".")
        where.append("(epoch_us(placed_at), order_id) < (TRY_CAST(? AS BIGINT), ?)")
        params += [at, oid]
    rows = _all(
        cur,
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)}"
        f" ORDER BY placed_at DESC, order_id DESC LIMIT {int(limit) + 1}",
        params,
    )
    more, rows = len(rows) > limit, rows[:limit]
    items = order_items(cur, workspace_id, [r["order_id"] for r in rows])
    for row in rows:
        row["items"] = items.get(row["order_id"], [])
    last = rows[-1] if rows else {}
    cursor = f"{epoch_us(last['placed_at'])}.{last['order_id']}" if more else None
    return rows, cursor


def epoch_us(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000 + at.microsecond


PRODUCT_JOIN = " LEFT JOIN products p ON p.workspace_id = i.workspace_id AND p.sku = i.sku"


def contact_cart(cur: Any, workspace_id: str, contact_ids: list[int]) -> dict[str, Any] | None:
    """The open cart (the most recently updated if merged contacts each had one)."""
    carts = _all(
        cur,
        "SELECT cart_id, contact_id, status, created_at, updated_at FROM current_carts"
        " WHERE workspace_id = ? AND list_contains(?, contact_id) AND status = 'open'"
        " ORDER BY updated_at DESC LIMIT 1",
        [workspace_id, contact_ids],
    )
    if not carts:
        return None
    items = _all(
        cur,
        "SELECT i.sku, i.quantity, COALESCE(i.price, p.sale_price, p.price) AS price, i.added_at,"
        " p.name, p.url, p.image_url, p.in_stock FROM current_cart_items i" + PRODUCT_JOIN +
        " WHERE i.workspace_id = ? AND i.cart_id = ? AND i.quantity > 0 ORDER BY i.added_at, i.sku",
        [workspace_id, carts[0]["cart_id"]],
    )  # fmt: skip
    value = round(sum((i["price"] or 0) * i["quantity"] for i in items), 2)
    return {**carts[0], "items": items, "value": value}


def contact_wishlist(cur: Any, workspace_id: str, contact_ids: list[int]) -> list[dict[str, Any]]:
    return _all(
        cur,
        "SELECT i.wishlist, i.sku, min(i.added_at) AS added_at, any_value(p.name) AS name,"
        " any_value(p.url) AS url, any_value(p.image_url) AS image_url,"
        " any_value(p.price) AS price, any_value(p.sale_price) AS sale_price,"
        " any_value(p.in_stock) AS in_stock FROM wishlist_items i" + PRODUCT_JOIN +
        " WHERE i.workspace_id = ? AND list_contains(?, i.contact_id)"
        " GROUP BY i.wishlist, i.sku ORDER BY added_at DESC, i.sku",
        [workspace_id, contact_ids],
    )  # fmt: skip
