"""SMS and webhook sends through the dispatcher, each channel built from its stored config
and talking to a local HTTP peer (the SMS HTTP provider adapter; the signed webhook)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.content import StaticText
from retenta.messaging.services import for_container
from tests.conftest import Workspace


async def serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def person(client: TestClient, ws: Workspace, phone: str, channel: str, consent: bool) -> int:
    body: dict[str, Any] = {"identifiers": {"phone": phone}}
    if consent:
        body["consents"] = [{"channel": channel, "topic": "*", "status": "subscribed"}]
    r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def test_sms_through_the_http_provider(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    svc.static_content.add(ws.id, "msg_sms", "sms", StaticText({"text": "Код: 4812"}, "promo"))
    yes = person(client, ws, "+380501234567", "sms", consent=True)
    no = person(client, ws, "+380501234568", "sms", consent=False)
    stopped = person(client, ws, "+380501234571", "sms", consent=True)
    got: list[dict[str, Any]] = []

    async def provider(request: web.Request) -> web.Response:
        doc = await request.json()
        if doc["to"] == "+380501234571":  # the recipient replied STOP at the provider
            return web.json_response({"code": "STOPPED", "message": "unsubscribed"}, status=400)
        got.append(doc)
        return web.json_response({"id": f"m{len(got)}"}, status=201)

    async def main() -> list[str]:
        runner, origin = await serve(provider)
        config = {
            "provider": "http",
            "url": f"{origin}/send",
            "sender": "Shop",
            "body": {"to": "{to}", "text": "{text}", "ref": "{send_id}"},
            "message_id_path": "id",
            "error_code_path": "code",
            "unsubscribed_codes": ["STOPPED"],
        }
        r = client.put("/api/v1/channels/sms/default", headers=ws.api_headers, json=config)
        assert r.status_code == 200, r.text
        ids = []
        for contact_id in (yes, no, stopped):
            r = client.post(
                "/api/v1/messages/send",
                headers=ws.api_headers,
                json={
                    "message_id": "msg_sms",
                    "contact": {"contact_id": contact_id},
                    "channel": "sms",
                },
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["send_id"])
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        return ids

    sent_id, blocked_id, stopped_id = asyncio.run(main())
    assert got == [{"to": "+380501234567", "text": "Код: 4812", "ref": sent_id}]
    sent = client.get(f"/api/v1/sends/{sent_id}", headers=ws.api_headers).json()
    assert (sent["status"], sent["remote_id"]) == ("sent", "m1")
    blocked = client.get(f"/api/v1/sends/{blocked_id}", headers=ws.api_headers).json()
    assert blocked["status"] == "suppressed"
    assert blocked["events"][-1]["properties"]["reason"] == "no_consent"
    refused = client.get(f"/api/v1/sends/{stopped_id}", headers=ws.api_headers).json()
    assert refused["status"] == "bounced"
    listed = client.get("/api/v1/suppressions", headers=ws.api_headers).json()["items"]
    assert [item["reason"] for item in listed] == ["unsubscribed"]  # never tried again


def test_webhook_retries_a_busy_receiver_with_the_same_key(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    lead = StaticText({"body": json.dumps({"call": "Olena"})}, "trigger")
    svc.static_content.add(ws.id, "msg_lead", "webhook", lead)
    contact_id = person(client, ws, "+380501234569", "webhook", consent=False)
    calls: list[tuple[str, bytes]] = []

    async def crm(request: web.Request) -> web.Response:
        calls.append((request.headers["Idempotency-Key"], await request.read()))
        if len(calls) == 1:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(status=200)

    async def main() -> str:
        runner, origin = await serve(crm)
        config = {"url": f"{origin}/leads", "secret": "s" * 32, "allow_private_targets": True}
        r = client.put("/api/v1/channels/webhook/default", headers=ws.api_headers, json=config)
        assert r.status_code == 200, r.text
        assert "s" * 32 not in r.text
        r = client.post(
            "/api/v1/messages/send",
            headers=ws.api_headers,
            json={
                "message_id": "msg_lead",
                "contact": {"contact_id": contact_id},
                "channel": "webhook",
            },
        )
        send_id = str(r.json()["send_id"])
        await svc.dispatcher.run_until_idle()
        container.db.write(
            lambda conn: conn.execute(
                "UPDATE sends SET next_attempt_at = now() WHERE status = 'queued'"
            )
        )
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        return send_id

    send_id = asyncio.run(main())
    assert calls == [(send_id, b'{"call": "Olena"}')] * 2  # the same key both times
    state = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()
    assert (state["status"], state["attempts"]) == ("sent", 2)


def test_in_app_after_push_cannot_take_it(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """``cascade: ["push", "inapp"]``: no push target, so the app inbox gets it (stored once)."""
    svc = for_container(container)
    fields = {"title": "Your cart", "body": "Still there: -15% until Sunday", "url": ""}
    svc.static_content.add(ws.id, "msg_cart", "push", StaticText(fields, "trigger"))
    svc.static_content.add(ws.id, "msg_cart", "inapp", StaticText(fields, "trigger"))
    contact_id = person(client, ws, "+380501234570", "push", consent=True)
    client.get("/v1/push/vapid-public-key", auth=ws.write_auth)  # web push configured
    r = client.post(
        "/api/v1/messages/send",
        headers=ws.api_headers,
        json={
            "message_id": "msg_cart",
            "contact": {"contact_id": contact_id},
            "cascade": ["push", "inapp"],
        },
    )
    assert r.status_code == 202, r.text
    send_id = r.json()["send_id"]
    asyncio.run(svc.dispatcher.run_until_idle())
    state = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()
    assert (state["status"], state["channel"]) == ("sent", "inapp")
    assert [(e["channel"], e["status"]) for e in state["events"]] == [
        ("push", "queued"),
        ("inapp", "sent"),
    ]
    inbox = client.get(f"/api/v1/contacts/{contact_id}/inbox", headers=ws.api_headers).json()
    assert [(m["title"], m["body"]) for m in inbox["items"]] == [fields_pair(fields)]


def fields_pair(fields: dict[str, str]) -> tuple[str, str]:
    return fields["title"], fields["body"]


def test_push_reaches_fcm_device_tokens_and_retires_a_dead_one(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """``push`` also goes to the contact's FCM tokens (identity's ``push_token`` rows) through
    the stored FCM config; UNREGISTERED retires the token (MOBILE's local FCM peer)."""
    from tests.messaging.channels.test_fcm import KEY, FcmPeer, service_account

    svc = for_container(container)
    fields = {"title": "Sale", "body": "-20% today", "url": ""}
    svc.static_content.add(ws.id, "msg_app", "push", StaticText(fields, "promo"))
    ids = {}
    for token in ("ok-device-1", "dead-device-2"):
        body = {
            "identifiers": {"push_token": token},
            "consents": [{"channel": "push", "topic": "*", "status": "subscribed"}],
        }
        r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
        assert r.status_code in (200, 201), r.text
        ids[token] = int(r.json()["id"])
    peer = FcmPeer(KEY)

    async def main() -> list[str]:
        app = web.Application()
        app.router.add_post("/token", peer.token)
        app.router.add_post("/v1/projects/{project}/messages:send", peer.send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        peer.origin = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        config = {"service_account": service_account(peer.origin), "base_url": peer.origin}
        r = client.put("/api/v1/channels/fcm/default", headers=ws.api_headers, json=config)
        assert r.status_code == 200, r.text
        send_ids = []
        for contact_id in ids.values():
            r = client.post(
                "/api/v1/messages/send",
                headers=ws.api_headers,
                json={
                    "message_id": "msg_app",
                    "contact": {"contact_id": contact_id},
                    "channel": "push",
                },
            )
            assert r.status_code == 202, r.text
            send_ids.append(r.json()["send_id"])
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        return send_ids

    ok_id, dead_id = asyncio.run(main())
    assert sorted((m["token"], m["notification"]["title"]) for m in peer.received) == [
        ("dead-device-2", "Sale"),
        ("ok-device-1", "Sale"),
    ]
    assert client.get(f"/api/v1/sends/{ok_id}", headers=ws.api_headers).json()["status"] == "sent"
    dead = client.get(f"/api/v1/sends/{dead_id}", headers=ws.api_headers).json()
    assert dead["status"] == "bounced"
    with container.db.read() as cur:
        retired = cur.execute("SELECT token FROM retired_push_tokens").fetchall()
    assert retired == [("dead-device-2",)]
