"""Orders import: one row per line or an items column; customers resolved to contacts."""

from __future__ import annotations

import json
from pathlib import Path

from retenta.app import Container
from tests.conftest import Workspace
from tests.imports.helpers import rejects, run_import, scalar, write_csv

LINE_HEADER = ["Номер заказа", "Email", "Дата", "Статус", "Артикул", "Кол-во", "Цена", "Валюта"]
LINES = [
    ["o-1", "ann@example.com", "2024-05-01 10:00", "paid", "A", "2", "10.00", "UAH"],
    ["o-1", "ann@example.com", "2024-05-01 10:00", "paid", "B", "1", "5,50", "UAH"],
    ["o-2", "bob@example.com", "02.05.2024", "shipped", "A", "1", "10", "UAH"],
    ["o-3", "bob@example.com", "not a date", "paid", "C", "1", "3", "UAH"],
    ["o-4", "", "2024-05-03", "paid", "C", "1", "3", "UAH"],
    ["o-5", "carol@example.com", "2024-05-03", "lost", "C", "0", "3", "UAH"],
]


def _order(container: Container, ws_id: str, order_id: str) -> tuple[object, ...] | None:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT contact_id, status, total::DOUBLE, currency,"
            " (SELECT count(*) FROM order_items i WHERE i.workspace_id = o.workspace_id"
            "  AND i.order_id = o.order_id)"
            " FROM orders o WHERE workspace_id = ? AND order_id = ?",
            [ws_id, order_id],
        ).fetchone()


def test_order_lines_group_into_orders(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", LINE_HEADER, LINES)
    job = run_import(container, ws.id, path, "orders")
    assert job["status"] == "done", job["error"]
    assert (job["accepted_rows"], job["rejected_rows"]) == (3, 3)
    found = [(r["row_number"], r["field"]) for r in rejects(container, ws.id, job["id"])]
    assert found == [(5, "placed_at"), (6, "external_id"), (7, "quantity"), (7, "status")]
    ann = container.identity.lookup(workspace_id=ws.id, id_type="email", value="ann@example.com")
    assert ann is not None
    assert _order(container, ws.id, "o-1") == (ann, "paid", 25.5, "UAH", 2)
    bob = container.identity.lookup(workspace_id=ws.id, id_type="email", value="bob@example.com")
    assert _order(container, ws.id, "o-2") == (bob, "shipped", 10.0, "UAH", 1)
    assert _order(container, ws.id, "o-3") is None


def test_reimport_is_idempotent(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", LINE_HEADER, LINES[:3])
    run_import(container, ws.id, path, "orders")
    before = _counts(container, ws.id)
    again = run_import(container, ws.id, path, "orders")
    assert again["accepted_rows"] == 3
    assert again["stats"]["orders_inserted"] == 0
    assert _counts(container, ws.id) == before == (2, 3, 2)


def test_orders_with_items_column(container: Container, ws: Workspace, tmp_path: Path) -> None:
    good = json.dumps([{"sku": "A", "quantity": 2, "price": 10}, {"sku": "B", "price": "1.5"}])
    bad = json.dumps([{"sku": "A"}])
    path = write_csv(
        tmp_path / "orders.csv",
        ["order_id", "customer_id", "placed_at", "items"],
        [["o-9", "c-9", "2024-06-01T08:00:00Z", good], ["o-10", "c-9", "2024-06-01", bad]],
    )
    job = run_import(container, ws.id, path, "orders")
    assert (job["accepted_rows"], job["rejected_rows"]) == (1, 1), job
    (reject,) = rejects(container, ws.id, job["id"])
    assert (reject["row_number"], reject["field"]) == (3, "items")
    assert "item 1 needs sku and price" in reject["reason"]
    row = _order(container, ws.id, "o-9")
    assert row is not None
    assert row[2:] == (21.5, None, 2)


def test_order_split_across_chunks_keeps_all_lines(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    rows = [
        [
            f"o-{i // 3}",
            f"p{i // 3}@example.com",
            "2024-05-01",
            "paid",
            f"S{i % 3}",
            "1",
            "1",
            "UAH",
        ]
        for i in range(30)
    ]
    path = write_csv(tmp_path / "orders.csv", LINE_HEADER, rows)
    container.imports.chunk_rows = 4  # 4 is not a multiple of 3: every chunk ends mid-order
    job = run_import(container, ws.id, path, "orders")
    assert (job["accepted_rows"], job["processed_rows"]) == (30, 30)
    assert _counts(container, ws.id) == (10, 30, 10)


def _counts(container: Container, ws_id: str) -> tuple[int, ...]:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT (SELECT count(*) FROM orders WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM order_items WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM contacts WHERE workspace_id = $ws)",
            {"ws": ws_id},
        ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def test_order_totals_survive_reimport(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", LINE_HEADER, LINES[:2])
    run_import(container, ws.id, path, "orders")
    run_import(container, ws.id, path, "orders")
    total = scalar(
        container, "SELECT sum(total)::DOUBLE FROM orders WHERE workspace_id = ?", [ws.id]
    )
    assert total == 25.5
