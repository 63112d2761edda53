"""End to end: ``POST /api/v1/messages/send`` on ``sms`` → the dispatcher → Twilio (local peer)
→ Twilio's signed status callback → a ``delivered`` event on the send."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.content import StaticText
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.channels.test_sms_http import ACCOUNT, TOKEN, TwilioPeer
from tests.messaging.channels.test_sms_webhooks import twilio_sign


def person(client: TestClient, ws: Workspace, phone: str) -> int:
    body: dict[str, Any] = {
        "identifiers": {"phone": phone},
        "consents": [{"channel": "sms", "topic": "*", "status": "subscribed"}],
    }
    r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def test_a_send_through_twilio_is_delivered_by_its_callback(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    text = StaticText({"text": "Ваш код: 4812"}, "transactional")
    svc.static_content.add(ws.id, "msg_code", "sms", text)
    contact_id = person(client, ws, "+380501234567")
    callback_base = f"https://retenta.example/hooks/sms/twilio/{ws.id}/default"
    peer = TwilioPeer()

    async def main() -> str:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", peer.create)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        config = {"provider": "twilio", "account_sid": ACCOUNT, "auth_token": TOKEN,
                  "sender": "+15005550006", "api_base": f"http://127.0.0.1:{port}",
                  "status_callback_base": callback_base}  # fmt: skip
        r = client.put("/api/v1/channels/sms/default", headers=ws.api_headers, json=config)
        assert r.status_code == 200, r.text
        r = client.post(
            "/api/v1/messages/send",
            headers=ws.api_headers,
            json={"message_id": "msg_code", "contact": {"contact_id": contact_id},
                  "channel": "sms"},
        )  # fmt: skip
        assert r.status_code == 202, r.text
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        return str(r.json()["send_id"])

    send_id = asyncio.run(main())
    [form] = peer.received
    assert form["Body"] == "Ваш код: 4812"
    assert form["To"] == "+380501234567"
    assert form["StatusCallback"] == f"{callback_base}/{send_id}"
    sent = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()
    assert sent["status"] == "sent"
    sid = sent["remote_id"]
    assert sid.startswith("SM")

    params = {"AccountSid": ACCOUNT, "MessageSid": sid, "MessageStatus": "delivered",
              "To": form["To"], "From": form["From"]}  # fmt: skip
    url = form["StatusCallback"]
    r = client.post(
        url.removeprefix("https://retenta.example"),
        data=params,
        headers={"X-Twilio-Signature": twilio_sign(TOKEN, url, params)},
    )
    assert r.status_code == 204
    state = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()
    statuses = [e["status"] for e in state["events"]]
    assert statuses[-1] == "delivered"
    assert statuses.count("delivered") == 1
    delivered = state["events"][-1]
    assert delivered["channel"] == "sms"
    assert delivered["properties"]["remote_id"] == sid
    assert state["status"] == "delivered"  # the ledger row follows the report
    # a later "undelivered" for the same message is recorded but never undoes delivered
    params["MessageStatus"] = "undelivered"
    r = client.post(
        url.removeprefix("https://retenta.example"),
        data=params,
        headers={"X-Twilio-Signature": twilio_sign(TOKEN, url, params)},
    )
    assert r.status_code == 204
    assert client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()["status"] == (
        "delivered"
    )
