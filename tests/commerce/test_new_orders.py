"""An ingest unit's new orders: one index probe says which of them are stored and which have
stored lines, and the rest are plain inserts (``orders._insert_new``). The tables must be the
same as with the conflict-checking inserts that imports still use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.commerce import orders as order_store
from retenta.settings import Settings
from tests.commerce.helpers import apply, rows, track
from tests.commerce.test_refunds import W2, W, order
from tests.commerce.test_refunds import units as refund_units
from tests.storage.plans import executed_plan

TABLES = ("orders", "order_items", "order_status_history", "order_returns")


def units() -> list[list[Any]]:
    """The refund stream, then a unit with an order over orphan lines, an order id new in one
    workspace and stored in the other, orders without a total, a stored order re-sent and a
    brand new one."""
    no_total = {"order_id": "o-21", "products": [{"sku": "T", "price": 7, "quantity": 3}]}
    return [
        *refund_units(),
        [
            track(W, 8, "Order Completed", order("o-orphan", ("N", 1), ("M", 2)), minute=20),
            track(W2, 2, "Order Completed", order("o-2", ("C", 1)), minute=20),
            track(W, 9, "Order Completed", no_total, minute=20),
            track(W, 10, "Order Completed", {"order_id": "o-22"}, minute=20),
            track(W, 1, "Order Completed", order("o-1", ("A", 1)), minute=20),
            track(W, 11, "Order Completed", order("o-23", ("P", 1), ("Q", 1)), minute=20),
        ],
        [track(W, 12, "Order Completed", order("o-24", ("R", 1)), minute=21)],
    ]


def orphan_lines(container: Container) -> None:
    """Lines stored under an order id that has no order (no writer leaves them; an old store
    might hold some): a plain insert of the new order's lines would fail the unit."""
    container.db.write(
        lambda c: c.execute(
            "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price)"
            " SELECT ?, 'o-orphan', l, 'OLD', 1, 1 FROM range(1, 4) t(l)",
            [W],
        )
    )


def run_all(container: Container, stream: list[list[Any]]) -> dict[str, list[tuple[Any, ...]]]:
    orphan_lines(container)
    for unit in stream:
        apply(container, *unit)
    dump = {t: rows(container, f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}
    dump["order_summary_dirty"] = rows(
        container, "SELECT DISTINCT workspace_id, order_id FROM order_summary_dirty ORDER BY ALL"
    )
    return dump


def test_new_orders_leave_the_same_tables_as_the_conflict_checking_inserts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = units()  # once: the message ids are part of the tables
    seen: list[str] = []
    original = order_store.run

    def watched(conn: Any, sql: str, *args: Any, **tables: Any) -> Any:
        seen.append(sql)
        return original(conn, sql, *args, **tables)

    monkeypatch.setattr(order_store, "run", watched)
    probed = build_container(Settings(data_dir=tmp_path / "probed", background_workers=False))
    try:
        fast = run_all(probed, stream)
    finally:
        probed.close()
    assert {order_store.INSERT_PLAIN_GIVEN_TOTAL_SQL, order_store.INSERT_PLAIN_SQL} <= set(seen)
    assert order_store.ITEMS_INSERT_SQL in seen
    assert order_store.INSERT_NEW_GIVEN_TOTAL_SQL not in seen
    seen.clear()
    monkeypatch.setattr(order_store, "PROBED_ORDERS", 0)
    checked = build_container(Settings(data_dir=tmp_path / "checked", background_workers=False))
    try:
        slow = run_all(checked, stream)
    finally:
        checked.close()
    assert order_store.INSERT_NEW_GIVEN_TOTAL_SQL in seen
    assert order_store.ITEMS_INSERT_SQL not in seen
    assert fast == slow
    lines = [(r[2], r[3]) for r in fast["order_items"] if r[:2] == (W, "o-orphan")]
    assert lines == [(1, "N"), (2, "M"), (3, "OLD")]  # the upsert kept the orphan's third line
    orders = {(r[0], r[1]): r for r in fast["orders"]}
    assert {(W2, "o-2"), (W, "o-22"), (W, "o-24")} <= set(orders)


def test_the_probe_reads_orders_and_lines_by_their_indexes(tmp_path: Path) -> None:
    """Two index scans (``orders_order``, ``order_items_order``), whatever the store's size;
    it finds stored orders and lines, in either workspace."""
    container = build_container(Settings(data_dir=tmp_path, background_workers=False))
    try:
        apply(container, *refund_units()[0])
        sql = order_store.STORED_PROBE_SQL.format(ids="?, ?, ?")
        ids = ["o-1", "o-6", "o-99"]
        with container.db.read() as cur:
            assert executed_plan(cur, sql, ids * 2).count("Index Scan") == 2
            found = sorted(cur.execute(sql, ids * 2).fetchall())
        assert found == [(W, "o-1", False), (W, "o-1", True), (W, "o-6", False),
                         (W2, "o-1", False), (W2, "o-1", True)]  # fmt: skip
    finally:
        container.close()
