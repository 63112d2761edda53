"""Catalog import end to end: coercion, rejects, idempotence, XLSX, saved mappings."""

from __future__ import annotations

from pathlib import Path

from retenta.app import Container
from tests.conftest import Workspace
from tests.imports.helpers import rejects, run_import, scalar, write_csv, write_xlsx

HEADER = ["Артикул", "Название", "Цена", "Валюта", "Остаток", "Категория", "Бренд", "color"]
ROWS = [
    ["SKU-1", "Red shoes", "1 299,50", "грн", "3", "Women > Shoes", "Acme", "red"],
    ["SKU-2", "Blue hat", "199", "UAH", "0", "Men/Hats", "Hatter", "blue"],
    ["SKU-3", "Bad price", "abc", "UAH", "1", "Men", "X", ""],
    ["", "No sku", "10", "UAH", "1", "Men", "X", ""],
]


def test_products_from_csv_with_russian_headers(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "catalog.csv", HEADER, ROWS)
    mapping = {**_suggested(container, ws, path), "color": "attr.color"}
    job = run_import(container, ws.id, path, "products", mapping)
    assert job["status"] == "done", job["error"]
    assert (job["accepted_rows"], job["rejected_rows"], job["processed_rows"]) == (2, 2, 4)
    row = _product(container, ws.id, "SKU-1")
    assert row == ("Red shoes", 1299.50, "UAH", 3, ["Women", "Shoes"], "Acme", '{"color":"red"}')
    bad = rejects(container, ws.id, job["id"])
    assert [(r["row_number"], r["field"]) for r in bad] == [(4, "price"), (5, "sku")]
    assert "'abc': not a number" in bad[0]["reason"]
    assert bad[0]["raw"]["Название"] == "Bad price"
    assert bad[1]["reason"] == "required field is empty"


def test_reimport_changes_nothing(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "catalog.csv", HEADER, ROWS[:2])
    first = run_import(container, ws.id, path, "products")
    second = run_import(container, ws.id, path, "products")
    assert first["stats"]["inserted"] == 2
    assert second["stats"]["inserted"] == 0
    assert second["stats"]["unchanged"] == 2
    assert scalar(container, "SELECT count(*) FROM products WHERE workspace_id = ?", [ws.id]) == 2


def test_products_from_xlsx(container: Container, ws: Workspace, tmp_path: Path) -> None:
    rows = [["A-1", "Lamp", 49.9, "EUR", 7, "Home > Light", "Lux", "white"]]
    path = write_xlsx(tmp_path / "catalog.xlsx", HEADER, rows)
    job = run_import(container, ws.id, path, "products")
    assert job["status"] == "done", job
    assert job["accepted_rows"] == 1
    assert _product(container, ws.id, "A-1")[:5] == ("Lamp", 49.9, "EUR", 7, ["Home", "Light"])


def test_saved_mapping_is_reused(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "feed.csv", ["code", "title"], [["Z-9", "Zebra"]])
    mapping = {"code": "sku", "title": "name"}
    run_import(container, ws.id, path, "products", mapping, save_mapping_as="feed")
    saved = container.imports.mappings(workspace_id=ws.id)
    assert [(m["name"], m["entity"], m["mapping"]) for m in saved] == [
        ("feed", "products", mapping)
    ]
    again = write_csv(tmp_path / "feed2.csv", ["code", "title"], [["Z-9", "Zebra 2"]])
    job = run_import(container, ws.id, again, "products", mapping_name="feed")
    assert job["mapping"] == mapping
    assert job["accepted_rows"] == 1
    assert _product(container, ws.id, "Z-9")[0] == "Zebra 2"


def _suggested(container: Container, ws: Workspace, path: Path) -> dict[str, str | None]:
    up = container.imports.upload_path(workspace_id=ws.id, path=path)
    return dict(up["suggested_mappings"]["products"])


def _product(container: Container, ws_id: str, sku: str) -> tuple[object, ...]:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT name, price::DOUBLE, currency, stock, category_path, brand, attributes::VARCHAR"
            " FROM products WHERE workspace_id = ? AND sku = ?",
            [ws_id, sku],
        ).fetchone()
    assert row is not None
    return tuple(row)
