"""The Infobip SMS provider against a local peer answering as Infobip's SMS API documents,
and its delivery reports posted to the app.

The peer (aiohttp, in its own thread beside the TestClient) checks ``Authorization: App
<key>`` (401 ``UNAUTHORIZED`` otherwise), answers ``POST /sms/2/text/advanced`` with each
message's status (group PENDING; REJECTED / REJECTED_DESTINATION for 380500000001), 429
``TOO_MANY_REQUESTS`` with ``Retry-After`` for 380500000429, ``GET /account/1/balance``, and
posts delivery reports ``{"results": [...]}`` to each message's ``notifyUrl``.
"""

from __future__ import annotations

import asyncio
import doctest
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

import retenta.messaging.channels.sms as sms_type
from retenta.app import Container
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms import infobip
from retenta.messaging.channels.sms.common import SmsMessage
from retenta.messaging.events import SendContext, from_result, record
from tests.conftest import Workspace

API_KEY = "0123456789abcdef-infobip"
SECRET = "report-secret-0123456789abcdef"


@dataclass
class InfobipPeer:
    base: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def error(status: int, code: str, text: str, **headers: str) -> web.Response:
        body = {"requestError": {"serviceException": {"messageId": code, "text": text}}}
        return web.json_response(body, status=status, headers=headers or None)

    async def send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"App {API_KEY}":
            return self.error(401, "UNAUTHORIZED", "Invalid login details")
        [message] = (await request.json())["messages"]
        [destination] = message["destinations"]
        to = destination["to"]
        if to == "380500000429":
            retry = {"Retry-After": "2"}
            return self.error(429, "TOO_MANY_REQUESTS", "Too many requests", **retry)
        self.messages.append(message)
        if to == "380500000001":
            status = {"groupId": 5, "groupName": "REJECTED", "id": 52,
                      "name": "REJECTED_DESTINATION", "description": "Invalid"}  # fmt: skip
        else:
            status = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                      "description": "Message sent to next instance"}  # fmt: skip
        return web.json_response({"bulkId": "bulk-1", "messages": [
            {"to": to, "status": status, "messageId": destination.get("messageId")}]})  # fmt: skip

    async def balance(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"App {API_KEY}":
            return self.error(401, "UNAUTHORIZED", "Invalid login details")
        return web.json_response({"balance": 47.79, "creditLimit": 100, "currency": "EUR"})

    def report(self, message: dict[str, Any], group: str, name: str, error: int = 0) -> bytes:
        result = {
            "bulkId": "bulk-1", "messageId": message["destinations"][0]["messageId"],
            "to": message["destinations"][0]["to"], "sentAt": "2026-11-28T06:00:00.000+0000",
            "doneAt": "2026-11-28T06:00:05.000+0000", "smsCount": 1,
            "status": {"groupName": group, "name": name},
            "error": {"id": error, "name": "EC_ABSENT_SUBSCRIBER" if error else "NO_ERROR"},
            "callbackData": message["callbackData"],
        }  # fmt: skip
        return json.dumps({"results": [result]}).encode()


@pytest.fixture
def peer() -> Iterator[InfobipPeer]:
    state = InfobipPeer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runners: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/sms/2/text/advanced", state.send)
        app.router.add_get("/account/1/balance", state.balance)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        runners.append(runner)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    ready.wait(5)
    yield state
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def config(peer: InfobipPeer, ws_id: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "infobip", "base_url": peer.base, "api_key": API_KEY, "sender": "Shop",
            "notify_base": f"https://retenta.example/hooks/sms/infobip/{ws_id}/main",
            "webhook_secret": SECRET} | extra  # fmt: skip


def test_doctests() -> None:
    result = doctest.testmod(infobip)
    assert result.attempted > 0
    assert result.failed == 0


def test_send_answers_and_check(peer: InfobipPeer) -> None:
    async def main() -> list[SendResult]:
        cfg = sms_type.Config.model_validate(config(peer, "ws_1"))
        channel = sms_type.build(cfg)
        wrong = sms_type.build(sms_type.Config.model_validate(config(peer, "ws_1", api_key="x")))
        try:
            results = await channel.send([
                SmsMessage("ok", "+380501234567", "Привіт"),
                SmsMessage("bad", "+380500000001", "x"),
                SmsMessage("busy", "+380500000429", "x"),
            ])  # fmt: skip
            results += await wrong.send([SmsMessage("auth", "+380501234567", "x")])
            assert (await sms_type.check(cfg)).message == "the API key works; balance 47.79 EUR"
            return results
        finally:
            await channel.close()
            await wrong.close()

    ok, bad, busy, auth = asyncio.run(main())
    assert (ok.outcome, ok.remote_id) == (Outcome.SENT, "ok")
    first = peer.messages[0]
    assert first["from"] == "Shop"
    assert first["text"] == "Привіт"
    assert first["destinations"] == [{"to": "380501234567", "messageId": "ok"}]
    token = infobip.report_token(SECRET, "ok")
    assert first["notifyUrl"] == f"https://retenta.example/hooks/sms/infobip/ws_1/main/ok/{token}"
    assert (bad.outcome, bad.detail) == (Outcome.PERMANENT, "invalid_number")
    assert "REJECTED_DESTINATION" in bad.reason
    assert busy.outcome is Outcome.TEMPORARY
    assert "retry-after=2" in busy.reason
    assert (auth.outcome, auth.detail) == (Outcome.TEMPORARY, "infobip_UNAUTHORIZED")


def test_delivery_reports_become_events(
    client: TestClient, container: Container, ws: Workspace, peer: InfobipPeer
) -> None:
    body = config(peer, ws.id)
    r = client.put("/api/v1/channels/sms/main", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    assert SECRET not in r.text
    assert API_KEY not in client.get("/api/v1/channels", headers=ws.api_headers).text

    async def main() -> None:
        channel = sms_type.build(sms_type.Config.model_validate(body))
        try:
            results = await channel.send([SmsMessage("snd_a", "+380501234567", "a"),
                                          SmsMessage("snd_b", "+380501234568", "b")])  # fmt: skip
        finally:
            await channel.close()
        events = [from_result(SendContext(ws.id, 9, r.send_id, "sms"), r) for r in results]
        await record(container.db, [e for e in events if e is not None])

    asyncio.run(main())
    a, b = peer.messages
    path_a = a["notifyUrl"].removeprefix("https://retenta.example")
    path_b = b["notifyUrl"].removeprefix("https://retenta.example")
    delivered = peer.report(a, "DELIVERED", "DELIVERED_TO_HANDSET")
    undeliverable = peer.report(b, "UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED", error=1)
    headers = {"Content-Type": "application/json"}
    assert client.post(path_a, content=delivered, headers=headers).status_code == 204
    assert client.post(path_b, content=undeliverable, headers=headers).status_code == 204
    assert client.post(path_a, content=delivered, headers=headers).status_code == 204  # retry
    # a token made for one send does not authenticate another, nor a guessed one
    assert client.post(path_a.replace("/snd_a/", "/snd_b/"), content=undeliverable,
                       headers=headers).status_code == 403  # fmt: skip
    assert client.post(path_a[:-4] + "0000", content=delivered, headers=headers).status_code == 403
    # a report naming another send in its body is ignored
    assert client.post(path_a, content=undeliverable, headers=headers).status_code == 204
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT send_id, status, json_extract_string(properties, '$.error_code')"
            " FROM message_events WHERE workspace_id = ? ORDER BY send_id, status",
            [ws.id],
        ).fetchall()
    assert rows == [
        ("snd_a", "delivered", None),
        ("snd_a", "sent", None),
        ("snd_b", "failed", "1"),
        ("snd_b", "sent", None),
    ]
