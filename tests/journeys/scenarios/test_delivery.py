"""A ready scenario through the real send path: the abandoned-cart reminder leaves the
dispatcher for a local SMTP server in the contact's language, with her own cart's products
in the shared product-cards block and the one-click unsubscribe."""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.service import for_container
from retenta.messaging.services import for_container as messaging
from tests.conftest import Workspace
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, configure_email
from tests.messaging.smtp_peer import smtp_peer

TEAPOT = {"sku": "POT-1", "product_id": "POT-1", "name": "Чайник Кобальт", "price": 780,
          "currency": "UAH", "url": "https://shop.example.com/pot-1",
          "image_url": "https://shop.example.com/pot-1.jpg", "quantity": 1}  # fmt: skip


def html_of(raw: bytes) -> str:
    parsed: Message = email.message_from_bytes(raw)
    for part in parsed.walk():
        if part.get_content_type() == "text/html":
            payload: Any = part.get_payload(decode=True)
            return str(payload.decode(part.get_content_charset() or "utf-8"))
    raise AssertionError("no HTML part")


def test_abandoned_cart_email_reaches_smtp_with_her_cart(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    params = {"params": {"start_event": "Checkout Started"}}
    made = client.post("/api/v1/journey-templates/abandoned_cart/instantiate",
                       headers=ws.api_headers, json=params)  # fmt: skip
    journey_id = made.json()["journey"]["id"]
    client.post(f"/api/v1/journeys/{journey_id}/activate", headers=ws.api_headers)
    person = {"identifiers": {"external_id": "olena", "email": "olena@example.com"},
              "language": "uk", "attributes": {"first_name": "Олена"},
              "consents": [{"channel": "email", "topic": "*", "status": "subscribed"}]}  # fmt: skip
    assert client.post("/api/v1/contacts", headers=ws.api_headers, json=person).status_code in (
        200, 201)  # fmt: skip
    cart = {"userId": "olena", "event": "Checkout Started",
            "properties": {"total": 780, "products": [TEAPOT]}}  # fmt: skip
    assert client.post("/v1/track", json=cart, auth=ws.write_auth).status_code == 200
    runner = for_container(container).runner
    start = datetime.now(UTC)
    runner.tick(start)
    runner.tick(start + timedelta(hours=1, minutes=1))  # no order within the hour
    dispatcher = messaging(container).dispatcher
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "promo", "transactional")

        async def deliver() -> None:
            await dispatcher.run_until_idle()
            await dispatcher.stop()

        asyncio.run(deliver())
    [received] = peer.handler.received
    assert received.rcpt_to == ["olena@example.com"]
    assert received.dkim_ok
    subject = str(email.header.make_header(email.header.decode_header(
        email.message_from_bytes(received.data)["Subject"])))  # fmt: skip
    assert subject == "Ви залишили товари в кошику"
    html = html_of(received.data)
    assert "Вітаємо, Олена!" in html
    assert "Чайник Кобальт" in html  # her cart, from the event that started the run
    assert "https://shop.example.com/pot-1" in html
    assert "Відписатися" in html  # the shared footer
