"""Carts: read the touched contacts' open carts once, compute the new state in Python, write
it back with two upserts. Every statement filters on integer contact ids or goes through a
primary key, so its cost does not grow with the size of the cart tables' string keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from retenta.commerce.arrowsql import run
from retenta.commerce.events import CartState
from retenta.commerce.tables import MONEY, TIMESTAMP

Line = dict[str, Any]  # {"quantity", "price", "added_at"}


@dataclass
class Cart:
    cart_id: str
    created_at: datetime
    items: dict[str, Line] = field(default_factory=dict)


@dataclass
class CartPlan:
    carts: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def apply_lines(items: dict[str, Line], state: CartState) -> dict[str, Line]:
    """The cart's lines after a segment's changes (quantity 0 = the line goes).

    >>> from datetime import datetime, timezone as tz
    >>> at = datetime(2026, 1, 1, tzinfo=tz.utc)
    >>> s = CartState(); s.add("a", 2, None, at); s.set("b", 0, None, at)
    >>> out = apply_lines({"b": {"quantity": 1, "price": None, "added_at": at}}, s)
    >>> {k: v["quantity"] for k, v in out.items()}
    {'b': 0, 'a': 2}
    """
    out = {} if state.clear else {k: dict(v) for k, v in items.items()}
    if state.clear:
        out.update({k: {**v, "quantity": 0} for k, v in items.items()})
    for sku, change in state.lines.items():
        line = out.setdefault(sku, {"quantity": 0, "price": None, "added_at": change["at"]})
        base = 0 if change["mode"] == "set" else line["quantity"]
        line["quantity"] = max(base + change["quantity"], 0)
        line["price"] = change["price"] if change["price"] is not None else line["price"]
        if not items.get(sku, {}).get("quantity"):
            line["added_at"] = change["at"]
    return out


def plan_contact(
    ws: str,
    contact_id: int,
    states: list[CartState],
    current: Cart | None,
    converted: set[tuple[str, str]],
) -> CartPlan:
    """Cart and line rows for one contact's segments (a new cart after each conversion).
    A removed line is kept with quantity 0 (readers skip it): one upsert, no delete."""
    plan = CartPlan()
    for seg, state in enumerate(states):
        cart = current if seg == 0 else None
        if cart is None:
            if not (state.lines or state.clear):
                continue  # an order with no cart to convert
            assert state.first_at is not None
            cart = Cart(state.opened_by, state.first_at)
        lines = apply_lines(cart.items, state)
        order = state.convert_order
        convert = state.convert and (order is None or (ws, order) in converted)
        live = any(line["quantity"] > 0 for line in lines.values())
        status = "converted" if convert and live else "open" if live else "emptied"
        plan.carts.append(
            {"workspace_id": ws, "cart_id": cart.cart_id, "contact_id": contact_id,
             "status": status, "created_at": cart.created_at, "updated_at": state.last_at}
        )  # fmt: skip
        where = {"workspace_id": ws, "cart_id": cart.cart_id, "contact_id": contact_id}
        plan.items += [
            {**where, "sku": sku, **line}
            for sku, line in lines.items()
            if line != cart.items.get(sku)
        ]
    return plan


# Both sides are narrowed by integer contact ids before the (tiny) join.
OPEN_CARTS_SQL = (
    "SELECT c.workspace_id, c.contact_id, c.cart_id, c.created_at, i.sku, i.quantity, i.price,"
    " i.added_at FROM (SELECT workspace_id, contact_id, cart_id, created_at, updated_at"
    "  FROM carts WHERE status = 'open' AND list_contains($ids, contact_id)) c"
    " LEFT JOIN (SELECT workspace_id, cart_id, sku, quantity, price, added_at FROM cart_items"
    "  WHERE list_contains($ids, contact_id) AND quantity > 0) i"
    " ON i.workspace_id = c.workspace_id AND i.cart_id = c.cart_id ORDER BY c.updated_at"
)
CART_ROWS = pa.schema(
    [("workspace_id", pa.string()), ("cart_id", pa.string()), ("contact_id", pa.int64()),
     ("status", pa.string()), ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP)]
)  # fmt: skip
ITEM_ROWS = pa.schema(
    [("workspace_id", pa.string()), ("cart_id", pa.string()), ("contact_id", pa.int64()),
     ("sku", pa.string()), ("quantity", pa.int32()), ("price", MONEY), ("added_at", TIMESTAMP)]
)  # fmt: skip
UPSERT_CARTS_SQL = (
    "INSERT INTO carts SELECT workspace_id, cart_id, contact_id, status, created_at, updated_at"
    " FROM _cm_carts ON CONFLICT (workspace_id, cart_id) DO UPDATE SET status = excluded.status,"
    " updated_at = GREATEST(carts.updated_at, excluded.updated_at)"
)
UPSERT_ITEMS_SQL = (
    "INSERT INTO cart_items (workspace_id, cart_id, sku, quantity, price, added_at, contact_id)"
    " SELECT workspace_id, cart_id, sku, quantity, price, added_at, contact_id FROM _cm_items"
    " ON CONFLICT (workspace_id, cart_id, sku) DO UPDATE SET quantity = excluded.quantity,"
    " price = excluded.price, added_at = excluded.added_at"
)


def current_carts(conn: Any, contact_ids: list[int]) -> dict[tuple[str, int], Cart]:
    """The open cart of each contact (the latest, should there be two), with its lines."""
    carts: dict[tuple[str, int], Cart] = {}
    for ws, contact_id, cart_id, created_at, sku, qty, price, added_at in conn.execute(
        OPEN_CARTS_SQL, {"ids": contact_ids}
    ).fetchall():
        cart = carts.get((ws, contact_id))
        if cart is None or cart.cart_id != cart_id:
            cart = carts[(ws, contact_id)] = Cart(cart_id, created_at)
        if sku is not None:
            cart.items[sku] = {"quantity": qty, "price": price, "added_at": added_at}
    return carts


def write_carts(
    conn: Any, states: dict[int, list[CartState]], converted: Iterable[tuple[str, str]]
) -> None:
    """Apply the batch's cart changes; ``converted``: keys of orders new in this batch."""
    contact_ids = sorted(states)
    carts = current_carts(conn, contact_ids)
    done = set(converted)
    plan = CartPlan()
    for contact_id, segs in states.items():
        ws = segs[0].workspace_id
        part = plan_contact(ws, contact_id, segs, carts.get((ws, contact_id)), done)
        plan.carts += part.carts
        plan.items += part.items
    _write(conn, plan)


def _write(conn: Any, plan: CartPlan) -> None:
    if not plan.carts:
        return
    carts = pa.Table.from_pylist(plan.carts, schema=CART_ROWS)
    items = pa.Table.from_pylist(plan.items, schema=ITEM_ROWS)
    run(conn, UPSERT_CARTS_SQL, _cm_carts=carts)
    if items.num_rows:
        run(conn, UPSERT_ITEMS_SQL, _cm_items=items)
