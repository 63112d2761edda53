"""Shared set-up for the send-path tests: contacts, channel configs, messages, a peer."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.email.examples import promo_version
from retenta.messaging.email.render import EmailVersion, compile_email
from retenta.messaging.outbox.content import StaticEmail, StaticText
from retenta.messaging.services import MessagingServices, for_container
from tests.conftest import Workspace
from tests.messaging.dkimkeys import make_key
from tests.messaging.smtp_peer import Peer

KEY = make_key("shop.example", "s1")
PROMO = compile_email(
    "promo", {"en": promo_version("en"), "uk": promo_version("uk")}, default_language="en"
)
RECEIPT = compile_email(
    "receipt",
    {
        "en": EmailVersion(
            subject="Order {{ data.order_id }}",
            mjml="<mjml><mj-body><mj-section><mj-column><mj-text>Thanks {{ contact.first_name }},"
            " order {{ data.order_id }}</mj-text></mj-column></mj-section></mj-body></mjml>",
        )
    },
    default_language="en",
)

SPLIT = compile_email(
    "split",
    {
        "en": EmailVersion(
            subject="Each {{ 10 // data.n }}",
            mjml="<mjml><mj-body><mj-section><mj-column><mj-text>x</mj-text></mj-column>"
            "</mj-section></mj-body></mjml>",
        )
    },
    default_language="en",
)


def contact(
    client: TestClient,
    ws: Workspace,
    email: str,
    *,
    consent: str | None = "subscribed",
    channel: str = "email",
    external_id: str | None = None,
) -> int:
    identifiers: dict[str, str] = {"email": email}
    if external_id:
        identifiers["external_id"] = external_id
    body: dict[str, Any] = {
        "identifiers": identifiers,
        "language": "en",
        "attributes": {"first_name": "Olena"},
    }
    if consent:
        body["consents"] = [{"channel": channel, "topic": "*", "status": consent}]
    response = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def email_profile(peer: Peer, name: str = "promo", **extra: Any) -> dict[str, Any]:
    transactional = name == "transactional"
    return {
        "category": "transactional" if transactional else "marketing",
        "from_address": f"{name}@shop.example",
        "from_name": "Shop",
        "bounce_domain": "bounces.shop.example",
        "unsubscribe_base_url": "http://testserver/u/",
        "dkim": {
            "domain": KEY.domain,
            "selector": KEY.selector,
            "private_key_pem": KEY.private_pem.decode(),
        },
        "smtp": {"host": "127.0.0.1", "port": peer.port, "tls": "none", "connections": 4},
        **extra,
    }


def configure_email(client: TestClient, ws: Workspace, peer: Peer, *names: str) -> None:
    for name in names or ("promo",):
        r = client.put(
            f"/api/v1/channels/email/{name}", headers=ws.api_headers, json=email_profile(peer, name)
        )
        assert r.status_code == 200, r.text


def add_messages(container: Container, ws: Workspace) -> MessagingServices:
    svc = for_container(container)
    svc.static_content.add(
        ws.id, "msg_promo", "email", StaticEmail(PROMO, "promo", None, 3, {"blk_hdr": 2})
    )
    svc.static_content.add(ws.id, "msg_receipt", "email", StaticEmail(RECEIPT, "transactional"))
    svc.static_content.add(ws.id, "msg_split", "email", StaticEmail(SPLIT, "transactional"))
    svc.static_content.add(
        ws.id, "msg_promo", "push", StaticText({"title": "Sale", "body": "-20% today"}, "promo")
    )
    return svc
