"""Carts: the writer knows every open cart (``CartMemory``), computes a batch's new state in
Python and appends it to ``cart_changes`` with one plain INSERT. No read, no index probe, no
conflict check: the cost does not grow with the cart tables. ``consolidate`` folds the
change rows into ``carts`` / ``cart_items`` in bulk; readers use the ``current_*`` views."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from retenta.commerce.arrowsql import run
from retenta.commerce.cartmemory import Cart, CartMemory, Line, UnitToken
from retenta.commerce.events import CartState
from retenta.commerce.tables import MONEY, TIMESTAMP

Row = tuple[Any, ...]  # a change row: ``CHANGE_ROWS`` without ``seq``


@dataclass
class CartPlan:
    rows: list[Row] = field(default_factory=list)
    final: Cart | None = None


def apply_lines(items: dict[str, Line], state: CartState) -> dict[str, Line]:
    """The cart's lines after a segment's changes (quantity 0 = the line goes).

    >>> from datetime import datetime, timezone as tz
    >>> at = datetime(2026, 1, 1, tzinfo=tz.utc)
    >>> s = CartState(); s.add("a", 2, None, at); s.set("b", 0, None, at)
    >>> out = apply_lines({"b": {"quantity": 1, "price": None, "added_at": at}}, s)
    >>> {k: v["quantity"] for k, v in out.items()}
    {'b': 0, 'a': 2}
    """
    # Lines the segment does not touch are shared, not copied (carts can hold many lines);
    # a touched line is a new dict, so ``items`` is never changed.
    out = {k: {**v, "quantity": 0} for k, v in items.items()} if state.clear else dict(items)
    for sku, change in state.lines.items():
        old = out.get(sku)
        line = {"quantity": 0, "price": None, "added_at": change["at"]} if old is None else {**old}
        out[sku] = line
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
    """Change rows for one contact's segments (a new cart after each conversion), and the
    open cart that is left. A removed line is kept with quantity 0 (readers skip it)."""
    plan = CartPlan(final=current)
    for seg, state in enumerate(states):
        cart = plan.final if seg == 0 else None
        if cart is None:
            if not (state.lines or state.clear):
                continue  # an order with no cart to convert
            assert state.first_at is not None
            cart = Cart(state.opened_by, state.first_at)
        rows, plan.final = segment(ws, contact_id, cart, state, converted)
        plan.rows += rows
    return plan


def segment(
    ws: str, contact_id: int, cart: Cart, state: CartState, converted: set[tuple[str, str]]
) -> tuple[list[Row], Cart | None]:
    """The cart row and the changed line rows after one segment, and the open cart left."""
    lines = apply_lines(cart.items, state)
    order = state.convert_order
    convert = state.convert and (order is None or (ws, order) in converted)
    live = {sku: line for sku, line in lines.items() if line["quantity"] > 0}
    status = "converted" if convert and live else "open" if live else "emptied"
    assert state.last_at is not None
    updated = max(cart.updated_at, state.last_at) if cart.updated_at else state.last_at
    cart_id = cart.cart_id
    head = (ws, cart_id, contact_id, None, status, cart.created_at, updated, None, None, None)
    changed = [
        (ws, cart_id, contact_id, sku, None, None, None, line["quantity"], line["price"],
         line["added_at"])
        for sku, line in lines.items()
        if line is not (old := cart.items.get(sku)) and line != old
    ]  # fmt: skip
    left = Cart(cart.cart_id, cart.created_at, updated, live) if status == "open" else None
    return [head, *changed], left


CHANGE_ROWS = pa.schema(
    [("workspace_id", pa.string()), ("cart_id", pa.string()), ("contact_id", pa.int64()),
     ("sku", pa.string()), ("status", pa.string()), ("created_at", TIMESTAMP),
     ("updated_at", TIMESTAMP), ("quantity", pa.int32()), ("price", MONEY),
     ("added_at", TIMESTAMP), ("seq", pa.int64())]
)  # fmt: skip
APPEND_SQL = f"INSERT INTO cart_changes ({', '.join(CHANGE_ROWS.names)}) SELECT * FROM _cm_carts"


class Sequence:
    """Write order of change rows: nanoseconds since the epoch, strictly increasing."""

    def __init__(self) -> None:
        self.last = 0

    def take(self, n: int) -> list[int]:
        start = max(time.time_ns(), self.last + 1)
        self.last = start + n - 1
        return list(range(start, start + n))


def write_carts(
    conn: Any,
    states: dict[int, list[CartState]],
    converted: Iterable[tuple[str, str]],
    memory: CartMemory,
    seq: Sequence,
    token: UnitToken | None = None,
) -> int:
    """Append the batch's cart changes (one INSERT); ``converted``: orders new in this batch;
    ``token``: this unit's, if already written. Returns the number of change rows written."""
    memory.begin(conn, {segs[0].workspace_id for segs in states.values()}, token)
    done = set(converted)
    rows: list[Row] = []
    for contact_id, segs in states.items():
        ws = segs[0].workspace_id
        plan = plan_contact(ws, contact_id, segs, memory.get(ws, contact_id), done)
        rows += plan.rows
        memory.note(ws, contact_id, plan.final)
    if rows:
        run(conn, APPEND_SQL, _cm_carts=change_table(rows, seq.take(len(rows))))
    return len(rows)


def change_table(rows: list[Row], seqs: list[int]) -> pa.Table:
    """The rows as Arrow columns (built column by column: no dict per row)."""
    columns = [*zip(*rows, strict=True), seqs]
    arrays = [pa.array(col, f.type) for col, f in zip(columns, CHANGE_ROWS, strict=True)]
    return pa.Table.from_arrays(arrays, schema=CHANGE_ROWS)


LATEST = "QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY seq DESC) = 1"
CONSOLIDATE_SQL = (
    "INSERT INTO carts SELECT workspace_id, cart_id, contact_id, status, created_at, updated_at"
    " FROM cart_changes WHERE sku IS NULL " + LATEST.format(key="workspace_id, cart_id") +
    " ON CONFLICT (workspace_id, cart_id) DO UPDATE SET status = excluded.status,"
    " contact_id = excluded.contact_id, updated_at = excluded.updated_at",
    "INSERT INTO cart_items (workspace_id, cart_id, sku, quantity, price, added_at, contact_id)"
    " SELECT workspace_id, cart_id, sku, quantity, price, added_at, contact_id FROM cart_changes"
    " WHERE sku IS NOT NULL " + LATEST.format(key="workspace_id, cart_id, sku") +
    " ON CONFLICT (workspace_id, cart_id, sku) DO UPDATE SET quantity = excluded.quantity,"
    " price = excluded.price, added_at = excluded.added_at, contact_id = excluded.contact_id",
    "DELETE FROM cart_changes",
)  # fmt: skip


def consolidate(conn: Any) -> None:
    """Fold the change rows into ``carts`` / ``cart_items`` (bulk, inside a unit of work)."""
    for sql in CONSOLIDATE_SQL:
        conn.execute(sql)
