"""The webhook channel against a local receiver that checks what a careful receiver would.

The receiver is a real aiohttp server on 127.0.0.1. It recomputes the HMAC-SHA256 over
``"<t>." + raw body`` itself (not with the module's ``verify``), refuses a stale ``t``, and
keeps the ``Idempotency-Key`` of every call. Its paths pick the answer: ``/ok`` 200,
``/empty`` 204, ``/busy`` 429 with ``Retry-After: 7``, ``/down`` 503, ``/bad`` 400,
``/gone`` 410, ``/moved`` 302 (never followed), ``/slow`` answers after the timeout.

Loopback is a private target, so these tests allow it explicitly
(``allow_private_targets=True``); the SSRF tests use the default and see nothing arrive.
"""

from __future__ import annotations

import asyncio
import doctest
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient
from pydantic import ValidationError

from retenta.messaging.channels import webhook
from retenta.messaging.channels.base import Outcome
from retenta.messaging.channels.webhook import (
    Config,
    WebhookCall,
    WebhookChannel,
    WebhookResult,
    build,
    call,
    check,
    verify,
)
from tests.conftest import Workspace

SECRET = "whsec_0123456789abcdef"


class Receiver:
    def __init__(self) -> None:
        self.origin = ""
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.bad_signatures = 0

    def signed(self, request: web.Request, body: bytes) -> bool:
        fields = dict(p.split("=", 1) for p in request.headers["Retenta-Signature"].split(","))
        expected = hmac.new(
            SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(fields["t"])) < 300
        return fresh and hmac.compare_digest(expected, fields["v1"])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not self.signed(request, body):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        mode = request.match_info["mode"]
        self.calls.append((mode, dict(request.headers), body))
        if mode == "slow":
            await asyncio.sleep(3)
        statuses = {"ok": 200, "empty": 204, "busy": 429, "down": 503, "bad": 400, "gone": 410}
        if mode == "moved":
            raise web.HTTPFound(f"{self.origin}/hook/ok")
        headers = {"Retry-After": "7"} if mode == "busy" else {}
        return web.Response(status=statuses.get(mode, 200), text=mode, headers=headers)


Body = Callable[[Receiver], Awaitable[None]]


def run(body: Body) -> None:
    async def main() -> None:
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook/{mode}", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        receiver.origin = f"http://127.0.0.1:{port}"
        try:
            await body(receiver)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def config(url: str, **kw: Any) -> Config:
    return Config(url=url, secret=SECRET, **kw)


def lead(n: int, url: str) -> WebhookCall:
    doc = {"event": "hot_lead", "contact": {"name": "Олена", "phone": "+380671234567"}, "n": n}
    return call(f"snd_{n}", url, doc, **{"X-Tenant": "shop"})


def test_doctests() -> None:
    assert doctest.testmod(webhook).failed == 0


def test_signed_json_arrives_with_the_idempotency_key() -> None:
    async def body(receiver: Receiver) -> None:
        channel = build(config(receiver.origin, allow_private_targets=True,
                               headers={"Authorization": "Bearer crm-token"}))  # fmt: skip
        batch = [lead(n, f"{receiver.origin}/hook/ok") for n in range(25)]
        try:
            results = await channel.send(batch)
            again = await channel.send(batch[:1])  # a retried send: same key
        finally:
            await channel.close()
        assert [r.send_id for r in results] == [c.send_id for c in batch]
        assert all(r.outcome is Outcome.SENT and r.code == 200 for r in results)
        assert again[0].ok
        assert receiver.bad_signatures == 0
        keys = [headers["Idempotency-Key"] for _, headers, _ in receiver.calls]
        assert sorted(keys[:25]) == sorted(c.send_id for c in batch)
        assert keys[25] == "snd_0"
        _, headers, raw = receiver.calls[0]
        assert headers["Content-Type"] == "application/json"
        assert headers["Authorization"] == "Bearer crm-token"
        assert headers["X-Tenant"] == "shop"
        assert json.loads(raw)["contact"]["name"] == "Олена"
        assert verify(SECRET.encode(), headers["Retenta-Signature"], raw)
        assert not verify(SECRET.encode(), headers["Retenta-Signature"], raw + b" ")

    run(body)


def test_answers_and_failures_are_classified() -> None:
    async def body(receiver: Receiver) -> None:
        channel = WebhookChannel(SECRET.encode(), timeout_s=1.5, allow_private_targets=True)
        modes = ["empty", "busy", "down", "bad", "gone", "moved", "slow"]
        calls = [call(m, f"{receiver.origin}/hook/{m}", {"m": m}) for m in modes]
        calls.append(call("closed", "http://127.0.0.1:9/hook", {}))
        try:
            results = await channel.send(calls)
        finally:
            await channel.close()
        by = {r.send_id: r for r in results}
        assert all(isinstance(r, WebhookResult) for r in results)
        assert (by["empty"].outcome, by["empty"].code) == (Outcome.SENT, 204)
        busy = by["busy"]
        assert isinstance(busy, WebhookResult)
        assert (busy.outcome, busy.retry_after) == (Outcome.TEMPORARY, 7.0)
        assert "retry after 7 s" in busy.reason
        assert (by["down"].outcome, by["down"].code) == (Outcome.TEMPORARY, 503)
        assert (by["bad"].outcome, by["bad"].detail) == (Outcome.PERMANENT, "http_400")
        assert by["gone"].outcome is Outcome.PERMANENT
        assert (by["moved"].outcome, by["moved"].code) == (Outcome.PERMANENT, 302)
        assert (by["slow"].outcome, by["slow"].detail) == (Outcome.TEMPORARY, "timeout")
        assert (by["closed"].outcome, by["closed"].detail) == (Outcome.TEMPORARY, "connection")
        assert [m for m, _, _ in receiver.calls].count("ok") == 0  # the redirect not followed

    run(body)


def test_private_targets_are_refused_unless_allowed() -> None:
    async def body(receiver: Receiver) -> None:
        port = receiver.origin.rsplit(":", 1)[1]
        channel = build(config(receiver.origin))  # the default: public targets only
        targets = [
            f"{receiver.origin}/hook/ok",  # a loopback literal
            f"http://localhost:{port}/hook/ok",  # a name that resolves to loopback
            f"http://[::ffff:127.0.0.1]:{port}/hook/ok",  # IPv4-mapped loopback
            "http://169.254.169.254/latest/meta-data/",  # cloud metadata
            "http://10.1.2.3/x",
            "ftp://files.example/x",
        ]
        try:
            results = await channel.send([call(f"t{i}", u, {}) for i, u in enumerate(targets)])
            verdict = await check(config(receiver.origin))
        finally:
            await channel.close()
        assert [r.detail for r in results] == ["target_not_allowed"] * 5 + ["invalid"]
        assert all(r.outcome is Outcome.PERMANENT for r in results)
        assert "localhost resolves to 127.0.0.1" in results[1].reason
        assert not verdict.ok
        assert receiver.calls == []  # nothing ever arrived

    run(body)


def test_check_pings_the_target_and_reports_its_answer() -> None:
    async def body(receiver: Receiver) -> None:
        good = await check(config(f"{receiver.origin}/hook/ok", allow_private_targets=True))
        bad = await check(config(f"{receiver.origin}/hook/bad", allow_private_targets=True))
        assert good.ok
        assert "answered 200" in good.message
        assert not bad.ok
        assert "400" in bad.message
        assert json.loads(receiver.calls[0][2]) == {"type": "retenta.check"}

    run(body)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"url": "ftp://x.example/"}, "url", "http(s)"),
        ({"url": "https://user:pw@x.example/"}, "url", "credentials"),
        ({"secret": "short"}, "secret", "at least 16"),
        ({"headers": {"X-Bad\r\nInjected": "1"}}, "headers", "not a valid header"),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "headers", "not a valid header"),
        ({"timeout_s": 0}, "timeout_s", "greater than 0"),
    ],
)
def test_config_names_what_is_wrong(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        Config(**({"url": "https://crm.example/hook", "secret": SECRET} | change))
    error = info.value.errors()[0]
    assert error["loc"] == (field,)
    assert words in error["msg"]
    assert SECRET not in repr(Config(url="https://crm.example/hook", secret=SECRET))


class ThreadedApp:
    """An aiohttp app on its own event loop in a thread, for the app's TestClient to reach."""

    def __init__(self, setup: Callable[[web.Application], None]) -> None:
        self.setup = setup
        self.origin = ""
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        self.setup(app)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.origin = f"http://127.0.0.1:{port}"
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> str:
        self.thread.start()
        assert self.ready.wait(10)
        return self.origin

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_the_channels_api_seals_the_secret_and_checks_with_it(
    client: TestClient, ws: Workspace
) -> None:
    receiver = Receiver()
    with ThreadedApp(lambda app: app.router.add_post("/hook/{mode}", receiver.handle)) as origin:
        receiver.origin = origin
        body = {"url": f"{receiver.origin}/hook/ok", "secret": SECRET,
                "allow_private_targets": True}  # fmt: skip
        put = client.put("/api/v1/channels/webhook/callcentre", json=body, headers=ws.api_headers)
        assert put.status_code == 200, put.text
        assert SECRET not in put.text
        assert put.json()["secrets_set"] == ["secret"]
        listed = client.get("/api/v1/channels", headers=ws.api_headers)
        assert SECRET not in listed.text
        checked = client.post("/api/v1/channels/webhook/callcentre/check", headers=ws.api_headers)
        assert checked.json() == {"ok": True, "message": f"{body['url']} answered 200"}
        assert receiver.bad_signatures == 0  # signed with the unsealed secret
        assert len(receiver.calls) == 1
        bad = client.put("/api/v1/channels/webhook/x", json={"url": "ftp://x", "secret": SECRET},
                         headers=ws.api_headers)  # fmt: skip
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "url"
