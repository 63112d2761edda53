"""Stored content through SENDS' send path: POST /api/v1/messages/send → dispatcher →
a real SMTP peer; each send records the revision and the exact block versions it used."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, header_block, section
from tests.messaging.outbox.helpers import configure_email, contact
from tests.messaging.smtp_peer import smtp_peer


def send(client: TestClient, ws: Workspace, message_id: str, person: int, data: Any) -> str:
    body = {"message_id": message_id, "contact": {"contact_id": person}, "data": data}
    r = client.post("/api/v1/messages/send", headers=ws.api_headers, json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["send_id"])


def test_sends_render_stored_content_and_record_the_versions_used(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    body = {
        "name": "Receipt", "category": "transactional", "default_language": "en",
        "channels": {"email": {
            "subject": {"en": "Order {{ data.order_id }}", "uk": "Замовлення {{ data.order_id }}"},
            "body": [{"block": block["id"]}, {"mjml": {"en": section("{{ 100 // data.n }}")}}],
        }},
    }  # fmt: skip
    msg = create_message(client, ws, body)
    people = [contact(client, ws, f"p{i}@example.com") for i in range(3)]
    dispatcher = for_container(container).dispatcher
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "transactional", "promo")
        first = [
            send(client, ws, msg["id"], p, {"order_id": i, "n": i}) for i, p in enumerate(people)
        ]
        asyncio.run(dispatcher.run_until_idle())
        edited = header_block(email={"en": section("EDITED {{ title }}")})
        client.put(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers, json=edited)
        second = send(client, ws, msg["id"], people[1], {"order_id": 9, "n": 1})
        asyncio.run(dispatcher.run_until_idle())
        received = {m.message["Subject"]: m for m in peer.handler.received}
    sends = [client.get(f"/api/v1/sends/{s}", headers=ws.api_headers).json() for s in first]
    failed, *ok = sends
    assert failed["status"] == "failed"  # 100 // 0 for this contact only
    assert "channels.email.body[1].mjml.en" in (failed["last_error"] or "")
    assert [s["status"] for s in ok] == ["sent", "sent"]
    for s in sends:
        assert s["versions_used"] == {block["id"]: 1}
        assert s["message_revision"] == 1
    later = client.get(f"/api/v1/sends/{second}", headers=ws.api_headers).json()
    assert later["versions_used"] == {block["id"]: 2}
    assert set(received) == {"Order 1", "Order 2", "Order 9"}
    assert (
        "Hello Olena, new arrivals" in received["Order 1"].message.get_body(("html",)).get_content()
    )
    assert "EDITED new arrivals" in received["Order 9"].message.get_body(("html",)).get_content()
