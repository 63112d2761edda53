"""Refund events are settled in Python from one read (``commerce.refunds``); the API and
imports settle with SQL joins (``orders.write_returns`` + ``orders.settle_returns``). The
same events must leave the same tables either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retenta.app import Container, build_container
from retenta.commerce import apply as applier
from retenta.commerce import orders as order_store
from retenta.core.messages import Message
from retenta.settings import Settings
from tests.commerce.helpers import apply, rows, track

W, W2 = "ws-r", "ws-r2"


def order(oid: str, *lines: tuple[str, int]) -> dict[str, Any]:
    products = [{"sku": sku, "price": 10, "quantity": qty} for sku, qty in lines]
    return {"order_id": oid, "total": 99, "products": products}


def refund(oid: str, *lines: tuple[str, int | None]) -> dict[str, Any]:
    if not lines:
        return {"order_id": oid, "total": 5}
    return {"order_id": oid, "products": [{"sku": s, "quantity": q, "price": 10} for s, q in lines]}


def units() -> list[list[Message]]:
    """Refunds of every kind: partial, by sku without quantity, whole order, repeated, two in
    one unit, unknown sku, negative quantity, before the order, of a cancelled order, of orders
    without lines, of an order whose whole return an import recorded, and the same order id
    in two workspaces."""
    again = track(W, 1, "Order Refunded", refund("o-1", ("A", 1)), minute=10)
    return [
        [
            track(W, 1, "Order Completed", order("o-1", ("A", 2), ("B", 1)), minute=1),
            track(W, 2, "Order Completed", order("o-2", ("C", 3)), minute=1),
            track(W, 3, "Order Completed", order("o-3", ("D", 1)), minute=1),
            track(W, 4, "Order Completed", order("o-4", ("E", 1)), minute=1),
            track(W, 5, "Order Completed", order("o-5", ("F", 4)), minute=1),
            track(W2, 1, "Order Completed", order("o-1", ("A", 2)), minute=1),
            track(W, 6, "Order Completed", order("o-6"), minute=1),
            track(W, 7, "Order Completed", order("o-7"), minute=1),
            track(W, 9, "Order Refunded", refund("o-9", ("G", 1)), minute=2),
        ],
        [
            again,
            track(W, 2, "Order Refunded", refund("o-2", ("C", None)), minute=11),
            track(W, 3, "Order Updated", {"order_id": "o-3", "status": "shipped"}, minute=11),
            track(W, 4, "Order Cancelled", {"order_id": "o-4"}, minute=11),
        ],
        [
            again,
            track(W, 1, "Order Refunded", refund("o-1", ("Z", 3)), minute=12),
            track(W, 2, "Order Refunded", refund("o-2", ("C", -2)), minute=12),
            track(W, 3, "Order Refunded", refund("o-3"), minute=12),
            track(W, 4, "Order Refunded", refund("o-4"), minute=12),
            track(W, 5, "Order Refunded", refund("o-5", ("F", 1)), minute=12),
            track(W, 6, "Order Refunded", refund("o-6"), minute=12),
            track(W, 7, "Order Refunded", refund("o-7", ("X", 1)), minute=12),
        ],
        [
            track(W, 1, "Order Refunded", refund("o-1", ("A", 1)), minute=13),
            track(W, 1, "Order Refunded", refund("o-1", ("B", 1)), minute=14),
            track(W, 9, "Order Completed", order("o-9", ("G", 2), ("H", 1)), minute=3),
        ],
    ]


def import_whole_return(container: Container) -> None:
    """An import's whole-order return of o-5, which the writer's memory does not see."""

    def work(conn: Any) -> None:
        conn.execute(
            "INSERT INTO order_returns (workspace_id, order_id, returned_at, source_message_id)"
            " VALUES (?, 'o-5', '2026-03-01 12:05:00+00', 'import')",
            [W],
        )
        order_store.settle_returns(conn, [(W, "o-5")], mark_returned=False)

    container.db.write(work)


def sql_path(conn: Any, returns: list[dict[str, Any]], tail: order_store.Tail) -> None:
    """The set-based settle, as events used it before ``commerce.refunds``."""
    order_store.write_returns(conn, pa.Table.from_pylist(returns, schema=order_store.RETURN_STAGE))
    keys = sorted({(r["workspace_id"], r["order_id"]) for r in returns})
    order_store.settle_returns(conn, keys, mark_returned=True, tail=tail)


TABLES = {
    "order_items": "workspace_id, order_id, line_no, sku, quantity, returned_quantity",
    "orders": "workspace_id, order_id, status, updated_at",
    "order_status_history": "workspace_id, order_id, status, changed_at, source_message_id",
    "order_returns": "workspace_id, order_id, sku, quantity, amount, returned_at,"
    " source_message_id",
    "order_summary_dirty": "DISTINCT workspace_id, order_id",
}


def run_all(container: Container, stream: list[list[Message]]) -> dict[str, list[tuple[Any, ...]]]:
    for i, unit in enumerate(stream):
        if i == 2:
            import_whole_return(container)
        apply(container, *unit)
    return {t: rows(container, f"SELECT {c} FROM {t} ORDER BY ALL") for t, c in TABLES.items()}


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Container]:
    c = build_container(Settings(data_dir=tmp_path / "sql", background_workers=False))
    yield c
    c.close()


def test_refund_events_leave_the_same_tables_as_the_sql_settle(
    container: Container, other: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = units()
    fast = run_all(container, stream)
    monkeypatch.setattr(applier, "apply_refunds", sql_path)
    slow = run_all(other, stream)
    assert fast == slow
    items = {(w, o, sku): r for w, o, _, sku, _, r in fast["order_items"]}
    assert {k: items[k] for k in [(W, "o-1", "A"), (W, "o-1", "B"), (W, "o-2", "C"),
            (W2, "o-1", "A"), (W, "o-5", "F"), (W, "o-9", "G")]} == {
        (W, "o-1", "A"): 2, (W, "o-1", "B"): 1, (W, "o-2", "C"): 3,
        (W2, "o-1", "A"): 0, (W, "o-5", "F"): 4, (W, "o-9", "G"): 1,
    }  # fmt: skip
    status = {(w, o): s for w, o, s, _ in fast["orders"]}
    assert [status[(W, o)] for o in ("o-1", "o-3", "o-4", "o-5", "o-6", "o-7")] == [
        "returned", "returned", "cancelled", "returned", "returned", "paid"
    ]  # fmt: skip
    repeats = [r for r in fast["order_returns"] if r[1] == "o-1" and r[2] == "A"]
    assert len(repeats) == 2  # the message applied twice is one fact; the later one another
