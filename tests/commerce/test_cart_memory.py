"""Carts on the hot path: change rows plus the writer's memory of open carts.

The writer appends cart changes to ``cart_changes`` and remembers every open cart; these
tests read through the ``current_*`` views *without* folding the changes first, and check
that a rolled-back unit of work leaves nothing behind in the writer's memory."""

from __future__ import annotations

from typing import Any

import pytest

from retenta.app import Container
from tests.commerce.helpers import apply, rows, track

W = "ws-a"
LIVE = (
    "SELECT i.sku, i.quantity FROM current_cart_items i JOIN current_carts c USING"
    " (workspace_id, cart_id) WHERE c.status = 'open' AND i.quantity > 0 ORDER BY i.sku"
)


def current(container: Container, sql: str) -> list[tuple[Any, ...]]:
    """Read without folding ``cart_changes`` into the tables."""
    with container.db.read() as cur:
        return list(cur.execute(sql).fetchall())


def added(sku: str, minute: int, contact: int = 1) -> Any:
    return track(W, contact, "Product Added", {"sku": sku}, minute=minute)


class Boom(Exception):
    pass


def rolled_back(container: Container, *messages: Any) -> None:
    def work(conn: Any) -> None:
        container.commerce.apply(conn, list(messages))
        raise Boom

    with pytest.raises(Boom):
        container.db.write(work)


def test_views_show_the_cart_before_the_changes_are_folded(container: Container) -> None:
    apply(container, added("A", 0), added("B", 1))
    apply(container, track(W, 1, "Product Removed", {"sku": "A"}, minute=2))
    assert current(container, "SELECT count(*) FROM cart_changes")[0][0] > 0
    assert current(container, LIVE) == [("B", 1)]
    cart = container.commerce.contact_cart(workspace_id=W, contact_ids=[1])["cart"]
    assert [i["sku"] for i in cart["items"]] == ["B"]
    assert rows(container, "SELECT sku, quantity FROM cart_items ORDER BY sku") == [
        ("A", 0),
        ("B", 1),
    ]
    assert current(container, "SELECT count(*) FROM cart_changes")[0][0] == 0
    assert current(container, LIVE) == [("B", 1)]


def test_a_rolled_back_unit_leaves_nothing_in_the_writers_memory(container: Container) -> None:
    apply(container, added("A", 0))
    rolled_back(container, added("A", 1), added("B", 2))
    apply(container, track(W, 1, "Product Removed", {"sku": "A", "quantity": 1}, minute=3))
    assert current(container, LIVE) == []
    assert current(container, "SELECT status FROM current_carts") == [("emptied",)]
    apply(container, added("C", 4))
    assert current(container, LIVE) == [("C", 1)]
    assert current(container, "SELECT count(*) FROM current_carts")[0][0] == 2


def test_a_rolled_back_conversion_keeps_the_cart_open(container: Container) -> None:
    apply(container, added("A", 0))
    order = {"order_id": "o-1", "products": [{"sku": "A", "price": 5}]}
    rolled_back(container, track(W, 1, "Order Completed", order, minute=1))
    apply(container, added("B", 2))
    assert current(container, LIVE) == [("A", 1), ("B", 1)]
    assert current(container, "SELECT status FROM current_carts") == [("open",)]


def test_two_applies_in_one_unit_build_on_each_other(container: Container) -> None:
    def work(conn: Any) -> None:
        container.commerce.apply(conn, [added("A", 0)])
        container.commerce.apply(conn, [added("A", 1), added("B", 2)])

    container.db.write(work)
    apply(container, added("C", 3))
    assert current(container, LIVE) == [("A", 2), ("B", 1), ("C", 1)]


def test_a_restarted_writer_continues_the_stored_carts(settings: Any) -> None:
    from retenta.app import build_container

    first = build_container(settings)
    try:
        apply(first, added("A", 0))
    finally:
        first.close()
    second = build_container(settings)
    try:
        apply(second, added("B", 1))
        assert current(second, LIVE) == [("A", 1), ("B", 1)]
        assert current(second, "SELECT count(*) FROM current_carts")[0][0] == 1
    finally:
        second.close()
