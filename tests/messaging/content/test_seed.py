"""The demo content: every seeded message renders in every language on every channel."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.content import for_database
from retenta.messaging.content.seed import LANGUAGES, seed_content
from tests.conftest import Workspace

ORDER = {"order_id": "A-17", "total": 57.5, "currency": "EUR",
         "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "price": 12.5}]}  # fmt: skip
BAG = {"sku": "BAG", "name": "Backpack", "price": 45.5, "currency": "EUR",
       "url": "https://shop.example/p/bag", "image_url": "https://shop.example/b.png"}  # fmt: skip
CART = {"total": 45.5, "currency": "EUR", "url": "https://shop.example/cart", "items": [BAG]}


def test_seeded_messages_render_everywhere(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seeded = asyncio.run(seed_content(for_database(container.db), ws.id))
    assert set(seeded["blocks"]) == {"header", "footer", "grid", "promo"}
    footer = client.get(f"/api/v1/blocks/{seeded['blocks']['footer']}/used-by",
                        headers=ws.api_headers).json()["items"]  # fmt: skip
    assert {u["name"] for u in footer} == {"New arrivals", "Abandoned cart"}
    for name, message_id in seeded["messages"].items():
        message = client.get(f"/api/v1/messages/{message_id}", headers=ws.api_headers).json()
        for channel in message["channels"]:
            for language in LANGUAGES:
                r = client.post(
                    f"/api/v1/messages/{message_id}/preview", headers=ws.api_headers,
                    json={"channel": channel, "language": language,
                          "variables": {"order": ORDER, "cart": CART}},
                )  # fmt: skip
                preview = r.json()
                assert preview["errors"] == [], (name, channel, language, preview["errors"])
                assert preview["language"] == language
                assert preview["text"], (name, channel, language)
    cart = client.post(f"/api/v1/messages/{seeded['messages']['Abandoned cart']}/preview",
                       headers=ws.api_headers,
                       json={"language": "uk", "variables": {"cart": CART}}).json()  # fmt: skip
    assert "Backpack" in cart["html"]
    assert "WELCOME10" in cart["html"]
