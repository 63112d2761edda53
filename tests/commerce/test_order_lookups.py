"""Migration 0043: ``orders`` and ``order_returns`` get an index on ``order_id``, so the refund
read probes them (the primary key has two columns and is never probed); a store written
before it upgrades with every row as it was, and refunds settle through the new indexes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from retenta.app import build_container
from retenta.commerce import orders as order_store
from retenta.commerce import refunds
from retenta.settings import Settings
from retenta.storage.duckdb import engine
from tests.commerce.helpers import apply, track
from tests.commerce.test_refunds import run_all
from tests.commerce.test_refunds import units as refund_units
from tests.storage.plans import executed_plan

WS = "ws-old"
TABLES = ("orders", "order_items", "order_returns")


def _pre_0043(path: Path) -> None:
    """A store as 0042 left it: 300 orders of two lines, return facts for some."""
    conn = duckdb.connect(str(path))
    engine.apply_migrations(conn, before=43)
    conn.execute(
        "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
        " updated_at) SELECT ?, 'o-' || i, 1 + i % 50, 'paid', 20,"
        " TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 MINUTE,"
        " TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 MINUTE FROM range(300) t(i)",
        [WS],
    )
    conn.execute(
        "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price)"
        " SELECT ?, 'o-' || i, l, 'S' || l, 1, 10 FROM range(300) t(i), range(2) u(l)",
        [WS],
    )
    conn.execute(
        "INSERT INTO order_returns (workspace_id, order_id, sku, quantity, amount, returned_at,"
        " source_message_id) SELECT ?, 'o-' || (i * 3), 'S0', 1, 10,"
        " TIMESTAMPTZ '2026-02-01', 'old-' || i FROM range(100) t(i)",
        [WS],
    )
    conn.execute(
        "UPDATE order_items SET returned_quantity = 1 WHERE line_no = 0"
        " AND order_id IN (SELECT order_id FROM order_returns)"
    )
    conn.close()


def _dump(cur: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {t: cur.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def _read_plan(cur: Any) -> str:
    return executed_plan(cur, refunds.READ_SQL.format(ids="?, ?"), ["o-7", "o-9"] * 3)


def test_a_store_written_before_0043_upgrades_with_its_rows_and_refunds_probe_the_indexes(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _pre_0043(data / "retenta.duckdb")
    with duckdb.connect(str(data / "retenta.duckdb")) as conn:
        before = _dump(conn)
        assert _read_plan(conn).count("Index Scan") == 1  # order_items_order only
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            assert _dump(cur) == before
            indexes = cur.execute(
                "SELECT table_name, index_name FROM duckdb_indexes()"
                " WHERE index_name IN ('orders_order', 'order_returns_order') ORDER BY 1"
            ).fetchall()
            assert indexes == [("order_returns", "order_returns_order"), ("orders", "orders_order")]
            assert _read_plan(cur).count("Index Scan") == 3
        # o-3 has a stored fact for S0: returning S1 as well covers it; o-4 only in part
        apply(
            container,
            track(WS, 4, "Order Refunded", {"order_id": "o-3", "products": [{"sku": "S1"}]}),
            track(WS, 5, "Order Refunded", {"order_id": "o-4", "products": [{"sku": "S0"}]}),
        )
        with container.db.read() as cur:
            after = _dump(cur)
            status = dict(
                cur.execute(
                    "SELECT order_id, status FROM orders WHERE order_id IN ('o-3', 'o-4')"
                ).fetchall()
            )
            lines = cur.execute(
                "SELECT order_id, line_no, returned_quantity FROM order_items"
                " WHERE order_id IN ('o-3', 'o-4') ORDER BY ALL"
            ).fetchall()
        assert status == {"o-3": "returned", "o-4": "paid"}
        assert lines == [("o-3", 0, 1), ("o-3", 1, 1), ("o-4", 0, 1), ("o-4", 1, 0)]
        assert len(after["order_returns"]) == len(before["order_returns"]) + 2
        untouched = [r for r in after["orders"] if r[1] not in ("o-3", "o-4")]
        assert untouched == [r for r in before["orders"] if r[1] not in ("o-3", "o-4")]
    finally:
        container.close()


def test_stored_statuses_are_the_same_by_probe_by_bound_ids_and_by_a_list_parameter(
    tmp_path: Path,
) -> None:
    """``current_statuses`` reads up to 8 keys by probes, up to ``BOUND_IDS`` ids by a bound
    list and more by one list parameter; each checks the workspace on the rows it finds."""
    container = build_container(Settings(data_dir=tmp_path, background_workers=False))
    try:

        def seed(conn: Any) -> None:
            for ws, status in ((WS, "paid"), ("ws-other", "shipped")):
                conn.execute(
                    "INSERT INTO orders (workspace_id, order_id, contact_id, status, total,"
                    " placed_at, updated_at) SELECT ?, 'o-' || i, 1, ?, 1,"
                    " TIMESTAMPTZ '2026-01-01', TIMESTAMPTZ '2026-01-01'"
                    " FROM range(0, 1200, CASE WHEN ? = 'paid' THEN 1 ELSE 3 END) t(i)",
                    [ws, status, status],
                )

        container.db.write(seed)
        keys = [(WS, f"o-{i}") for i in range(0, 1300, 1)]  # the last 100 do not exist
        keys += [("ws-other", f"o-{i}") for i in range(0, 30, 2)]  # every other one exists
        want = {k: "paid" for k in keys if k[0] == WS and int(k[1][2:]) < 1200}
        want |= {k: "shipped" for k in keys if k[0] == "ws-other" and int(k[1][2:]) % 3 == 0}
        with container.db.read() as cur:
            assert len(keys) > order_store.BOUND_IDS
            assert order_store.current_statuses(cur, keys) == want  # one list parameter
            some = keys[::7][: order_store.BOUND_IDS]
            assert order_store.current_statuses(cur, some) == {
                k: v for k, v in want.items() if k in some
            }  # a bound list
            few = [keys[0], keys[-1], keys[-2], (WS, "o-1250")]
            assert order_store.current_statuses(cur, few) == {
                k: v for k, v in want.items() if k in few
            }  # probes
    finally:
        container.close()


def test_refunds_leave_the_same_tables_one_statement_a_row_as_one_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``one_per_row`` picks one statement a row when the rows sit in row groups of their own
    (1M orders); with a row group of one row it does here. Same tables both ways, and the
    per-row path was taken."""
    stream = refund_units()
    one = build_container(Settings(data_dir=tmp_path / "one", background_workers=False))
    try:
        together = run_all(one, stream)
    finally:
        one.close()
    spread = []
    original = order_store.one_per_row

    def watched(rowids: list[int]) -> bool:
        spread.append(original(rowids))
        return spread[-1]

    monkeypatch.setattr(order_store, "ROW_GROUP", 1)
    monkeypatch.setattr(order_store, "one_per_row", watched)
    each = build_container(Settings(data_dir=tmp_path / "each", background_workers=False))
    try:
        assert run_all(each, stream) == together
    finally:
        each.close()
    assert any(spread)
