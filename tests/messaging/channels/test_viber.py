"""The Viber channel (Vonage Messages API) and its SMS fallback, against a local Vonage peer.

``VonagePeer`` is an aiohttp server on 127.0.0.1 (in its own thread, so the app's TestClient
can be used beside it) answering ``POST /v1/messages`` as Vonage documents: HTTP Basic auth
(401 problem otherwise), 202 ``{"message_uuid"}`` for an accepted message, 422 with
``invalid_parameters: [{"name": "to"}]`` for 380500000001, 429 with ``Retry-After`` for
380500000429, 403 for 380500000403 (the service may not message that number). It remembers
each message's ``webhook_url`` and later posts the status webhook the way Vonage does: JSON
signed with an HS256 JWT (PyJWT, the signature secret) carrying ``payload_hash``; for
380500000404 the status is ``rejected`` (not a Viber user). It also serves ``POST /sms`` as a
plain JSON SMS gateway, the fallback SMS channel.
"""

from __future__ import annotations

import asyncio
import base64
import doctest
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.channels import viber
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms.fallback import FallbackStore
from retenta.messaging.channels.sms.http import HttpConfig, HttpSmsChannel
from retenta.messaging.channels.viber import ViberChannel, ViberMessage
from retenta.messaging.events import SendContext, from_result, record
from retenta.messaging.services import services
from tests.conftest import Workspace

KEY, SECRET = "abcd1234", "s3cr3tV0nage"
SIGNATURE_SECRET = "sig-secret-0123456789abcdef0123456789"


@dataclass
class VonagePeer:
    messages: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""

    def problem(self, status: int, title: str, **extra: Any) -> web.Response:
        body = {"type": f"https://developer.vonage.com/api-errors#{status}", "title": title,
                "instance": str(uuid.uuid4())} | extra  # fmt: skip
        return web.json_response(body, status=status, content_type="application/problem+json",
                                 headers=extra.pop("headers", None))  # fmt: skip

    async def send(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self.problem(
                401, "Unauthorized", detail="You did not provide correct credentials."
            )
        body = await request.json()
        missing = [k for k in ("to", "from", "channel", "message_type") if k not in body]
        if missing or body.get("channel") != "viber_service":
            return self.problem(422, "Invalid params", invalid_parameters=[
                {"name": name, "reason": "is required"} for name in missing])  # fmt: skip
        to = body["to"]
        if to == "380500000001":
            return self.problem(422, "Invalid params", detail="The value of one or more "
                                "parameters is invalid.", invalid_parameters=[
                                    {"name": "to", "reason": "Invalid phone number"}])  # fmt: skip
        if to == "380500000429":
            response = self.problem(429, "Throttled", detail="Rate limit hit")
            response.headers["Retry-After"] = "5"
            return response
        if to == "380500000403":
            return self.problem(403, "Forbidden", detail="The service may not message this user")
        message_uuid = str(uuid.uuid4())
        self.messages.append(body | {"message_uuid": message_uuid})
        return web.json_response({"message_uuid": message_uuid}, status=202)

    async def sms_gateway(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sms.append(body)
        return web.json_response({"id": f"sms-{len(self.sms)}"})

    def status(self, message: dict[str, Any], status: str) -> tuple[str, bytes, str]:
        """The status webhook Vonage would POST: (URL, JSON body, Authorization)."""
        payload: dict[str, Any] = {
            "message_uuid": message["message_uuid"], "to": message["to"],
            "from": message["from"], "timestamp": datetime.now(UTC).isoformat(),
            "status": status, "channel": "viber_service", "client_ref": message["client_ref"],
        }  # fmt: skip
        if status == "rejected":
            payload["error"] = {"type": "https://developer.vonage.com/api-errors/messages#1300",
                                "title": 1300, "detail": "Not a Viber user"}  # fmt: skip
        body = json.dumps(payload).encode()
        digest = hashlib.sha256(body).hexdigest()
        claims = {"iat": int(time.time()), "jti": str(uuid.uuid4()), "api_key": KEY,
                  "application_id": "app-1", "payload_hash": digest}  # fmt: skip
        token = jwt.encode(claims, SIGNATURE_SECRET, algorithm="HS256")
        return message["webhook_url"], body, f"Bearer {token}"


@pytest.fixture
def peer() -> Iterator[VonagePeer]:
    """The peer's aiohttp server in its own thread and loop."""
    state = VonagePeer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", state.send)
        app.router.add_post("/sms", state.sms_gateway)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.base = f"http://127.0.0.1:{port}"
        runner_box.append(runner)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    ready.wait(5)
    yield state
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def config(peer: VonagePeer, ws_id: str = "ws", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "vonage", "api_key": KEY, "api_secret": SECRET, "sender": "16273",
        "api_base": peer.base, "ttl_s": 600, "category": "promotion",
        "status_webhook_base": f"https://retenta.example/hooks/viber/vonage/{ws_id}/main",
        "signature_secret": SIGNATURE_SECRET, "fallback_channel": "backup",
        "fallback_sender": "Shop",
    } | extra  # fmt: skip


def sms_config(peer: VonagePeer) -> dict[str, Any]:
    return {"provider": "http", "url": f"{peer.base}/sms", "sender": "Shop",
            "body": {"to": "{to}", "text": "{text}", "from": "{sender}", "ref": "{send_id}"},
            "message_id_path": "id"}  # fmt: skip


def test_doctests() -> None:
    result = doctest.testmod(viber)
    assert result.attempted > 0
    assert result.failed == 0


def test_text_image_button_and_every_documented_answer(peer: VonagePeer) -> None:
    async def main() -> list[SendResult]:
        channel = ViberChannel(viber.Config.model_validate(config(peer)))
        wrong = ViberChannel(viber.Config.model_validate(config(peer, api_secret="nope")))
        try:
            results = await channel.send([
                ViberMessage("text", "+380501234567", "Привіт! Знижка 20% 🎉"),
                ViberMessage("rich", "+380501234568", "New collection", "https://cdn.test/a.jpg",
                             "Shop now", "https://shop.test/new"),
                ViberMessage("bad_number", "+380500000001", "x"),
                ViberMessage("busy", "+380500000429", "x"),
                ViberMessage("half_button", "+380501234567", "x", button_text="Go"),
                ViberMessage("http_image", "+380501234567", "x", image_url="http://cdn.test/a.jpg"),
            ])  # fmt: skip
            results += await wrong.send([ViberMessage("auth", "+380501234567", "x")])
            return results
        finally:
            await channel.close()
            await wrong.close()

    text, rich, bad, busy, half, http_image, auth = asyncio.run(main())
    assert text.ok and rich.ok  # noqa: PT018
    assert text.remote_id == peer.messages[0]["message_uuid"]
    sent_text, sent_rich = peer.messages
    assert sent_text["message_type"] == "text"
    assert sent_text["text"] == "Привіт! Знижка 20% 🎉"
    assert sent_text["to"] == "380501234567"
    assert sent_text["from"] == "16273"
    assert sent_text["client_ref"] == "text"
    assert sent_text["viber_service"] == {"category": "promotion", "ttl": 600}
    assert sent_text["webhook_url"] == "https://retenta.example/hooks/viber/vonage/ws/main/text"
    assert sent_rich["message_type"] == "image"
    assert sent_rich["image"] == {"url": "https://cdn.test/a.jpg", "caption": "New collection"}
    assert sent_rich["viber_service"]["action"] == {"url": "https://shop.test/new",
                                                    "text": "Shop now"}  # fmt: skip
    assert (bad.outcome, bad.detail, bad.code) == (Outcome.PERMANENT, "invalid_number", 422)
    assert busy.outcome is Outcome.TEMPORARY
    assert "retry-after=5" in busy.reason
    assert (half.outcome, half.detail) == (Outcome.PERMANENT, "invalid")
    assert "button" in half.reason
    assert http_image.detail == "invalid"
    assert (auth.outcome, auth.code) == (Outcome.TEMPORARY, 401)
    assert len(peer.messages) == 2


def test_a_permanent_viber_refusal_falls_back_to_sms_at_once(peer: VonagePeer) -> None:
    async def main() -> list[SendResult]:
        sms = HttpSmsChannel(HttpConfig.model_validate(sms_config(peer)))
        channel = ViberChannel(viber.Config.model_validate(config(peer)), sms=sms)
        try:
            return await channel.send([
                ViberMessage("refused", "+380500000403", "Viber text", fallback_sms="SMS text"),
                ViberMessage("no_fallback", "+380500000403", "Viber text"),
                ViberMessage("bad_number", "+380500000001", "x", fallback_sms="never sent"),
            ])  # fmt: skip
        finally:
            await channel.close()
            await sms.close()

    refused, no_fallback, bad = asyncio.run(main())
    assert refused.outcome is Outcome.SENT
    assert (refused.detail, refused.remote_id) == ("sms_fallback", "sms-1")
    assert refused.reason.startswith("viber: 403 Forbidden")
    assert "sms: 200 accepted" in refused.reason
    assert (no_fallback.outcome, no_fallback.detail) == (Outcome.PERMANENT, "vonage_403")
    assert bad.detail == "invalid_number"  # an invalid number is not tried by SMS either
    assert peer.sms == [{"to": "+380500000403", "text": "SMS text", "from": "Shop",
                         "ref": "refused"}]  # fmt: skip


def setup_workspace(client: TestClient, ws: Workspace, peer: VonagePeer) -> viber.Config:
    r = client.put("/api/v1/channels/sms/backup", headers=ws.api_headers, json=sms_config(peer))
    assert r.status_code in (200, 201), r.text
    body = config(peer, ws.id)
    r = client.put("/api/v1/channels/viber/main", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    assert SIGNATURE_SECRET not in client.get("/api/v1/channels", headers=ws.api_headers).text
    return viber.Config.model_validate(body)


def send_and_record(
    container: Container, ws: Workspace, cfg: viber.Config, batch: list[ViberMessage]
) -> list[SendResult]:
    """What the dispatcher does: send, then record each result's event."""

    async def main() -> list[SendResult]:
        channel = ViberChannel(cfg, fallbacks=FallbackStore(container.db, ws.id))
        try:
            results = await channel.send(batch)
        finally:
            await channel.close()
        events = [from_result(SendContext(ws.id, 7, r.send_id, "viber", None, "msg_v"), r)
                  for r in results]  # fmt: skip
        await record(container.db, [e for e in events if e is not None])
        return results

    return asyncio.run(main())


def post_status(client: TestClient, url: str, body: bytes, authorization: str) -> int:
    path = url.removeprefix("https://retenta.example")
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    return client.post(path, content=body, headers=headers).status_code


def events(container: Container, ws: Workspace) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT send_id, channel, status, json_extract_string(properties, '$.fallback_of'),"
            " json_extract_string(properties, '$.error_code') FROM message_events"
            ' WHERE workspace_id = ? ORDER BY send_id, "at", channel',
            [ws.id],
        ).fetchall()


def test_not_a_viber_user_status_sends_the_fallback_sms_once(
    client: TestClient, container: Container, ws: Workspace, peer: VonagePeer
) -> None:
    cfg = setup_workspace(client, ws, peer)
    results = send_and_record(container, ws, cfg, [
        ViberMessage("snd_gone", "+380500000404", "Viber promo", fallback_sms="SMS promo"),
        ViberMessage("snd_ok", "+380501234567", "Viber promo", fallback_sms="SMS promo"),
    ])  # fmt: skip
    assert all(r.ok for r in results)
    gone, ok = peer.messages
    url, body, auth = peer.status(gone, "rejected")
    assert post_status(client, url, body, auth) == 204
    assert post_status(client, url, body, auth) == 204  # Vonage retries: no second SMS
    url_ok, body_ok, auth_ok = peer.status(ok, "delivered")
    assert post_status(client, url_ok, body_ok, auth_ok) == 204
    url_ok, body_ok, auth_ok = peer.status(ok, "read")  # seen: opened (delivered once)
    assert post_status(client, url_ok, body_ok, auth_ok) == 204
    assert peer.sms == [{"to": "+380500000404", "text": "SMS promo", "from": "Shop",
                         "ref": "snd_gone"}]  # fmt: skip
    store = FallbackStore(container.db, ws.id)
    assert store.state("snd_gone") == ("fallback_sent", "viber rejected: Not a Viber user; "
                                       "sms: 200 accepted")  # fmt: skip
    assert store.state("snd_ok") == ("delivered", None)
    assert events(container, ws) == [
        ("snd_gone", "viber", "sent", None, None),
        ("snd_gone", "viber", "failed", None, "1300"),
        ("snd_gone", "sms", "sent", "viber", None),
        ("snd_ok", "viber", "sent", None, None),
        ("snd_ok", "viber", "delivered", None, None),
        ("snd_ok", "viber", "opened", None, None),
    ]
    # the TTL sweep later finds nothing left to do
    later = datetime.now(UTC) + timedelta(hours=1)
    assert asyncio.run(sweep_at(container, client, ws, later)) == 0


async def sweep_at(container: Container, client: TestClient, ws: Workspace, now: datetime) -> int:
    from retenta.messaging.channels.sms.fallback import sweep
    from retenta.messaging.channels.sms.webhooks import settings_sms_sender

    settings = services_of(client).channel_settings
    return await sweep(
        FallbackStore(container.db, ws.id), settings_sms_sender(settings, ws.id), now
    )


def services_of(client: TestClient) -> Any:
    class _Request:
        app = client.app

    return services(_Request())  # type: ignore[arg-type]


def test_forged_or_edited_status_webhooks_are_refused(
    client: TestClient, container: Container, ws: Workspace, peer: VonagePeer
) -> None:
    cfg = setup_workspace(client, ws, peer)
    send_and_record(container, ws, cfg, [
        ViberMessage("snd_1", "+380500000404", "Viber", fallback_sms="SMS")])  # fmt: skip
    url, body, auth = peer.status(peer.messages[0], "rejected")
    edited = body.replace(b"rejected", b"delivered")
    assert post_status(client, url, edited, auth) == 403
    forged = jwt.encode({"iat": int(time.time()), "payload_hash": hashlib.sha256(body).hexdigest()},
                        "guess-guess-guess-guess-guess-guess", algorithm="HS256")  # fmt: skip
    assert post_status(client, url, body, f"Bearer {forged}") == 403
    stale = jwt.encode({"iat": int(time.time()) - 3600,
                        "payload_hash": hashlib.sha256(body).hexdigest()},
                       SIGNATURE_SECRET, algorithm="HS256")  # fmt: skip
    assert post_status(client, url, body, f"Bearer {stale}") == 403
    assert post_status(client, url, body, "") == 403
    assert post_status(client, url.replace("/main/", "/other/"), body, auth) == 404
    assert peer.sms == []
    assert post_status(client, url, body, auth) == 204
    assert len(peer.sms) == 1


def test_the_ttl_sweep_falls_back_when_viber_never_reports(
    client: TestClient, container: Container, ws: Workspace, peer: VonagePeer
) -> None:
    cfg = setup_workspace(client, ws, peer)
    silent = ViberMessage("snd_silent", "+380501234999", "Viber", fallback_sms="SMS after TTL")
    send_and_record(container, ws, cfg, [silent])
    assert asyncio.run(sweep_at(container, client, ws, datetime.now(UTC))) == 0  # not yet due
    later = datetime.now(UTC) + timedelta(seconds=cfg.ttl_s + 1)
    assert asyncio.run(sweep_at(container, client, ws, later)) == 1
    assert asyncio.run(sweep_at(container, client, ws, later)) == 0
    assert [s["text"] for s in peer.sms] == ["SMS after TTL"]
    state = FallbackStore(container.db, ws.id).state("snd_silent")
    assert state is not None
    assert state[0] == "fallback_sent"
    assert state[1] is not None
    assert state[1].startswith("not delivered on Viber within its TTL")
    # a late "delivered" after the fallback changes nothing
    url, body, auth = peer.status(peer.messages[0], "delivered")
    assert post_status(client, url, body, auth) == 204
    assert FallbackStore(container.db, ws.id).state("snd_silent") == state


def test_build_for_workspace_wires_the_named_sms_channel_and_the_store(
    client: TestClient, container: Container, ws: Workspace, peer: VonagePeer
) -> None:
    cfg = setup_workspace(client, ws, peer)
    settings = services_of(client).channel_settings

    async def main() -> list[SendResult]:
        channel = viber.build_for_workspace(cfg, db=container.db, settings=settings,
                                            workspace_id=ws.id)  # fmt: skip
        assert channel.sms is not None
        assert channel.fallbacks is not None
        try:
            return await channel.send([
                ViberMessage("now", "+380500000403", "V", fallback_sms="S now"),
                ViberMessage("later", "+380501234567", "V", fallback_sms="S later"),
            ])  # fmt: skip
        finally:
            await channel.close()

    now, later = asyncio.run(main())
    assert (now.ok, now.detail) == (True, "sms_fallback")
    assert later.ok
    assert later.detail is None
    assert [s["text"] for s in peer.sms] == ["S now"]
    assert FallbackStore(container.db, ws.id).state("later") == ("pending", None)
    assert FallbackStore(container.db, ws.id).state("now") is None
    unwired = viber.build_for_workspace(
        cfg.model_copy(update={"fallback_channel": "missing"}), db=container.db,
        settings=settings, workspace_id=ws.id,
    )  # fmt: skip
    assert unwired.sms is None
