"""The Arrow-in, counts-out functions the imports engineer calls inside a writer unit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from retenta.app import Container
from tests.commerce.helpers import rows

W = "ws-a"


def products(container: Container, table: pa.Table, ws: str = W) -> dict[str, Any]:
    return container.db.write(lambda c: container.commerce.upsert_products(c, ws, table))


def orders(container: Container, o: pa.Table, i: pa.Table) -> dict[str, Any]:
    return container.db.write(lambda c: container.commerce.upsert_orders(c, W, o, i))


CATALOG = pa.table(
    {
        "sku": ["A", "B", "C"],
        "name": ["Alpha", "Beta", "Gamma"],
        "price": ["10.50", "20", "30"],
        "stock": [0, 5, 1],
        "category_path": ["Women > Shoes", "Men/Hats", None],
        "attributes": ['{"colour": "red"}', None, None],
    }
)


def test_upsert_products_inserts_then_is_idempotent(container: Container) -> None:
    first = products(container, CATALOG)
    assert (first["inserted"], first["updated"], first["rejected"]) == (3, 0, [])
    before = rows(container, "SELECT * FROM products ORDER BY sku")
    again = products(container, CATALOG)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert rows(container, "SELECT * FROM products ORDER BY sku") == before
    found = rows(container, "SELECT sku, in_stock, category_path, attributes FROM products")
    assert ("A", False, ["Women", "Shoes"], '{"colour":"red"}') in found


def test_watched_field_changes_are_logged(container: Container) -> None:
    products(container, CATALOG)
    result = products(
        container, pa.table({"sku": ["A", "B"], "stock": [3, 5], "price": [9.99, 20]})
    )
    assert (result["updated"], result["unchanged"], result["history"]) == (1, 1, 3)
    log = rows(container, "SELECT field, old, new FROM products_history ORDER BY field")
    assert log == [("in_stock", "false", "true"), ("price", "10.50", "9.99"), ("stock", "0", "3")]
    # columns left out keep their values
    assert rows(container, "SELECT name FROM products WHERE sku = 'A'") == [("Alpha",)]


def test_bad_product_rows_are_rejected_by_index_and_field(container: Container) -> None:
    bad = pa.table(
        {
            "sku": ["ok", "", "p", "q"],
            "price": ["1", "2", "cheap", "-3"],
            "currency": ["uah", None, None, "EURO"],
        }
    )
    result = products(container, bad)
    assert result["inserted"] == 1
    assert result["rejected"] == [
        {"row": 1, "field": "sku", "reason": "required"},
        {"row": 2, "field": "price", "reason": "expected a number (money, 2 decimals)"},
        {"row": 3, "field": "price", "reason": "must not be negative"},
        {"row": 3, "field": "currency", "reason": "expected a 3-letter ISO 4217 code"},
    ]
    assert rows(container, "SELECT sku, currency FROM products") == [("ok", "UAH")]


def test_unknown_columns_are_a_caller_error(container: Container) -> None:
    with pytest.raises(ValueError, match="colour"):
        products(container, pa.table({"sku": ["A"], "colour": ["red"]}))


ORDERS = pa.table(
    {
        "order_id": ["o1", "o2", "o3"],
        "contact_id": [1, 2, None],
        "status": ["paid", "Shipped", "paid"],
        "channel": ["store", None, None],
        "placed_at": ["2026-01-01T10:00:00Z", "2026-01-02", "2026-01-03"],
    }
)
ITEMS = pa.table(
    {
        "order_id": ["o1", "o1", "o2", "zz"],
        "sku": ["a", "b", "c", "d"],
        "quantity": [2, 1, 1, 1],
        "price": [1.5, 2.0, 5.0, 1.0],
        "returned_quantity": [1, 0, None, None],
    }
)


def test_upsert_orders_twice_changes_nothing(container: Container) -> None:
    first = orders(container, ORDERS, ITEMS)
    assert (first["orders_inserted"], first["items"], first["status_changes"]) == (2, 3, 2)
    assert first["rejected_orders"] == [{"row": 2, "field": "contact_id", "reason": "required"}]
    assert [e["row"] for e in first["rejected_items"]] == [3]
    tables = ("orders", "order_items", "order_status_history", "order_returns")
    before = {t: rows(container, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    second = orders(container, ORDERS, ITEMS)
    assert (second["orders_inserted"], second["orders_updated"], second["status_changes"]) == (
        0,
        2,
        0,
    )
    assert {t: rows(container, f"SELECT * FROM {t} ORDER BY ALL") for t in tables} == before


def test_imported_orders_get_totals_channels_and_returns(container: Container) -> None:
    orders(container, ORDERS, ITEMS)
    found = rows(container, "SELECT order_id, status, channel, total FROM orders ORDER BY 1")
    assert found == [
        ("o1", "paid", "offline", Decimal("5.00")),
        ("o2", "shipped", "online", Decimal("5.00")),
    ]
    returned = rows(container, "SELECT sku, returned_quantity FROM order_items ORDER BY sku")
    assert returned == [("a", 1), ("b", 0), ("c", 0)]


def test_a_later_import_moves_status_and_replaces_items(container: Container) -> None:
    orders(container, ORDERS, ITEMS)
    update = pa.table(
        {
            "order_id": ["o1"],
            "contact_id": [1],
            "status": ["returned"],
            "placed_at": ["2026-01-01T10:00:00Z"],
        }
    )
    lines = pa.table({"order_id": ["o1"], "sku": ["x"], "price": ["3"]})
    result = orders(container, update, lines)
    assert result["status_changes"] == 1
    assert rows(container, "SELECT status FROM orders WHERE order_id = 'o1'") == [("returned",)]
    assert rows(container, "SELECT sku FROM order_items WHERE order_id = 'o1'") == [("x",)]


def test_items_may_reference_stored_orders_only(container: Container) -> None:
    orders(container, ORDERS, ITEMS)
    empty = pa.table(
        {
            "order_id": pa.array([], pa.string()),
            "contact_id": pa.array([], pa.int64()),
            "placed_at": pa.array([], pa.string()),
        }
    )
    lines = pa.table(
        {"order_id": ["o2", "nope"], "sku": ["c2", "x"], "price": [1, 1], "quantity": ["1.5", "1"]}
    )
    result = orders(container, empty, lines)
    assert result["rejected_items"] == [
        {"row": 0, "field": "quantity", "reason": "expected an integer"},
        {
            "row": 1,
            "field": "order_id",
            "reason": "no such order (unknown, or its order row was rejected)",
        },
    ]
