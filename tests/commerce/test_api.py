"""The commerce HTTP API on the real app: catalog, orders, a contact's commerce."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.commerce.helpers import apply, make_contact, track
from tests.conftest import Workspace


def put_products(client: TestClient, ws: Workspace, items: list[dict[str, Any]]) -> Any:
    return client.put("/api/v1/catalog/products", json={"products": items}, headers=ws.api_headers)


def post_orders(client: TestClient, ws: Workspace, orders: list[dict[str, Any]]) -> Any:
    return client.post("/api/v1/orders", json={"orders": orders}, headers=ws.api_headers)


SNEAKER = {
    "sku": "SNK-1",
    "name": "Runner",
    "url": "https://shop.example/snk-1",
    "image_url": "https://shop.example/snk-1.jpg",
    "price": "59.90",
    "currency": "eur",
    "stock": 0,
    "category_path": "Women > Shoes > Sneakers",
    "brand": "Acme",
    "attributes": {"colour": "white"},
}


def test_catalog_upsert_read_and_price_history(client: TestClient, ws: Workspace) -> None:
    created = put_products(client, ws, [SNEAKER, {"sku": "HAT-1", "name": "Cap", "price": 10}])
    assert created.status_code == 200, created.text
    assert created.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "history": 0}
    again = put_products(client, ws, [{"sku": "SNK-1", "price": 49.9, "stock": 4}])
    assert again.json()["updated"] == 1
    got = client.get("/api/v1/catalog/products/SNK-1", headers=ws.api_headers).json()
    assert (got["name"], got["price"], got["in_stock"], got["currency"]) == (
        "Runner", 49.9, True, "EUR",
    )  # fmt: skip
    assert got["category_path"] == ["Women", "Shoes", "Sneakers"]
    changed = {(h["field"], h["old"], h["new"]) for h in got["history"]}
    assert changed == {
        ("price", "59.90", "49.90"),
        ("stock", "0", "4"),
        ("in_stock", "false", "true"),
    }


def test_catalog_search_filters_and_pages(client: TestClient, ws: Workspace) -> None:
    items = [{"sku": f"S{i:02}", "name": f"Shoe {i}", "brand": "Acme" if i % 2 else "Zed",
              "category_path": ["Shoes"]} for i in range(5)]  # fmt: skip
    put_products(client, ws, [*items, {"sku": "HAT", "name": "Hat", "category_path": ["Hats"]}])
    page = client.get(
        "/api/v1/catalog/products?q=shoe&brand=acme&limit=1", headers=ws.api_headers
    ).json()
    assert [p["sku"] for p in page["items"]] == ["S01"]
    rest = client.get(
        f"/api/v1/catalog/products?q=shoe&brand=acme&cursor={page['next_cursor']}",
        headers=ws.api_headers,
    ).json()
    assert [p["sku"] for p in rest["items"]] == ["S03"]
    assert rest["next_cursor"] is None
    hats = client.get("/api/v1/catalog/products?category=hats", headers=ws.api_headers).json()
    assert [p["sku"] for p in hats["items"]] == ["HAT"]


def test_catalog_errors_name_the_item_and_field(client: TestClient, ws: Workspace) -> None:
    bad = put_products(client, ws, [SNEAKER, {"sku": "X", "price": "cheap"}])
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "products[1].price"
    unknown = put_products(client, ws, [{"sku": "X", "colour": "red"}])
    assert unknown.json()["error"]["field"] == "products[0].colour"
    assert client.get("/api/v1/catalog/products/X", headers=ws.api_headers).status_code == 404
    assert client.get("/api/v1/catalog/products/SNK-1", headers=ws.api_headers).status_code == 404


def order_body(contact_id: int, order_id: str = "A-1", **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "contact_id": contact_id,
        "placed_at": "2026-02-01T10:00:00Z",
        "items": [{"sku": "SNK-1", "price": "59.90", "quantity": 2}, {"sku": "HAT", "price": 10}],
        **extra,
    }


def test_orders_upsert_get_and_idempotency(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    first = post_orders(client, ws, [order_body(contact)])
    assert first.status_code == 200, first.text
    assert first.json()["orders"] == [{"order_id": "A-1", "contact_id": contact}]
    post_orders(client, ws, [order_body(contact)])
    order = client.get("/api/v1/orders/A-1", headers=ws.api_headers).json()
    assert (order["status"], order["total"], order["contact_id"]) == ("paid", 129.8, contact)
    assert [(i["line_no"], i["sku"], i["quantity"]) for i in order["items"]] == [
        (1, "SNK-1", 2),
        (2, "HAT", 1),
    ]
    assert [h["status"] for h in order["status_history"]] == ["paid"]


def test_order_status_moves_forward_only(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    post_orders(client, ws, [order_body(make_contact(container, ws.id))])
    url = "/api/v1/orders/A-1/status"
    shipped = client.post(url, json={"status": "shipped"}, headers=ws.api_headers)
    assert shipped.json()["status"] == "shipped"
    back = client.post(url, json={"status": "paid"}, headers=ws.api_headers)
    assert back.status_code == 409
    assert back.json()["error"]["field"] == "status"
    returned = client.post(url, json={"status": "returned"}, headers=ws.api_headers).json()
    assert [i["returned_quantity"] for i in returned["items"]] == [2, 1]
    assert [h["status"] for h in returned["status_history"]] == ["paid", "shipped", "returned"]
    bogus = client.post(url, json={"status": "lost"}, headers=ws.api_headers)
    assert bogus.status_code == 422
    assert bogus.json()["error"]["field"] == "status"
    missing = client.post(
        "/api/v1/orders/nope/status", json={"status": "paid"}, headers=ws.api_headers
    )
    assert missing.status_code == 404


def test_order_input_errors_are_clear(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    no_who = post_orders(client, ws, [{"order_id": "X", "items": []}])
    assert no_who.status_code == 422
    assert no_who.json()["error"]["field"] == "orders[0]"
    bad_qty = order_body(contact)
    bad_qty["items"][1]["quantity"] = 0
    resp = post_orders(client, ws, [bad_qty])
    assert resp.json()["error"]["field"] == "orders[0].items[1].quantity"
    stranger = post_orders(client, ws, [order_body(999_999)])
    assert stranger.status_code == 422
    assert stranger.json()["error"]["field"] == "orders[0].contact_id"


def test_contact_orders_cart_and_wishlist_include_merged_contacts(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    winner = make_contact(container, ws.id)
    loser = make_contact(container, ws.id, merged_into=winner)
    put_products(client, ws, [SNEAKER])
    post_orders(client, ws, [order_body(loser, "OLD-1")])
    post_orders(client, ws, [order_body(winner, "NEW-1", placed_at="2026-03-01T10:00:00Z")])
    apply(
        container,
        track(ws.id, loser, "Product Added to Wishlist", {"sku": "SNK-1"}),
        track(ws.id, winner, "Product Added", {"sku": "SNK-1", "quantity": 2}),
    )
    base = f"/api/v1/contacts/{winner}"
    orders = client.get(f"{base}/orders?limit=1", headers=ws.api_headers).json()
    assert [o["order_id"] for o in orders["items"]] == ["NEW-1"]
    older = client.get(f"{base}/orders?cursor={orders['next_cursor']}", headers=ws.api_headers)
    assert [o["order_id"] for o in older.json()["items"]] == ["OLD-1"]
    cart = client.get(f"{base}/cart", headers=ws.api_headers).json()["cart"]
    assert [(i["sku"], i["quantity"], i["name"]) for i in cart["items"]] == [("SNK-1", 2, "Runner")]
    assert cart["value"] == 119.8
    wishlist = client.get(f"{base}/wishlist", headers=ws.api_headers).json()["items"]
    assert [(w["sku"], w["name"]) for w in wishlist] == [("SNK-1", "Runner")]


def test_workspaces_are_isolated(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    put_products(client, ws, [SNEAKER])
    post_orders(client, ws, [order_body(contact)])
    h = other_ws.api_headers
    assert client.get("/api/v1/catalog/products/SNK-1", headers=h).status_code == 404
    assert client.get("/api/v1/catalog/products", headers=h).json()["items"] == []
    assert client.get("/api/v1/orders/A-1", headers=h).status_code == 404
    assert (
        client.post("/api/v1/orders/A-1/status", json={"status": "shipped"}, headers=h).status_code
        == 404
    )
    assert client.get(f"/api/v1/contacts/{contact}/orders", headers=h).status_code == 404
    # another workspace cannot file an order against this workspace's contact
    assert post_orders(client, other_ws, [order_body(contact, "B-1")]).status_code == 422
    assert client.get("/api/v1/catalog/products").status_code == 401


def test_orders_for_identifiers_find_or_create_the_contact(
    client: TestClient, ws: Workspace
) -> None:
    """Through the real identity and ingest: a new email creates one contact, reused after."""
    body = {"order_id": "E-1", "identifiers": {"email": "Ann@Example.com"}, "items": []}
    first = post_orders(client, ws, [body])
    assert first.status_code == 200, first.text
    contact = first.json()["orders"][0]["contact_id"]
    again = post_orders(
        client, ws, [{**body, "order_id": "E-2", "identifiers": {"email": "ann@example.com"}}]
    )
    assert again.json()["orders"][0]["contact_id"] == contact
    orders = client.get(f"/api/v1/contacts/{contact}/orders", headers=ws.api_headers).json()
    assert sorted(o["order_id"] for o in orders["items"]) == ["E-1", "E-2"]
    junk = post_orders(client, ws, [{**body, "identifiers": {"email": "not an email"}}])
    assert junk.status_code == 422
    assert junk.json()["error"]["field"] == "orders[0].identifiers"


def test_events_through_the_ingest_api_reach_the_entities(
    client: TestClient, ws: Workspace
) -> None:
    """End to end: Segment batch → ingest → identity → commerce.apply."""
    added = {"sku": "SNK-1", "price": 59.9, "name": "Runner"}
    completed = {"order_id": "W-1", "total": 59.9, "products": [{"sku": "SNK-1", "price": 59.9}]}
    batch = [
        {"type": "track", "userId": "u-1", "event": "Product Added", "messageId": "e1",
         "properties": added},
        {"type": "track", "userId": "u-1", "event": "Order Completed", "messageId": "e2",
         "properties": completed},
    ]  # fmt: skip
    for _ in range(2):  # a retried request is a no-op
        sent = client.post("/v1/batch", json={"batch": batch}, auth=ws.write_auth)
        assert sent.status_code == 200, sent.text
    order = client.get("/api/v1/orders/W-1", headers=ws.api_headers).json()
    assert (order["status"], order["total"]) == ("paid", 59.9)
    product = client.get("/api/v1/catalog/products/SNK-1", headers=ws.api_headers).json()
    assert (product["name"], product["source"]) == ("Runner", "event")
    cart = client.get(f"/api/v1/contacts/{order['contact_id']}/cart", headers=ws.api_headers)
    assert cart.json()["cart"] is None  # converted by the order
