"""The FCM HTTP v1 channel against a local peer that answers as Google documents.

The peer is a real aiohttp server on 127.0.0.1 playing both Google endpoints:

- ``POST /token`` checks the RS256 assertion with PyJWT (an independent verifier) against
  the service account's public key (``iss``, ``aud`` = its own token URI, the firebase
  scope, ``exp`` at most an hour after ``iat``) and hands out an access token;
- ``POST /v1/projects/{project}/messages:send`` checks the Bearer token (a revoked one gets
  401 UNAUTHENTICATED), checks that ``data`` holds only strings, and answers by the device
  token's prefix: ``ok`` 200, ``dead`` 404 UNREGISTERED, ``bad`` 400 INVALID_ARGUMENT on
  ``message.token``, ``busy`` 429 QUOTA_EXCEEDED with Retry-After, ``down`` 503,
  ``oops`` 500, ``other`` 403 SENDER_ID_MISMATCH.
"""

from __future__ import annotations

import asyncio
import doctest
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from retenta.app import Container
from retenta.messaging.channels import fcm, mobile_push
from retenta.messaging.channels.base import Outcome
from retenta.messaging.channels.fcm import Config, FcmChannel, build, check
from retenta.messaging.channels.mobile_push import TOKEN_INVALID, MobilePush, MobilePushResult
from retenta.messaging.inbox.devices import tokens_for
from retenta.messaging.outbox.content import StaticText
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.channels.test_webhook import ThreadedApp

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PROJECT = "retenta-test"


def fcm_error(status: int, name: str, code: str, message: str, extra: Any = ()) -> web.Response:
    details = [{"@type": fcm.FCM_ERROR_TYPE, "errorCode": code}, *extra]
    doc = {"error": {"code": status, "message": message, "status": name, "details": details}}
    return web.json_response(doc, status=status)


class FcmPeer:
    def __init__(self, key: rsa.RSAPrivateKey, *, refuse_grant: bool = False) -> None:
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.refuse_grant = refuse_grant
        self.origin = ""
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.refuse_all = False
        self.probes = 0
        self.received: list[dict[str, Any]] = []
        self.assertions: list[dict[str, Any]] = []

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != fcm.GRANT_TYPE:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                str(form["assertion"]),
                self.public_pem,
                algorithms=["RS256"],
                audience=f"{self.origin}/token",
                options={"require": ["iss", "aud", "exp", "iat", "scope"]},
            )
        except jwt.InvalidTokenError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": str(exc)}, status=400
            )
        if self.refuse_grant:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        assert claims["scope"] == fcm.SCOPE
        assert claims["iss"] == "push@retenta-test.iam.gserviceaccount.com"
        assert 0 < claims["exp"] - claims["iat"] <= 3600
        self.assertions.append(claims)
        access = f"ya29.test-{len(self.issued)}"
        self.issued.append(access)
        return web.json_response(
            {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued or bearer in self.revoked or self.refuse_all:
            return web.json_response(
                {"error": {"code": 401, "message": "Request had invalid authentication"
                           " credentials.", "status": "UNAUTHENTICATED"}},
                status=401,
            )  # fmt: skip
        if request.match_info["project"] != PROJECT:
            return fcm_error(404, "NOT_FOUND", "UNSPECIFIED_ERROR", "unknown project")
        doc = await request.json()
        message = doc["message"]
        if doc.get("validate_only"):
            self.probes += 1
            return self.answer("bad", 0)  # a made-up token: checked after everything else
        if any(not isinstance(v, str) for v in message.get("data", {}).values()):
            return fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "data must be strings")
        self.received.append(message)
        kind = message["token"].split("-", 1)[0]
        return self.answer(kind, len(self.received))

    def answer(self, kind: str, n: int) -> web.Response:
        if kind == "ok":
            return web.json_response({"name": f"projects/{PROJECT}/messages/{n}"})
        if kind == "dead":
            return fcm_error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
        if kind == "bad":
            violation = {
                "@type": fcm.BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": "message.token", "description": "Invalid token"}],
            }
            text = "The registration token is not a valid FCM registration token"
            return fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", text, [violation])
        if kind == "busy":
            response = fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "quota exceeded")
            response.headers["Retry-After"] = "30"
            return response
        if kind == "down":
            return fcm_error(503, "UNAVAILABLE", "UNAVAILABLE", "The service is unavailable.")
        if kind == "oops":
            return fcm_error(500, "INTERNAL", "INTERNAL", "Internal error.")
        if kind == "other":
            return fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch")
        return self.answer("bad", n)


def service_account(origin: str, key: rsa.RSAPrivateKey = KEY) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "kid-1",
            "private_key": pem,
            "client_email": "push@retenta-test.iam.gserviceaccount.com",
            "token_uri": f"{origin}/token",
        }
    )


Body = Callable[[FcmPeer, Config], Awaitable[None]]


def run(body: Body, *, refuse_grant: bool = False) -> None:
    async def main() -> None:
        peer = FcmPeer(KEY, refuse_grant=refuse_grant)
        app = web.Application()
        app.router.add_post("/token", peer.token)
        app.router.add_post("/v1/projects/{project}/messages:send", peer.send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        peer.origin = f"http://127.0.0.1:{port}"
        config = Config(service_account=service_account(peer.origin), base_url=peer.origin)
        try:
            await body(peer, config)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def push(send_id: str, token: str, **kw: Any) -> MobilePush:
    return MobilePush(send_id, token, "android", title="Привіт", body="Знижка −20% 🎉", **kw)


def test_doctests() -> None:
    assert doctest.testmod(fcm).failed == 0
    assert doctest.testmod(mobile_push).failed == 0


def test_sends_with_one_access_token_and_the_documented_message() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        channel = build(config)
        try:
            batch = [
                push(f"s{i}", f"ok-{i}", data={"order": 42, "x": "y"}, url="https://s.ex/o",
                     image_url="https://s.ex/i.png", badge=2, sound="default",
                     collapse_key="sale", ttl_s=600)
                for i in range(40)
            ]  # fmt: skip
            results = await channel.send(batch)
        finally:
            await channel.close()
        assert [r.send_id for r in results] == [m.send_id for m in batch]
        assert all(r.outcome is Outcome.SENT and r.code == 200 for r in results)
        assert {r.remote_id for r in results} == {
            f"projects/{PROJECT}/messages/{n}" for n in range(1, 41)
        }
        assert len(peer.issued) == 1  # one OAuth exchange for the whole batch
        got = peer.received[0]
        assert got["notification"] == {
            "title": "Привіт", "body": "Знижка −20% 🎉", "image": "https://s.ex/i.png"
        }  # fmt: skip
        assert got["data"] == {"order": "42", "x": "y", "url": "https://s.ex/o"}
        assert got["android"] == {
            "ttl": "600s", "priority": "high", "collapse_key": "sale",
            "notification": {"sound": "default"},
        }  # fmt: skip
        assert got["apns"]["payload"]["aps"] == {"badge": 2, "sound": "default"}
        assert got["apns"]["headers"]["apns-collapse-id"] == "sale"
        assert got["webpush"] == {"fcm_options": {"link": "https://s.ex/o"}}

    run(body)


def test_error_mapping_follows_googles_table() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        channel = build(config)
        kinds = ["dead", "bad", "busy", "down", "oops", "other", "ok"]
        try:
            results = await channel.send([push(k, f"{k}-1") for k in kinds])
        finally:
            await channel.close()
        by = {r.send_id: r for r in results}
        assert all(isinstance(r, MobilePushResult) for r in results)
        dead, bad = by["dead"], by["bad"]
        assert (dead.outcome, dead.code, dead.detail) == (Outcome.PERMANENT, 404, TOKEN_INVALID)
        assert (bad.outcome, bad.code, bad.detail) == (Outcome.PERMANENT, 400, TOKEN_INVALID)
        assert isinstance(dead, MobilePushResult)
        assert dead.token == "dead-1"
        busy = by["busy"]
        assert isinstance(busy, MobilePushResult)
        assert (busy.outcome, busy.code, busy.retry_after) == (Outcome.TEMPORARY, 429, 30.0)
        assert "retry after 30 s" in busy.reason
        assert "QUOTA_EXCEEDED" in busy.reason
        assert (by["down"].outcome, by["down"].detail) == (Outcome.TEMPORARY, "unavailable")
        assert (by["oops"].outcome, by["oops"].detail) == (Outcome.TEMPORARY, "server_error")
        other = by["other"]
        assert (other.outcome, other.detail) == (Outcome.PERMANENT, "sender_id_mismatch")
        assert by["ok"].outcome is Outcome.SENT

    run(body)


def test_a_revoked_access_token_is_refreshed_once_for_the_whole_batch() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        channel = build(config)
        try:
            first = await channel.send([push("a", "ok-a")])
            peer.revoked.add(peer.issued[0])  # Google expired it early
            results = await channel.send([push(f"b{i}", f"ok-{i}") for i in range(20)])
            peer.refuse_all = True  # and now every token is refused
            refused = await channel.send([push("c", "ok-c")])
        finally:
            await channel.close()
        assert first[0].ok
        assert all(r.ok for r in results)
        assert len(peer.issued) == 3  # the first, one refresh for 20 messages, one for "c"
        assert refused[0].outcome is Outcome.TEMPORARY
        assert refused[0].detail == "auth"
        assert refused[0].code == 401

    run(body)


def test_a_refused_service_account_is_a_temporary_auth_result_and_a_failed_check() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        channel = build(config)
        try:
            results = await channel.send([push("a", "ok-a"), push("b", "ok-b")])
        finally:
            await channel.close()
        assert [(r.outcome, r.detail) for r in results] == [(Outcome.TEMPORARY, "auth")] * 2
        assert "invalid_grant" not in results[0].reason or "Invalid JWT" in results[0].reason
        assert not peer.received
        verdict = await check(config)
        assert not verdict.ok
        assert "400" in verdict.message

    run(body, refuse_grant=True)


def test_check_authenticates_and_an_assertion_signed_by_another_key_is_refused() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        verdict = await check(config)
        assert verdict.ok, verdict.message
        assert "push@retenta-test.iam.gserviceaccount.com" in verdict.message
        wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = Config(service_account=service_account(peer.origin, wrong), base_url=peer.origin)
        refused = await check(forged)
        assert not refused.ok
        assert "Signature verification failed" in refused.message

    run(body)


def test_a_wrong_project_is_temporary_retires_nothing_and_fails_the_check() -> None:
    async def body(peer: FcmPeer, config: Config) -> None:
        wrong = Config.model_validate(config.model_dump() | {"project_id": "someone-else"})
        channel = build(wrong)
        try:
            results = await channel.send([push("a", "ok-a")])
        finally:
            await channel.close()
        assert (results[0].outcome, results[0].code) == (Outcome.TEMPORARY, 404)
        assert results[0].detail == "not_found"  # not token_invalid: the token is fine
        verdict = await check(wrong)
        assert not verdict.ok
        assert "404" in verdict.message
        assert (await check(config)).ok
        assert peer.probes == 1  # the right project's validate_only probe

    run(body)


def test_unreachable_fcm_is_temporary_connection() -> None:
    async def main() -> None:
        config = Config(
            service_account=service_account("http://127.0.0.1:9"), base_url="http://127.0.0.1:9"
        )
        channel = FcmChannel(config.account(), base_url=config.base_url, timeout_s=2)
        try:
            results = await channel.send([push("a", "ok-a")])
        finally:
            await channel.close()
        assert results[0].outcome is Outcome.TEMPORARY
        assert results[0].detail == "auth"

    asyncio.run(main())


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"type": "authorized_user"}, "service_account", "service_account"),
        ({"private_key": "nope"}, "service_account", "PEM"),
        ({"client_email": ""}, "service_account", "client_email is missing"),
        ({"token_uri": "http://10.1.1.1/token"}, "service_account", "token_uri must be https"),
        ({"token_uri": "https://evil.example/token"}, "service_account", "googleapis.com"),
    ],
)
def test_config_names_what_is_wrong(change: dict[str, str], field: str, words: str) -> None:
    doc = json.loads(service_account("https://oauth2.googleapis.com"))
    doc["token_uri"] = "https://oauth2.googleapis.com/token"
    with pytest.raises(ValidationError) as info:
        Config(service_account=json.dumps(doc | change))
    error = info.value.errors()[0]
    assert error["loc"] == (field,)
    assert words in error["msg"]
    assert "BEGIN PRIVATE KEY" not in str(info.value)  # the secret is never echoed


def test_config_defaults_and_secret_not_shown() -> None:
    doc = json.loads(service_account("https://oauth2.googleapis.com"))
    config = Config(service_account=json.dumps(doc))
    assert config.project_id == PROJECT
    assert config.base_url == "https://fcm.googleapis.com"
    assert "PRIVATE" not in repr(config)
    assert "PRIVATE" not in config.model_dump_json()
    for elsewhere in ("http://fcm.googleapis.com", "https://169.254.169.254", "https://x.example"):
        with pytest.raises(ValidationError, match=r"base_url must be https on \*.googleapis.com"):
            Config(service_account=json.dumps(doc), base_url=elsewhere)


def test_the_channels_api_seals_the_key_and_checks_with_it(
    client: TestClient, ws: Workspace
) -> None:
    peer = FcmPeer(KEY)

    def routes(app: web.Application) -> None:
        app.router.add_post("/token", peer.token)
        app.router.add_post("/v1/projects/{project}/messages:send", peer.send)

    with ThreadedApp(routes) as origin:
        peer.origin = origin
        body = {"service_account": service_account(origin), "base_url": origin}
        put = client.put("/api/v1/channels/fcm/main", json=body, headers=ws.api_headers)
        assert put.status_code == 200, put.text
        assert "PRIVATE KEY" not in put.text
        assert put.json()["config"]["project_id"] == PROJECT
        checked = client.post("/api/v1/channels/fcm/main/check", headers=ws.api_headers)
        assert checked.json()["ok"], checked.text
        assert len(peer.assertions) == 1  # signed with the unsealed key, verified by PyJWT
        renamed = client.put("/api/v1/channels/fcm/main", headers=ws.api_headers,
                             json={"service_account": "********", "base_url": origin,
                                   "connections": 8})  # fmt: skip
        assert renamed.status_code == 200, renamed.text  # the masked key is kept
        assert client.post("/api/v1/channels/fcm/main/check", headers=ws.api_headers).json()["ok"]
        bad = client.put("/api/v1/channels/fcm/bad", json={"service_account": "{}"},
                         headers=ws.api_headers)  # fmt: skip
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "service_account"


def test_push_sends_reach_fcm_through_the_send_api_and_a_dead_token_is_retired(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """End to end: POST /api/v1/messages/send → SENDS' push step → this channel → the peer."""
    svc = for_container(container)
    content = StaticText({"title": "Привіт", "body": "−20%", "url": "https://s.ex/sale"}, "promo")
    svc.static_content.add(ws.id, "msg_push", "push", content)
    subscribed = [{"channel": "push", "topic": "*", "status": "subscribed"}]
    people = {}
    for name, device in (("ann", "ok-ann-device"), ("bob", "dead-bob-device")):
        body = {"identifiers": {"external_id": name, "push_token": device}, "consents": subscribed}
        made = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
        assert made.status_code in (200, 201), made.text
        people[name] = int(made.json()["id"])

    async def main() -> dict[str, str]:
        peer = FcmPeer(KEY)
        app = web.Application()
        app.router.add_post("/token", peer.token)
        app.router.add_post("/v1/projects/{project}/messages:send", peer.send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        peer.origin = f"http://127.0.0.1:{port}"
        config = {"service_account": service_account(peer.origin), "base_url": peer.origin}
        put = client.put("/api/v1/channels/fcm/default", headers=ws.api_headers, json=config)
        assert put.status_code == 200, put.text
        sends = {}
        for name, contact_id in people.items():
            r = client.post("/api/v1/messages/send", headers=ws.api_headers, json={
                "message_id": "msg_push", "contact": {"contact_id": contact_id},
                "channel": "push"})  # fmt: skip
            assert r.status_code == 202, r.text
            sends[name] = r.json()["send_id"]
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        by_token = {m["token"]: m for m in peer.received}
        assert sorted(by_token) == ["dead-bob-device", "ok-ann-device"]
        assert by_token["ok-ann-device"]["notification"] == {"title": "Привіт", "body": "−20%"}
        assert by_token["ok-ann-device"]["data"]["url"] == "https://s.ex/sale"
        return sends

    sends = asyncio.run(main())
    ann = client.get(f"/api/v1/sends/{sends['ann']}", headers=ws.api_headers).json()
    bob = client.get(f"/api/v1/sends/{sends['bob']}", headers=ws.api_headers).json()
    assert ann["status"] == "sent"
    assert bob["status"] == "bounced"  # a permanent refusal by the provider
    assert tokens_for(container.db, ws.id, [people["bob"]]) == {}  # retired
    assert [t.token for t in tokens_for(container.db, ws.id, [people["ann"]])[people["ann"]]] == [
        "ok-ann-device"
    ]
