"""Segment e-commerce events → entities, through ``CommerceService.apply`` on a real DuckDB."""

from __future__ import annotations

import gc
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from retenta.app import Container
from tests.commerce.helpers import apply, rows, track

W = "ws-a"
ORDER = {
    "order_id": "o-1",
    "total": 30,
    "revenue": 25,
    "currency": "eur",
    "products": [
        {"sku": "A", "name": "Shoe", "price": 10, "quantity": 2, "category": "Women > Shoes"},
        {"product_id": "B", "price": 10, "brand": "Acme"},
    ],
}


def test_added_and_removed_products_shape_the_open_cart(container: Container) -> None:
    apply(
        container,
        track(W, 1, "Product Added", {"sku": "A", "price": 10, "quantity": 2}),
        track(W, 1, "Product Added", {"sku": "B", "price": 5}, minute=1),
        track(W, 1, "Product Removed", {"sku": "A", "quantity": 1}, minute=2),
    )
    apply(container, track(W, 1, "Product Removed", {"sku": "B"}, minute=3))
    assert rows(container, "SELECT contact_id, status FROM carts") == [(1, "open")]
    live = "SELECT sku, quantity, price FROM cart_items WHERE quantity > 0"
    assert rows(container, live) == [("A", 1, Decimal("10.00"))]
    removed = rows(container, "SELECT sku FROM cart_items WHERE quantity = 0")
    assert removed == [("B",)]  # removed lines stay, at 0, so a batch never deletes


def test_cart_viewed_with_products_replaces_the_cart(container: Container) -> None:
    apply(container, track(W, 1, "Product Added", {"sku": "A"}))
    apply(
        container,
        track(W, 1, "Cart Viewed", {"products": [{"sku": "C", "quantity": 3}]}, minute=1),
    )
    assert rows(container, "SELECT sku, quantity FROM cart_items WHERE quantity > 0") == [("C", 3)]


def test_removing_everything_empties_the_cart_and_next_add_opens_another(
    container: Container,
) -> None:
    apply(container, track(W, 1, "Product Added", {"sku": "A"}))
    apply(container, track(W, 1, "Product Removed", {"sku": "A"}, minute=1))
    apply(container, track(W, 1, "Product Added", {"sku": "B"}, minute=2))
    carts = rows(container, "SELECT status FROM carts ORDER BY created_at")
    assert carts == [("emptied",), ("open",)]


def test_order_completed_creates_a_paid_order_with_items_and_converts_the_cart(
    container: Container,
) -> None:
    apply(container, track(W, 7, "Product Added", {"sku": "A", "quantity": 2}))
    apply(
        container,
        track(W, 7, "Order Completed", ORDER, minute=5),
        track(W, 7, "Product Added", {"sku": "Z"}, minute=6),  # after the order: a new cart
    )
    order = rows(container, "SELECT contact_id, status, total, revenue, currency FROM orders")
    assert order == [(7, "paid", Decimal("30.00"), Decimal("25.00"), "EUR")]
    items = rows(container, "SELECT line_no, sku, quantity, price FROM order_items ORDER BY 1")
    assert items == [(1, "A", 2, Decimal("10.00")), (2, "B", 1, Decimal("10.00"))]
    carts = rows(
        container,
        "SELECT c.status, list(i.sku) FROM carts c JOIN cart_items i USING (workspace_id, cart_id)"
        " GROUP BY c.status, c.created_at ORDER BY c.created_at",
    )
    assert carts == [("converted", ["A"]), ("open", ["Z"])]
    history = rows(container, "SELECT status FROM order_status_history")
    assert history == [("paid",)]


def test_same_order_completed_twice_is_one_order_and_converts_once(container: Container) -> None:
    first = track(W, 7, "Order Completed", ORDER, minute=1)
    apply(container, first)
    apply(container, track(W, 7, "Product Added", {"sku": "N"}, minute=2))
    apply(container, first)  # the same message replayed
    apply(container, track(W, 7, "Order Completed", ORDER, minute=3))  # a retry, new messageId
    assert rows(container, "SELECT count(*) FROM orders") == [(1,)]
    assert rows(container, "SELECT count(*) FROM order_items") == [(2,)]
    assert rows(container, "SELECT count(*) FROM order_status_history") == [(1,)]
    assert rows(container, "SELECT status FROM carts") == [("open",)]


def test_partial_then_full_refund_is_idempotent(container: Container) -> None:
    apply(container, track(W, 7, "Order Completed", ORDER))
    one_a = {"order_id": "o-1", "products": [{"sku": "A", "quantity": 1}]}
    partial = track(W, 7, "Order Refunded", one_a, minute=1)
    apply(container, partial)
    apply(container, partial)
    assert rows(container, "SELECT sku, returned_quantity FROM order_items ORDER BY 1") == [
        ("A", 1),
        ("B", 0),
    ]
    assert rows(container, "SELECT status FROM orders") == [("paid",)]
    apply(container, track(W, 7, "Order Refunded", {"order_id": "o-1", "total": 30}, minute=2))
    assert rows(container, "SELECT sku, returned_quantity FROM order_items ORDER BY 1") == [
        ("A", 2),
        ("B", 1),
    ]
    assert rows(container, "SELECT status FROM orders") == [("returned",)]
    assert rows(container, "SELECT count(*) FROM order_returns") == [(2,)]
    statuses = rows(container, "SELECT status FROM order_status_history ORDER BY changed_at")
    assert statuses == [("paid",), ("returned",)]


def test_refund_arriving_before_the_order_still_counts(container: Container) -> None:
    apply(
        container,
        track(W, 7, "Order Refunded", {"order_id": "o-1", "products": [{"sku": "B"}]}, minute=9),
    )
    apply(container, track(W, 7, "Order Completed", ORDER, minute=1))
    assert rows(container, "SELECT sku, returned_quantity FROM order_items ORDER BY 1") == [
        ("A", 0),
        ("B", 1),
    ]


def test_status_lifecycle_never_moves_backwards(container: Container) -> None:
    apply(container, track(W, 7, "Order Completed", ORDER))
    apply(
        container, track(W, 7, "Order Updated", {"order_id": "o-1", "status": "shipped"}, minute=1)
    )
    apply(container, track(W, 7, "Order Updated", {"order_id": "o-1", "status": "paid"}, minute=2))
    assert rows(container, "SELECT status FROM orders") == [("shipped",)]
    apply(container, track(W, 7, "Order Cancelled", {"order_id": "o-1"}, minute=3))
    assert rows(container, "SELECT status FROM orders") == [("shipped",)]  # shipped: return it
    apply(container, track(W, 7, "Order Completed", {**ORDER, "order_id": "o-2"}, minute=4))
    apply(container, track(W, 7, "Order Cancelled", {"order_id": "o-2"}, minute=5))
    found = rows(container, "SELECT order_id, status FROM orders ORDER BY 1")
    assert found == [("o-1", "shipped"), ("o-2", "cancelled")]
    history = rows(
        container, "SELECT order_id, status FROM order_status_history ORDER BY changed_at"
    )
    assert history == [("o-1", "paid"), ("o-1", "shipped"), ("o-2", "paid"), ("o-2", "cancelled")]


def test_order_updated_changes_fields_and_replaces_items(container: Container) -> None:
    apply(container, track(W, 7, "Order Completed", ORDER))
    update = {"order_id": "o-1", "total": 12, "products": [{"sku": "C", "price": 12}]}
    apply(container, track(W, 7, "Order Updated", update, minute=1))
    assert rows(container, "SELECT total, revenue FROM orders") == [
        (Decimal("12.00"), Decimal("25.00"))
    ]
    assert rows(container, "SELECT sku FROM order_items") == [("C",)]


def test_offline_orders_keep_channel_and_store_and_leave_the_web_cart(
    container: Container,
) -> None:
    apply(container, track(W, 7, "Product Added", {"sku": "A"}))
    store = {"order_id": "s-1", "total": 5, "channel": "store", "store_id": "kyiv-3"}
    call = {"order_id": "c-1", "total": 5, "channel": "call_center"}
    apply(
        container,
        track(W, 7, "Order Completed", store, minute=1),
        track(W, 7, "Order Completed", call, minute=2),
        track(W, 7, "Store Visit", {"store_id": "kyiv-3"}, minute=3),
    )
    found = rows(container, "SELECT order_id, channel, store_id FROM orders ORDER BY 1")
    assert found == [("c-1", "call_centre", None), ("s-1", "offline", "kyiv-3")]
    assert rows(container, "SELECT status FROM carts") == [("open",)]


def test_event_catalog_fields_fill_gaps_but_never_overwrite_the_feed(
    container: Container,
) -> None:
    feed = pa.table({"sku": ["A"], "name": ["Feed name"], "price": [99.0]})
    container.db.write(lambda c: container.commerce.upsert_products(c, W, feed))
    apply(
        container,
        track(W, 1, "Product Viewed", {"sku": "A", "name": "Old", "price": 5, "brand": "Acme"}),
        track(
            W, 1, "Product Viewed", {"sku": "N", "name": "New one", "price": 7, "category": "Hats"}
        ),
    )
    found = rows(
        container,
        "SELECT sku, name, price, brand, category_path, source FROM products ORDER BY sku",
    )
    assert found == [
        ("A", "Feed name", Decimal("99.00"), "Acme", None, "feed"),
        ("N", "New one", Decimal("7.00"), None, ["Hats"], "event"),
    ]
    apply(container, track(W, 1, "Product Viewed", {"sku": "N", "name": "Renamed"}, minute=5))
    apply(container, track(W, 1, "Product Viewed", {"sku": "N", "name": "Stale"}, minute=-5))
    assert rows(container, "SELECT name FROM products WHERE sku = 'N'") == [("Renamed",)]


def test_repeated_catalog_fields_write_nothing_but_changes_still_land(
    container: Container,
) -> None:
    """Events that repeat the stored product are filtered out before the upsert; a new sku,
    a newer change and a gap to fill in the same unit are still written."""
    apply(container, track(W, 1, "Product Viewed", {"sku": "N", "name": "One", "price": 7}))
    before = rows(container, "SELECT updated_at FROM products WHERE sku = 'N'")
    apply(
        container,
        track(W, 1, "Product Viewed", {"sku": "N", "name": "One", "price": 7}, minute=5),
    )
    assert rows(container, "SELECT updated_at FROM products WHERE sku = 'N'") == before
    apply(
        container,
        track(W, 1, "Product Viewed", {"sku": "N", "name": "One", "brand": "Acme"}, minute=6),
        track(W, 2, "Product Viewed", {"sku": "M", "name": "Two"}, minute=6),
    )
    assert rows(container, "SELECT sku, name, price, brand FROM products ORDER BY sku") == [
        ("M", "Two", None, None),
        ("N", "One", Decimal("7.00"), "Acme"),
    ]


def test_new_and_stored_products_of_one_unit_take_the_insert_and_the_update(
    container: Container,
) -> None:
    """New skus are inserted and stored ones updated (list column included) in one unit."""
    apply(container, track(W, 1, "Product Viewed", {"sku": "N", "category": "Hats"}))
    apply(
        container,
        track(W, 1, "Product Viewed", {"sku": "N", "category": "Caps > Winter"}, minute=5),
        track(W, 1, "Product Viewed", {"sku": "O", "category": "Caps", "price": 3}, minute=5),
    )
    assert rows(container, "SELECT sku, category_path, price FROM products ORDER BY sku") == [
        ("N", ["Caps", "Winter"], None),
        ("O", ["Caps"], Decimal("3.00")),
    ]
    assert rows(container, "SELECT count(*) FROM products WHERE updated_at = created_at") == [(1,)]


def test_an_item_with_only_its_sku_creates_no_product(container: Container) -> None:
    """Segment's ``Product Removed`` (or an add) carrying only a sku says nothing about the
    product: no empty product is created, a stored one keeps its fields and time, and a
    later event with catalog fields creates it as usual."""
    apply(container, track(W, 1, "Product Viewed", {"sku": "S", "name": "Sock"}))
    before = rows(container, "SELECT sku, name, updated_at FROM products")
    apply(
        container,
        track(W, 1, "Product Added", {"sku": "E", "quantity": 2}, minute=1),
        track(W, 1, "Product Removed", {"sku": "E"}, minute=2),
        track(W, 1, "Product Removed", {"sku": "S"}, minute=2),
        track(W, 1, "Cart Viewed", {"products": [{"product_id": "F", "quantity": 1}]}, minute=3),
    )
    assert rows(container, "SELECT sku, name, updated_at FROM products") == before
    live = "SELECT sku, quantity FROM cart_items WHERE quantity > 0 ORDER BY sku"
    assert rows(container, live) == [("F", 1)]  # the cart still changed
    apply(container, track(W, 1, "Product Removed", {"sku": "E", "name": "Egg"}, minute=4))
    assert rows(container, "SELECT sku, name FROM products ORDER BY sku") == [
        ("E", "Egg"),
        ("S", "Sock"),
    ]


def count_product_statements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the applier runs a product check or update."""
    from retenta.commerce import apply as commerce_apply

    checks: list[int] = []
    real = commerce_apply.run

    def counting(conn: Any, sql: str, params: Any = None, **tables: Any) -> Any:
        if sql == commerce_apply.CHANGING_PRODUCTS_SQL or sql.startswith("UPDATE products"):
            checks.append(1)
        return real(conn, sql, params, **tables)

    monkeypatch.setattr(commerce_apply, "run", counting)
    return checks


def test_repeated_event_products_are_remembered_and_changes_still_land(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row found equal to the stored product is remembered: its repeats need no query;
    a changed value, or a feed write in between, goes back to SQL."""
    checks = count_product_statements(monkeypatch)
    viewed = {"sku": "N", "name": "One", "price": 7, "category": "Hats"}
    apply(container, track(W, 1, "Product Viewed", viewed))
    apply(container, track(W, 1, "Product Viewed", viewed, minute=1))  # found equal
    checks.clear()
    apply(container, track(W, 1, "Product Viewed", viewed, minute=2))
    apply(container, track(W, 1, "Product Viewed", {"sku": "N", "name": "One"}, minute=3))
    assert checks == []
    apply(container, track(W, 1, "Product Viewed", {**viewed, "name": "Two"}, minute=4))
    assert checks == [1]
    assert rows(container, "SELECT name FROM products WHERE sku = 'N'") == [("Two",)]
    apply(container, track(W, 1, "Product Viewed", {**viewed, "name": "One"}, minute=5))
    assert rows(container, "SELECT name FROM products WHERE sku = 'N'") == [("One",)]
    feed = pa.table({"sku": ["N"], "name": ["Feed name"]})
    container.db.write(lambda c: container.commerce.upsert_products(c, W, feed))
    apply(container, track(W, 1, "Product Viewed", {**viewed, "name": "One"}, minute=6))
    assert rows(container, "SELECT name FROM products WHERE sku = 'N'") == [("Feed name",)]


def test_the_stored_product_is_remembered_not_only_the_event_row(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view without a currency, found not worth writing, remembers the stored product
    (currency included): a later row that repeats any of its fields needs no query, and one
    that changes it goes straight to the guarded update."""
    from retenta.commerce import apply as commerce_apply

    checks: list[str] = []
    real = commerce_apply.run

    def counting(conn: Any, sql: str, params: Any = None, **tables: Any) -> Any:
        if sql == commerce_apply.CHANGING_PRODUCTS_SQL:
            checks.append("join")
        elif sql.startswith("UPDATE products"):  # by the fields that may change
            checks.append("update")
        return real(conn, sql, params, **tables)

    monkeypatch.setattr(commerce_apply, "run", counting)
    full = {"sku": "C", "name": "Cap", "price": 9, "currency": "UAH", "brand": "Acme"}
    apply(container, track(W, 1, "Product Viewed", full))
    apply(container, track(W, 1, "Product Viewed", {"sku": "C", "name": "Cap"}, minute=1))
    checks.clear()
    apply(container, track(W, 1, "Product Viewed", {**full, "price": "9.00"}, minute=2))
    apply(container, track(W, 1, "Product Viewed", {"sku": "C", "brand": "Acme"}, minute=3))
    assert checks == []
    apply(container, track(W, 1, "Product Viewed", {"sku": "C", "url": "https://x/c"}, minute=4))
    assert checks == ["update"]  # a remembered product is stored: no join to find out
    assert rows(container, "SELECT name, price, currency, brand, url FROM products") == [
        ("Cap", Decimal("9.00"), "UAH", "Acme", "https://x/c")
    ]


def test_products_a_unit_wrote_need_no_query_once_it_committed_not_after_a_rollback(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a unit's insert or update left is remembered once the next unit's token proves
    the unit committed; a rolled-back unit's products are written again."""
    checks = count_product_statements(monkeypatch)
    pen = {"sku": "P", "name": "Pen", "price": 3, "brand": "B"}
    apply(container, track(W, 1, "Product Viewed", pen))  # inserted
    apply(container, track(W, 1, "Product Viewed", {"sku": "P", "currency": "UAH"}, minute=1))
    checks.clear()
    apply(container, track(W, 1, "Product Viewed", {**pen, "currency": "UAH"}, minute=2))
    assert checks == []

    quill = {"sku": "Q", "name": "Quill"}

    def rolled_back(conn: Any) -> None:
        container.commerce.apply(conn, [track(W, 1, "Product Viewed", quill, minute=3)])
        raise RuntimeError("the unit fails after apply")

    with pytest.raises(RuntimeError):
        container.db.write(rolled_back)
    apply(container, track(W, 1, "Product Viewed", quill, minute=4))
    assert rows(container, "SELECT sku, name, currency FROM products ORDER BY sku") == [
        ("P", "Pen", "UAH"),
        ("Q", "Quill", None),
    ]


def test_searches_wishlists_and_coupons(container: Container) -> None:
    apply(container, track(W, 7, "Order Completed", ORDER))
    apply(
        container,
        track(W, 7, "Products Searched", {"query": "red shoes"}, minute=1),
        track(W, 7, "Product Added to Wishlist", {"sku": "A", "wishlist_name": "Gifts"}, minute=1),
        track(W, 7, "Product Added to Wishlist", {"sku": "B"}, minute=2),
        track(W, 7, "Product Removed from Wishlist", {"sku": "B"}, minute=3),
        track(W, 7, "Coupon Applied", {"order_id": "o-1", "coupon_name": "SPRING"}, minute=4),
    )
    assert rows(container, "SELECT contact_id, query FROM searches") == [(7, "red shoes")]
    assert rows(container, "SELECT wishlist, sku FROM wishlist_items") == [("Gifts", "A")]
    assert rows(container, "SELECT coupon FROM orders") == [("SPRING",)]


def test_batch_without_ecommerce_events_writes_nothing(container: Container) -> None:
    apply(
        container,
        track(W, 1, "Signed Up", {"sku": "A"}),
        track(W, 1, "Order Completed", {"total": 3}),  # no order_id: nothing to key an order on
    )
    for table in ("products", "orders", "carts", "searches"):
        assert rows(container, f"SELECT count(*) FROM {table}") == [(0,)]


def test_workspaces_do_not_share_entities(container: Container) -> None:
    apply(
        container,
        track("ws-a", 1, "Order Completed", ORDER),
        track("ws-b", 2, "Order Completed", {**ORDER, "total": 1}),
    )
    found = rows(container, "SELECT workspace_id, contact_id, total FROM orders ORDER BY 1")
    assert found == [("ws-a", 1, Decimal("30.00")), ("ws-b", 2, Decimal("1.00"))]
    assert rows(container, "SELECT count(*) FROM products") == [(4,)]


def test_apply_leaves_the_collector_as_it_found_it_even_when_a_unit_fails(
    container: Container,
) -> None:
    """``apply`` turns the cyclic GC off for its own run only (session 9)."""
    assert gc.isenabled()
    apply(container, track(W, 1, "Product Added", {"sku": "A"}))
    assert gc.isenabled()
    gc.disable()
    try:
        apply(container, track(W, 1, "Product Added", {"sku": "B"}, minute=1))
        assert not gc.isenabled()  # a caller that had it off (identity's resolve) keeps it off
    finally:
        gc.enable()
    bad = track(W, 1, "Order Completed", {"order_id": "o-9", "total": 1}, minute=2)
    bad.contact_id = "not a contact id"  # type: ignore[assignment]
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever DuckDB or Arrow raises
        apply(container, bad)
    assert gc.isenabled()


def test_events_named_in_any_spelling_apply_in_event_time_not_batch_order(
    container: Container,
) -> None:
    apply(
        container,
        track(W, 1, "product_removed", {"sku": "A"}, minute=2),
        track(W, 1, "Page Viewed", {"sku": "Z", "name": "Zip"}, minute=0),
        track(W, 1, "PRODUCT ADDED", {"sku": "A", "quantity": 2, "name": "Ace"}, minute=1),
        track(W, 1, "Product  Added", {"sku": "B", "name": "Bee"}, minute=3),
    )
    live = "SELECT sku, quantity FROM cart_items ORDER BY sku"
    assert rows(container, live) == [("A", 0), ("B", 1)]
    assert rows(container, "SELECT sku FROM products ORDER BY sku") == [("A",), ("B",)]
