"""The send path with CONTENT's stored messages (blocks + messages, ``ContentService``):
the exact block versions rendered are recorded on the send, and an edited block is what the
next send uses. Plus CORS on the public web push endpoints."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, message, section
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, configure_email, contact
from tests.messaging.smtp_peer import smtp_peer


def test_stored_message_renders_and_records_block_versions(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"], topic=None))
    contact(client, ws, "olena@example.com")
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "promo")
        body = {
            "message_id": msg["id"],
            "contact": {"email": "olena@example.com"},
            "data": {"total": 12.5},
        }
        first = client.post("/api/v1/messages/send", headers=ws.api_headers, json=body)
        assert first.status_code == 202, first.text
        asyncio.run(svc.dispatcher.run_until_idle())
        edited = header_edit(client, ws, block["id"])
        second = client.post("/api/v1/messages/send", headers=ws.api_headers, json=body)
        asyncio.run(svc.dispatcher.run_until_idle())
    assert [r.dkim_ok for r in peer.handler.received] == [True, True]
    texts = [r.message.get_body(("plain",)).get_content() for r in peer.handler.received]
    assert "Hello Olena, new arrivals" in texts[0]
    assert "Total €12.50" in texts[0]
    assert "Good morning Olena" in texts[1]
    one = client.get(f"/api/v1/sends/{first.json()['send_id']}", headers=ws.api_headers).json()
    two = client.get(f"/api/v1/sends/{second.json()['send_id']}", headers=ws.api_headers).json()
    assert one["versions_used"] == {block["id"]: block["version"]}
    assert two["versions_used"] == {block["id"]: edited}
    assert one["category"] == "promo"
    assert one["message_revision"] == msg["revision"]


def header_edit(client: TestClient, ws: Workspace, block_id: str) -> int:
    r = client.put(
        f"/api/v1/blocks/{block_id}",
        headers=ws.api_headers,
        json={
            "name": "Header",
            "kind": "header",
            "email": {"en": section("Good morning {{ contact.first_name }}")},
            "text": {"en": "STOP to opt out"},
        },
    )
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


def test_cors_on_the_public_push_endpoints(client: TestClient, ws: Workspace) -> None:
    client.get("/v1/push/vapid-public-key", auth=ws.write_auth)  # makes the config
    config = client.get("/api/v1/channels", headers=ws.api_headers).json()["channels"][0]["config"]
    config["allowed_origins"] = ["https://shop.example"]
    r = client.put("/api/v1/channels/webpush/default", headers=ws.api_headers, json=config)
    assert r.status_code == 200, r.text
    url = f"/v1/push/subscriptions?writeKey={ws.write_key}"
    allowed = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    pre = client.options(url, headers=allowed)
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    other = client.options(url, headers={**allowed, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    no_key = client.options("/v1/push/subscriptions", headers=allowed)
    assert "access-control-allow-origin" not in no_key.headers
    key = client.get(
        f"/v1/push/vapid-public-key?writeKey={ws.write_key}",
        headers={"Origin": "https://shop.example"},
    )
    assert key.headers["access-control-allow-origin"] == "https://shop.example"
    denied = client.get(
        f"/v1/push/vapid-public-key?writeKey={ws.write_key}",
        headers={"Origin": "https://evil.example"},
    )
    assert denied.status_code == 200
    assert "access-control-allow-origin" not in denied.headers


def test_a_promo_code_block_gets_each_contact_one_code(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The block names its pool; each contact gets one code, the same on a resend; a contact
    the pool has no code left for fails with ``promo_exhausted`` instead of going codeless."""
    svc = for_container(container)
    pool = client.post(
        "/api/v1/promo-pools",
        headers=ws.api_headers,
        json={"name": "Spring", "kind": "imported", "length": 8},
    ).json()
    r = client.post(
        f"/api/v1/promo-pools/{pool['id']}/codes",
        headers=ws.api_headers,
        json={"codes": ["SPRING-A", "SPRING-B"]},
    )
    assert r.status_code == 201, r.text
    block = create_block(
        client,
        ws,
        name="Code",
        kind="promo_code",
        email={"en": section("Your code: {{ promo_code }}")},
        text={"en": "Code {{ promo_code }}"},
        params={"pool": {"default": pool["id"]}},
    )
    msg = create_message(client, ws, message(block["id"], topic=None))
    people = ["a@example.com", "b@example.com", "c@example.com"]
    for address in people:
        contact(client, ws, address)
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "promo")
        ids = []
        for address in [*people, "a@example.com"]:  # a resend to a gets the same code
            r = client.post(
                "/api/v1/messages/send",
                headers=ws.api_headers,
                json={"message_id": msg["id"], "contact": {"email": address}, "data": {"total": 1}},
            )
            ids.append(r.json()["send_id"])
            asyncio.run(svc.dispatcher.run_until_idle())
    codes = {}
    for got in peer.handler.received:
        text = got.message.get_body(("plain",)).get_content()
        codes.setdefault(got.rcpt_to[0], []).append(text.split("Your code: ")[1].split()[0])
    assert sorted(codes) == ["a@example.com", "b@example.com"]
    assert codes["a@example.com"][0] == codes["a@example.com"][1]
    assert {codes["a@example.com"][0], codes["b@example.com"][0]} == {"SPRING-A", "SPRING-B"}
    third = client.get(f"/api/v1/sends/{ids[2]}", headers=ws.api_headers).json()
    assert third["status"] == "failed"
    assert third["events"][-1]["properties"]["detail"] == "promo_exhausted"
