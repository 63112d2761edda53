"""Abandoned cart, browse and search, and the wishlist reminder, firing on a demo store:
the shopper who walked away gets the messages; the one who bought does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.journeys.scenarios.helpers import Store

MUG = {"sku": "SKU-000001", "product_id": "SKU-000001", "name": "Mug", "price": 250,
       "currency": "UAH", "url": "https://shop.example.com/mug", "quantity": 1}  # fmt: skip


def test_abandoned_cart_reminds_who_left_and_spares_the_buyer(store: Store) -> None:
    made = store.instantiate("abandoned_cart", {"start_event": "Checkout Started"})
    jid = made["journey"]["id"]
    assert set(made["messages"]) == {"reminder", "last_call"}
    ann, bob = store.person("ann"), store.person("bob")
    for user in (ann, bob):
        store.track(user, "Checkout Started", {"total": 250, "products": [MUG]})
    now = datetime.now(UTC)
    store.tick(now)
    store.track(bob, "Order Completed", {"order_id": f"o-{bob}", "total": 250,
                                         "products": [MUG]})  # fmt: skip
    store.tick(now + timedelta(minutes=5))
    assert store.run_states(jid, store.contact(bob)) == ["done"]  # bought: left at once
    store.tick(now + timedelta(hours=1, minutes=1))
    first = store.sends(jid)
    assert [(s[0], s[1]) for s in first] == [(store.contact(ann), made["messages"]["reminder"])]
    assert first[0][4] is not None
    assert '"Mug"' in first[0][4]
    store.tick(now + timedelta(hours=25, minutes=2))
    assert [s[1] for s in store.sends(jid, store.contact(ann))] == [
        made["messages"]["reminder"], made["messages"]["last_call"]]  # fmt: skip
    assert store.sends(jid, store.contact(bob)) == []
    assert store.entered(jid) == {store.contact(ann), store.contact(bob)}  # no demo contact


def test_abandoned_browse_skips_whoever_added_it_to_the_cart(store: Store) -> None:
    made = store.instantiate("abandoned_browse", {"delay_hours": 2, "min_price": 100})
    jid = made["journey"]["id"]
    cat, dan, eve = store.person("cat"), store.person("dan"), store.person("eve")
    for user in (cat, dan):
        store.track(user, "Product Viewed", MUG)
    store.track(eve, "Product Viewed", {**MUG, "price": 50})  # below the price filter
    now = datetime.now(UTC)
    store.tick(now)
    store.track(dan, "Product Added", MUG)
    store.tick(now + timedelta(hours=2, minutes=1))
    sent = store.sends(jid)
    assert [(s[0], s[1]) for s in sent] == [(store.contact(cat), made["messages"]["reminder"])]
    assert store.contact(eve) not in store.entered(jid)


def test_abandoned_search_names_the_query(store: Store) -> None:
    made = store.instantiate("abandoned_search", {"store_url": "https://tea.example.com"})
    jid = made["journey"]["id"]
    fay, gus = store.person("fay"), store.person("gus")
    for user in (fay, gus):
        store.track(user, "Products Searched", {"query": "green tea"})
    now = datetime.now(UTC)
    store.tick(now)
    store.track(gus, "Order Completed", {"order_id": f"o-{gus}", "total": 99})
    store.tick(now + timedelta(hours=1, minutes=1))
    sent = store.sends(jid)
    assert [s[0] for s in sent] == [store.contact(fay)]
    assert "green tea" in sent[0][4]
    message = store.client.get(f"/api/v1/messages/{made['messages']['reminder']}",
                               headers=store.ws.api_headers).json()  # fmt: skip
    assert "tea.example.com/search" in str(message["channels"]["email"]["body"])


def test_wishlist_reminder_after_days_unless_bought(store: Store) -> None:
    made = store.instantiate("wishlist", {"delay_days": 3})
    jid = made["journey"]["id"]
    hal, ivy = store.person("hal"), store.person("ivy")
    for user in (hal, ivy):
        store.track(user, "Product Added to Wishlist", MUG)
    now = datetime.now(UTC)
    store.tick(now)
    store.track(ivy, "Order Completed", {"order_id": f"o-{ivy}", "total": 250})
    store.tick(now + timedelta(days=1))
    store.tick(now + timedelta(days=3, minutes=1))
    assert [s[0] for s in store.sends(jid)] == [store.contact(hal)]
    assert store.run_states(jid, store.contact(ivy)) == ["done"]
