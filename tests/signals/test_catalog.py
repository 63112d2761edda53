"""Price drops and restocks become per-contact events through ingestion: for the open carts,
wishlists and recent views of the product, once each, and they start the ready scenarios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tests.journeys.scenarios.helpers import Store


def _rows(store: Store, event: str, sku: str) -> list[tuple[int, dict[str, Any]]]:
    with store.container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, properties FROM all_events WHERE workspace_id = ? AND event = ?"
            " AND properties->>'sku' = ?",
            [store.ws.id, event, sku],
        ).fetchall()
    return [(int(c), orjson.loads(p)) for c, p in rows]


def _events(store: Store, event: str, sku: str) -> dict[int, dict[str, Any]]:
    """The contacts' events about ``sku``, asserting one each (the first change of it)."""
    rows = _rows(store, event, sku)
    found = dict(rows)
    assert len(found) == len(rows), "one event per contact and change"
    return found


def _open_cart_holders(store: Store, sku: str) -> set[int]:
    with store.container.db.read() as cur:
        rows = cur.execute(
            "SELECT DISTINCT c.contact_id FROM current_cart_items i JOIN current_carts c"
            " USING (workspace_id, cart_id) WHERE i.workspace_id = ? AND i.sku = ?"
            " AND c.status = 'open' AND i.quantity > 0",
            [store.ws.id, sku],
        ).fetchall()
    return {int(r[0]) for r in rows}


def _cart_sku(store: Store, nth: int = 0) -> tuple[str, float]:
    """A product in some demo contact's open cart (the ``nth`` by sku), with its price, that
    no demo contact has on a wishlist or viewed in the last 30 days: the tests' expected
    audiences are then exactly the cart holders and the people they add. (The demo's
    history is generated relative to the clock, so whether one of its views fell inside the
    signals' 14-day window depended on when the test ran: at 2026-11-29 00:05 UTC a demo
    contact outside the expected set got a Back In Stock.)"""
    since = datetime.now(UTC) - timedelta(days=30)
    with store.container.db.read() as cur:
        sku, price = cur.execute(
            "SELECT DISTINCT i.sku, p.price FROM current_cart_items i JOIN current_carts c USING"
            " (workspace_id, cart_id) JOIN products p ON p.workspace_id = i.workspace_id AND"
            " p.sku = i.sku WHERE i.workspace_id = ? AND c.status = 'open' AND i.quantity > 0"
            " AND i.sku NOT IN (SELECT sku FROM wishlist_items WHERE workspace_id = ?)"
            " AND i.sku NOT IN (SELECT coalesce(properties->>'sku', properties->>'product_id')"
            "  FROM all_events WHERE workspace_id = ? AND event = 'Product Viewed'"
            "  AND timestamp >= ?"
            "  AND coalesce(properties->>'sku', properties->>'product_id') IS NOT NULL)"
            " ORDER BY i.sku LIMIT 1 OFFSET ?",
            [store.ws.id, store.ws.id, store.ws.id, since, nth],
        ).fetchone()
    return str(sku), float(price)


def test_a_price_drop_reaches_carts_wishlists_and_recent_viewers(store: Store) -> None:
    made = store.instantiate("price_drop")
    sku, price = _cart_sku(store)
    viewer, buyer, wisher, stranger = (store.person(n) for n in ("viewer", "buyer", "wisher",
                                                                  "stranger"))  # fmt: skip
    product = {"sku": sku, "product_id": sku, "name": "Tea", "price": price}
    for user in (viewer, buyer):
        store.track(user, "Product Viewed", product)
    store.order(buyer, f"o-{buyer}", datetime.now(UTC), (sku, price))  # bought after viewing
    store.track(wisher, "Product Added to Wishlist", product)
    store.track(stranger, "Product Viewed", {**product, "sku": "SKU-OTHER", "product_id": "x"})
    store.products({"sku": sku, "price": round(price * 0.8, 2)})
    report = store.signals(datetime.now(UTC) + timedelta(seconds=1), daily=False)
    got = _events(store, "Price Dropped", sku)
    expected = _open_cart_holders(store, sku) | {store.contact(viewer), store.contact(wisher)}
    assert set(got) == expected
    assert report.catalog_signals == len(expected)
    assert got[store.contact(viewer)]["reason"] == "viewed"
    assert got[store.contact(wisher)]["reason"] == "wishlist"
    one = got[store.contact(viewer)]
    assert one["old_price"] == price
    assert one["price"] == round(price * 0.8, 2)
    assert one["drop_percent"] == 20.0
    assert one["products"][0]["sku"] == sku
    store.tick(datetime.now(UTC) + timedelta(seconds=2))
    assert store.entered(made["journey"]["id"]) == expected
    assert {s[0] for s in store.sends(made["journey"]["id"])} == expected


def test_a_pass_twice_or_replayed_emits_nothing_new(store: Store) -> None:
    sku, price = _cart_sku(store)
    store.products({"sku": sku, "price": round(price * 0.5, 2)})
    later = datetime.now(UTC) + timedelta(seconds=1)
    first = store.signals(later, daily=False)
    assert first.catalog_signals > 0
    assert store.signals(later, daily=False).catalog_changes == 0  # the cursor moved
    store.container.db.write(lambda c: c.execute("DELETE FROM signal_state"))  # lost cursor
    replay = store.signals(later, daily=False)
    assert replay.catalog_changes > 0
    assert replay.catalog_signals == 0


def test_a_price_rise_is_no_signal(store: Store) -> None:
    sku, price = _cart_sku(store)
    before = len(_rows(store, "Price Dropped", sku))
    store.products({"sku": sku, "price": round(price * 3, 2)})
    assert store.signals(datetime.now(UTC) + timedelta(seconds=1), daily=False).catalog_signals == 0
    assert len(_rows(store, "Price Dropped", sku)) == before


def test_back_in_stock_reaches_the_cart_and_starts_the_scenario(store: Store) -> None:
    made = store.instantiate("back_in_stock", {"reasons": "cart"})
    sku, _ = _cart_sku(store, nth=1)  # a product no earlier test touched
    viewer = store.person("viewer")
    store.track(viewer, "Product Viewed", {"sku": sku, "product_id": sku, "name": "Tea"})
    store.products({"sku": sku, "stock": 0, "in_stock": False})
    assert store.signals(datetime.now(UTC) + timedelta(seconds=1), daily=False).catalog_signals == 0
    store.products({"sku": sku, "stock": 5, "in_stock": True})
    store.signals(datetime.now(UTC) + timedelta(seconds=1), daily=False)
    got = _events(store, "Back In Stock", sku)
    holders = _open_cart_holders(store, sku)
    assert set(got) == holders | {store.contact(viewer)}
    store.tick(datetime.now(UTC) + timedelta(seconds=2))
    assert store.entered(made["journey"]["id"]) == holders  # the scenario asked for carts only
