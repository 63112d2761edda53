"""The configurable HTTP SMS adapter and the Twilio channel against local HTTP peers.

Each peer is a real aiohttp server on 127.0.0.1 answering as its API documents:

- ``TwilioPeer``: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic auth and a
  form body; it answers 201 with the message resource, 401 with code 20003 for bad
  credentials, and Twilio's documented test numbers: +15005550001 → 21211 (invalid 'To'),
  +15005550009 → 21614 (not a mobile number), +15005550004 → 21610 (unsubscribed). Two
  numbers of its own: +15005550429 → 429 / 20429 with ``Retry-After: 7``, +15005550500 → 500.
- ``GatewayPeer``: a JSON gateway shaped like Infobip's ``/sms/2/text/advanced`` (header auth
  ``App <key>``, ``messages[0].messageId``, ``requestError.serviceException.messageId``) and a
  form gateway shaped like SMS.ru (``api_id`` in the query, 200 with ``status: ERROR`` inside).
"""

from __future__ import annotations

import asyncio
import base64
import doctest
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from retenta.messaging.channels.base import Outcome
from retenta.messaging.channels.sms import http, twilio
from retenta.messaging.channels.sms.common import SmsMessage
from retenta.messaging.channels.sms.http import HttpConfig, HttpSmsChannel
from retenta.messaging.channels.sms.twilio import TwilioChannel, TwilioConfig

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32


@dataclass
class TwilioPeer:
    received: list[dict[str, str]] = field(default_factory=list)
    refused_auth: int = 0

    def authorized(self, request: web.Request, sid: str) -> bool:
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        return sid == ACCOUNT and request.headers.get("Authorization") == f"Basic {expected}"

    async def create(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        if not self.authorized(request, sid):
            self.refused_auth += 1
            return self.error(401, 20003, "Authenticate")
        if request.content_type != "application/x-www-form-urlencoded":
            return self.error(400, 21601, "not a form")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if "To" not in form:
            return self.error(400, 21604, "A 'To' phone number is required.")
        if "From" not in form and "MessagingServiceSid" not in form:
            return self.error(400, 21603, "A 'From' phone number is required.")
        self.received.append(form)
        magic = {
            "+15005550001": (400, 21211, f"The 'To' number {form['To']} is not valid."),
            "+15005550009": (400, 21614, f"'To' number {form['To']} is not a valid mobile number"),
            "+15005550004": (400, 21610, "Attempt to send to unsubscribed recipient"),
            "+15005550500": (500, 20500, "Internal Server Error"),
        }  # fmt: skip
        if form["To"] in magic:
            return self.error(*magic[form["To"]])
        if form["To"] == "+15005550429":
            return self.error(429, 20429, "Too Many Requests", {"Retry-After": "7"})
        body = {
            "sid": "SM" + secrets.token_hex(16),
            "status": "queued",
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "account_sid": ACCOUNT,
        }
        return web.json_response(body, status=201)

    async def account(self, request: web.Request) -> web.Response:
        if not self.authorized(request, request.match_info["sid"]):
            return self.error(401, 20003, "Authenticate")
        return web.json_response({"sid": ACCOUNT, "friendly_name": "Shop", "status": "active"})

    @staticmethod
    def error(
        status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"code": code, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}  # fmt: skip
        return web.json_response(body, status=status, headers=headers)


@dataclass
class GatewayPeer:
    received: list[dict[str, Any]] = field(default_factory=list)

    async def json_gateway(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "App key-123":
            error = {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}
            return web.json_response({"requestError": {"serviceException": error}}, status=401)
        body = await request.json()
        self.received.append(body)
        to = body["messages"][0]["destinations"][0]["to"]
        if to == "+48500000001":
            return web.json_response({"requestError": {"serviceException": {
                "messageId": "BAD_REQUEST", "text": "Invalid destination address"}}},
                status=400)  # fmt: skip
        if to == "+48500000429":
            return web.json_response({}, status=429, headers={"Retry-After": "3"})
        if to == "+48500000503":
            return web.Response(status=503, text="maintenance")
        message_id = f"ib-{len(self.received)}"
        return web.json_response({"bulkId": "b1", "messages": [{
            "messageId": message_id, "to": to, "status": {"groupName": "PENDING"}}]})  # fmt: skip

    async def form_gateway(self, request: web.Request) -> web.Response:
        if request.query.get("api_id") != "secret-api-id":
            return web.json_response({"status": "ERROR", "status_code": 200})
        form = dict(await request.post())
        self.received.append(form)
        if form["to"] == "+380500000002":
            return web.json_response({"status": "ERROR", "status_code": 202,
                                      "status_text": "invalid recipient"})  # fmt: skip
        return web.json_response({"status": "OK", "sms_id": f"ru-{len(self.received)}"})


Body = Callable[[str, TwilioPeer, GatewayPeer], Awaitable[None]]


def serve(body: Body) -> None:
    async def main() -> None:
        twilio_peer, gateway = TwilioPeer(), GatewayPeer()
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", twilio_peer.create)
        app.router.add_get("/2010-04-01/Accounts/{sid}.json", twilio_peer.account)
        app.router.add_post("/sms/2/text/advanced", gateway.json_gateway)
        app.router.add_post("/sms/send", gateway.form_gateway)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await body(f"http://127.0.0.1:{port}", twilio_peer, gateway)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def twilio_config(base: str, **extra: Any) -> TwilioConfig:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "auth_token": TOKEN,
        "sender": "+15005550006",
        "api_base": base,
        "status_callback_base": "https://retenta.example/hooks/sms/twilio/ws_1/main",
    }
    return TwilioConfig.model_validate(values | extra)


def test_doctests() -> None:
    for module in (http, twilio):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0


def test_twilio_sends_and_classifies_every_documented_answer() -> None:
    async def body(base: str, peer: TwilioPeer, _: GatewayPeer) -> None:
        channel = twilio.build(twilio_config(base, concurrency=4))
        batch = [
            SmsMessage("s_ok", "+380 50 123 45 67", "Привіт, Олено! Знижка −20% 🎉"),
            SmsMessage("s_invalid", "+15005550001", "hi"),
            SmsMessage("s_landline", "+15005550009", "hi"),
            SmsMessage("s_stop", "+15005550004", "hi"),
            SmsMessage("s_busy", "+15005550429", "hi"),
            SmsMessage("s_down", "+15005550500", "hi"),
            SmsMessage("s_bad", "12", "hi"),  # refused before any request
            SmsMessage("s_alpha", "+14155550100", "hi", sender="Retenta"),
        ]
        try:
            results = await channel.send(batch)
        finally:
            await channel.close()
        assert [r.send_id for r in results] == [m.send_id for m in batch]
        by_id = {r.send_id: r for r in results}
        ok = by_id["s_ok"]
        assert ok.outcome is Outcome.SENT
        assert ok.remote_id is not None
        assert ok.remote_id.startswith("SM")
        assert (by_id["s_invalid"].outcome, by_id["s_invalid"].detail) == (
            Outcome.PERMANENT, "invalid_number")  # fmt: skip
        assert by_id["s_invalid"].code == 400
        assert "21211" in by_id["s_invalid"].reason
        assert by_id["s_landline"].detail == "invalid_number"
        assert (by_id["s_stop"].outcome, by_id["s_stop"].detail) == (
            Outcome.PERMANENT, "unsubscribed")  # fmt: skip
        busy = by_id["s_busy"]
        assert busy.outcome is Outcome.TEMPORARY
        assert "retry-after=7" in busy.reason
        assert by_id["s_down"].outcome is Outcome.TEMPORARY
        assert (by_id["s_bad"].outcome, by_id["s_bad"].detail) == (
            Outcome.PERMANENT, "invalid_number")  # fmt: skip
        assert by_id["s_alpha"].ok
        sent = {f["To"]: f for f in peer.received}
        assert "12" not in sent  # never offered to the provider
        first = sent["+380501234567"]  # normalized to E.164
        assert first["Body"] == "Привіт, Олено! Знижка −20% 🎉"
        assert first["From"] == "+15005550006"
        assert first["StatusCallback"] == "https://retenta.example/hooks/sms/twilio/ws_1/main/s_ok"
        assert sent["+14155550100"]["From"] == "Retenta"

    serve(body)


def test_twilio_messaging_service_and_bad_credentials() -> None:
    async def body(base: str, peer: TwilioPeer, _: GatewayPeer) -> None:
        service = "MG" + "ab" * 16
        channel = twilio.build(twilio_config(base, sender=None, messaging_service_sid=service))
        wrong = twilio.build(twilio_config(base, auth_token="0" * 32))
        try:
            [ok] = await channel.send([SmsMessage("s1", "+14155550100", "hello")])
            [refused] = await wrong.send([SmsMessage("s2", "+14155550100", "hello")])
        finally:
            await channel.close()
            await wrong.close()
        assert ok.ok
        assert peer.received[0]["MessagingServiceSid"] == service
        assert "From" not in peer.received[0]
        assert refused.outcome is Outcome.TEMPORARY  # the settings are wrong, not the message
        assert refused.detail == "twilio_20003"
        assert peer.refused_auth == 1
        good = await twilio.check(twilio_config(base))
        bad = await twilio.check(twilio_config(base, auth_token="0" * 32))
        assert good.ok
        assert "Shop" in good.message
        assert not bad.ok
        assert "401" in bad.message

    serve(body)


def test_twilio_config_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="account_sid"):
        TwilioConfig.model_validate({"account_sid": "x", "auth_token": "t", "sender": "A"})
    with pytest.raises(ValueError, match="messaging_service_sid"):
        TwilioConfig.model_validate({"account_sid": ACCOUNT, "auth_token": "t"})
    cfg = TwilioConfig.model_validate(
        {"account_sid": ACCOUNT, "auth_token": "s3cr3t-token", "sender": "A"}
    )
    assert "s3cr3t-token" not in repr(cfg)
    assert "s3cr3t-token" not in cfg.model_dump_json()


def json_gateway(base: str, **extra: Any) -> HttpConfig:
    return HttpConfig.model_validate(
        {
            "url": f"{base}/sms/2/text/advanced",
            "auth": {"kind": "header", "header": "Authorization", "value": "App key-123"},
            "sender": "Retenta",
            "body": {"messages": [{"from": "{sender}", "destinations": [{"to": "{to}"}],
                                   "text": "{text}", "callbackData": "{send_id}"}]},
            "message_id_path": "messages[0].messageId",
            "error_code_path": "requestError.serviceException.messageId",
            "error_message_path": "requestError.serviceException.text",
            "invalid_number_codes": ["BAD_REQUEST"],
        }
        | extra
    )  # fmt: skip


def test_http_adapter_json_body_header_auth_and_error_mapping() -> None:
    async def body(base: str, _: TwilioPeer, gateway: GatewayPeer) -> None:
        channel = HttpSmsChannel(json_gateway(base))
        batch = [
            SmsMessage("a", "+48512345678", 'Cześć "{name}" {{x}} ♥'),
            SmsMessage("b", "+48500000001", "x"),
            SmsMessage("c", "+48500000429", "x"),
            SmsMessage("d", "+48500000503", "x"),
        ]
        try:
            results = await channel.send(batch)
        finally:
            await channel.close()
        a, b, c, d = results
        assert (a.outcome, a.remote_id) == (Outcome.SENT, "ib-1")
        sent = gateway.received[0]["messages"][0]
        assert sent == {"from": "Retenta", "destinations": [{"to": "+48512345678"}],
                        "text": 'Cześć "{name}" {{x}} ♥', "callbackData": "a"}  # fmt: skip
        assert (b.outcome, b.detail) == (Outcome.PERMANENT, "invalid_number")
        assert "Invalid destination address" in b.reason
        assert c.outcome is Outcome.TEMPORARY
        assert "retry-after=3" in c.reason
        assert (d.outcome, d.detail) == (Outcome.TEMPORARY, "http_503")

    serve(body)


def test_http_adapter_form_body_query_auth_and_success_rule() -> None:
    async def body(base: str, _: TwilioPeer, gateway: GatewayPeer) -> None:
        config = HttpConfig.model_validate(
            {
                "url": f"{base}/sms/send",
                "auth": {"kind": "query", "parameter": "api_id", "value": "secret-api-id"},
                "body_format": "form",
                "sender": "Shop",
                "body": {"to": "{to}", "msg": "{text}", "from": "{sender}", "json": "1"},
                "success_path": "status",
                "success_values": ["OK"],
                "message_id_path": "sms_id",
                "error_code_path": "status_code",
                "error_message_path": "status_text",
                "invalid_number_codes": ["202"],
            }
        )
        channel = HttpSmsChannel(config)
        wrong_auth = http.QueryAuth(kind="query", parameter="api_id", value="nope")
        wrong = HttpSmsChannel(config.model_copy(update={"auth": wrong_auth}))
        try:
            ok, bad = await channel.send(
                [SmsMessage("a", "+380501234567", "Привіт"), SmsMessage("b", "+380500000002", "x")]
            )
            [denied] = await wrong.send([SmsMessage("c", "+380501234567", "x")])
        finally:
            await channel.close()
            await wrong.close()
        assert (ok.outcome, ok.remote_id) == (Outcome.SENT, "ru-1")
        assert gateway.received[0] == {"to": "+380501234567", "msg": "Привіт", "from": "Shop",
                                       "json": "1"}  # fmt: skip
        assert (bad.outcome, bad.detail) == (Outcome.PERMANENT, "invalid_number")
        assert "invalid recipient" in bad.reason
        assert denied.outcome is Outcome.PERMANENT  # 200 with status ERROR is not success
        assert denied.detail == "error_200"

    serve(body)


def test_http_adapter_basic_and_bearer_auth_reach_the_peer() -> None:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"id": "m1"})

    async def main() -> None:
        app = web.Application()
        app.router.add_route("PUT", "/send", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        common = {"url": f"http://127.0.0.1:{port}/send", "method": "PUT", "sender": "S",
                  "body": {"to": "{to}"}, "message_id_path": "id"}  # fmt: skip
        basic = HttpConfig.model_validate(
            common | {"auth": {"kind": "basic", "username": "u", "password": "p"}}
        )
        bearer = HttpConfig.model_validate(common | {"auth": {"kind": "bearer", "token": "tk"}})
        for config in (basic, bearer):
            channel = HttpSmsChannel(config)
            [result] = await channel.send([SmsMessage("s", "+380501234567", "x")])
            await channel.close()
            assert result.remote_id == "m1"
        await runner.cleanup()

    asyncio.run(main())
    assert seen == ["Basic " + base64.b64encode(b"u:p").decode(), "Bearer tk"]


def test_http_adapter_refuses_unknown_placeholders_and_survives_a_dead_peer() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{phone\}"):
        HttpConfig.model_validate({"url": "https://x.test/send", "body": {"to": "{phone}"}})

    async def main() -> None:
        channel = HttpSmsChannel(
            HttpConfig.model_validate(
                {"url": "http://127.0.0.1:9/send", "sender": "S", "timeout_s": 2}
            )
        )
        [result] = await channel.send([SmsMessage("s", "+380501234567", "x")])
        await channel.close()
        assert (result.outcome, result.detail) == (Outcome.TEMPORARY, "connection")
        checked = await http.check(
            HttpConfig.model_validate({"url": "http://127.0.0.1:9/send", "timeout_s": 2})
        )
        assert not checked.ok

    asyncio.run(main())


def test_the_channel_type_dispatches_on_provider() -> None:
    import retenta.messaging.channels.sms as sms_type
    from retenta.messaging.channels.registry import channel_types
    from retenta.messaging.channels.sms.smpp import SmppChannel

    registered = channel_types()["sms"]
    assert registered.config is sms_type.Config

    async def body(base: str, peer: TwilioPeer, _: GatewayPeer) -> None:
        stored = sms_type.Config.model_validate(
            {"provider": "twilio", "account_sid": ACCOUNT, "auth_token": TOKEN,
             "sender": "+15005550006", "api_base": base}
        )  # fmt: skip
        channel = registered.build(stored)
        assert isinstance(channel, TwilioChannel)
        [result] = await channel.send([SmsMessage("s", "+14155550100", "hi")])
        await channel.close()
        assert result.ok
        assert (await registered.check(stored)).ok
        gateway = sms_type.Config.model_validate({"provider": "http", "url": f"{base}/sms/send"})
        assert isinstance(sms_type.build(gateway), HttpSmsChannel)
        smpp = sms_type.Config.model_validate(
            {"provider": "smpp", "host": "127.0.0.1", "port": 9, "system_id": "a",
             "password": "b", "timeout_s": 1}
        )  # fmt: skip
        assert isinstance(sms_type.build(smpp), SmppChannel)
        refused = await sms_type.check(smpp)
        assert not refused.ok
        assert "bind failed" in refused.message

    serve(body)


def test_numbers_reported_unsubscribed_are_suppressed(container: Any, ws: Any) -> None:
    from retenta.messaging.channels.base import SendResult
    from retenta.messaging.channels.sms.common import suppress_unsubscribed
    from retenta.messaging.suppression import SuppressionStore

    store = SuppressionStore(container.db)
    batch = [SmsMessage("a", "+380501234567", "x"), SmsMessage("b", "+380501234568", "x")]
    results = [
        SendResult("a", Outcome.PERMANENT, "400 [21610]", 400, "unsubscribed"),
        SendResult("b", Outcome.PERMANENT, "400 [21211]", 400, "invalid_number"),
    ]
    assert asyncio.run(suppress_unsubscribed(store, ws.id, batch, results)) == 1
    listed = store.list(ws.id)
    assert [(e["reason"], e["hint"]) for e in listed["items"]] == [
        ("unsubscribed", "+38050******7")
    ]
