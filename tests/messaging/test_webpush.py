"""The web push channel against a local push-service peer that checks what a browser would.

The peer is a real HTTP server (aiohttp) on 127.0.0.1. For every POST it verifies the VAPID
JWT with PyJWT (ES256, ``aud`` = its own origin, ``exp`` in the future and at most 24 hours
ahead) against the workspace's public key, and decrypts the aes128gcm body with the
subscriber's own ECDH private key and auth secret (``http_ece.decrypt``), as the browser
does. Paths pick its answer: ``/ok`` 201, ``/gone`` 410, ``/missing`` 404, ``/busy`` 429
with ``Retry-After``, ``/big`` 413, ``/bad`` 400, ``/down`` 503.
"""

from __future__ import annotations

import asyncio
import doctest
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from retenta.messaging.channels import webpush
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.webpush import (
    MAX_PAYLOAD,
    Subscription,
    VapidKey,
    WebPushChannel,
    WebPushMessage,
    WebPushResult,
    b64url,
    b64url_decode,
    encrypt,
)

SUBJECT = "mailto:push@retenta.test"


@dataclass
class Browser:
    """A subscriber: its ECDH key pair and auth secret, as a browser keeps them."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> Subscription:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return Subscription.from_json(
            {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}},
            allowed_hosts=("push.example",),
            http_hosts=("127.0.0.1",),
        )


@dataclass
class Received:
    path: str
    plaintext: bytes
    headers: dict[str, str]
    claims: dict[str, Any]


class PushPeer:
    """A push service on 127.0.0.1 that verifies VAPID and decrypts like the browser."""

    def __init__(self, vapid_public: bytes, browsers: dict[str, Browser]) -> None:
        self.vapid_public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), vapid_public
        )
        self.browsers = browsers  # subscription id (last path segment) → browser
        self.received: list[Received] = []
        self.posts = 0
        self.refusals: list[str] = []
        self.origin = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts += 1
        mode, sub_id = request.match_info["mode"], request.match_info["sub"]
        body = await request.read()
        try:
            claims = self.check_vapid(request.headers.get("Authorization", ""))
        except (ValueError, jwt.InvalidTokenError) as exc:
            self.refusals.append(str(exc))
            return web.Response(status=403, text=f"VAPID refused: {exc}")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return web.Response(status=400, text="not aes128gcm")
        if "TTL" not in request.headers:
            return web.Response(status=400, text="no TTL")
        browser = self.browsers[sub_id]
        plaintext = http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
        self.received.append(Received(mode, plaintext, dict(request.headers), claims))
        if mode == "ok":
            return web.Response(status=201, headers={"Location": f"/m/{len(self.received)}"})
        if mode == "busy":
            return web.Response(status=429, headers={"Retry-After": "30"}, text="slow down")
        status = {"gone": 410, "missing": 404, "big": 413, "bad": 400, "down": 503}[mode]
        return web.Response(status=status, text=mode)

    def check_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"scheme {scheme!r}")
        values = dict(p.strip().split("=", 1) for p in params.split(","))
        pem = self.vapid_public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if b64url_decode(values["k"]) != self.vapid_public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ):
            raise ValueError("k is not the subscribed applicationServerKey")
        claims: dict[str, Any] = jwt.decode(
            values["t"],
            pem,
            algorithms=["ES256"],
            audience=self.origin,
            options={"require": ["aud", "exp", "sub"]},
        )
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("exp more than 24 hours ahead")
        return claims


Body = Callable[[PushPeer, WebPushChannel], Awaitable[None]]


def run(
    body: Body,
    browsers: dict[str, Browser],
    *,
    key: VapidKey,
    peer_key: VapidKey | None = None,
    connections: int = 8,
) -> None:
    async def main() -> None:
        peer = PushPeer((peer_key or key).public_bytes, browsers)
        app = web.Application()
        app.router.add_post("/push/{mode}/{sub}", peer.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        peer.origin = f"http://127.0.0.1:{port}"
        channel = WebPushChannel(key, SUBJECT, connections=connections, timeout_s=5)
        try:
            await body(peer, channel)
        finally:
            await channel.close()
            await runner.cleanup()

    asyncio.run(main())


def message(
    peer: PushPeer, mode: str, sub: str, browsers: dict[str, Browser], i: int, **kw: Any
) -> WebPushMessage:
    payload = json.dumps({"title": f"Привіт {i}", "body": "Знижка −20% 🎉", "n": i}).encode()
    return WebPushMessage(
        f"s{i}", browsers[sub].subscription(f"{peer.origin}/push/{mode}/{sub}"), payload, **kw
    )


def test_doctests() -> None:
    assert doctest.testmod(webpush).failed == 0


def test_payloads_decrypt_at_the_receiver_and_vapid_verifies() -> None:
    key = VapidKey.generate()
    browsers = {f"b{n}": Browser() for n in range(3)}

    async def body(peer: PushPeer, channel: WebPushChannel) -> None:
        batch = [
            message(peer, "ok", f"b{i % 3}", browsers, i, ttl=600, urgency="high", topic="sale")
            for i in range(60)
        ]
        results = await channel.send(batch)
        assert [r.send_id for r in results] == [m.send_id for m in batch]
        assert all(r.outcome is Outcome.SENT and r.code == 201 for r in results)
        assert all(r.remote_id and r.remote_id.startswith("/m/") for r in results)
        assert not peer.refusals
        assert sorted(r.plaintext for r in peer.received) == sorted(m.payload for m in batch)
        for got in peer.received:
            assert got.headers["TTL"] == "600"
            assert got.headers["Urgency"] == "high"
            assert got.headers["Topic"] == "sale"
            assert got.claims["aud"] == peer.origin
            assert got.claims["sub"] == SUBJECT
            assert got.claims["exp"] > time.time() + 11 * 3600
        # one JWT per push-service origin, reused across the batch
        tokens = {r.headers["Authorization"] for r in peer.received}
        assert len(tokens) == 1

    run(body, browsers, key=key)


def test_expired_subscriptions_and_refusals_are_permanent() -> None:
    key = VapidKey.generate()
    browsers = {"b": Browser()}

    async def body(peer: PushPeer, channel: WebPushChannel) -> None:
        modes = ["gone", "missing", "big", "bad", "down", "ok"]
        results = await channel.send(
            [message(peer, m, "b", browsers, i) for i, m in enumerate(modes)]
        )
        by_mode = dict(zip(modes, results, strict=True))
        assert all(isinstance(r, WebPushResult) for r in results)
        for mode in ("gone", "missing"):
            r = by_mode[mode]
            assert isinstance(r, WebPushResult)
            assert r.outcome is Outcome.PERMANENT
            assert r.expired
            assert r.detail == "token_invalid"  # the contract's word for a dead subscription
        assert by_mode["gone"].code == 410
        assert by_mode["missing"].code == 404
        for mode, code in (("big", 413), ("bad", 400)):
            r = by_mode[mode]
            assert isinstance(r, WebPushResult)
            assert r.outcome is Outcome.PERMANENT
            assert not r.expired
            assert r.code == code
        assert by_mode["big"].detail == "payload_too_large"
        assert by_mode["down"].outcome is Outcome.TEMPORARY
        assert by_mode["down"].code == 503
        assert by_mode["ok"].ok
        # every one of them reached the peer and decrypted there
        assert len(peer.received) == len(modes)

    run(body, browsers, key=key, connections=1)


def test_429_retry_after_is_honoured_for_that_push_service() -> None:
    key = VapidKey.generate()
    browsers = {"b": Browser()}

    async def body(peer: PushPeer, channel: WebPushChannel) -> None:
        first = await channel.send([message(peer, "busy", "b", browsers, 0)])
        r = first[0]
        assert isinstance(r, WebPushResult)
        assert r.outcome is Outcome.TEMPORARY
        assert r.code == 429
        assert r.retry_after == 30.0
        assert r.detail == "rate_limited"
        # the same push service is not posted to again until Retry-After has passed
        later = await channel.send([message(peer, "ok", "b", browsers, i) for i in range(1, 5)])
        assert peer.posts == 1
        for r in later:
            assert isinstance(r, WebPushResult)
            assert r.outcome is Outcome.TEMPORARY
            assert r.detail == "backoff"
            assert r.retry_after is not None
            assert 29 < r.retry_after <= 30

    run(body, browsers, key=key, connections=1)


def test_a_jwt_signed_by_another_key_is_refused_403() -> None:
    browsers = {"b": Browser()}

    async def body(peer: PushPeer, channel: WebPushChannel) -> None:
        (r,) = await channel.send([message(peer, "ok", "b", browsers, 0)])
        assert r.outcome is Outcome.PERMANENT
        assert r.code == 403
        assert r.detail == "vapid_refused"
        assert peer.refusals
        assert not peer.received

    run(body, browsers, key=VapidKey.generate(), peer_key=VapidKey.generate())


def test_unreachable_push_service_is_temporary() -> None:
    async def main() -> list[SendResult]:
        channel = WebPushChannel(VapidKey.generate(), SUBJECT, timeout_s=2)
        try:
            sub = Browser().subscription("http://127.0.0.1:9/push/x")
            return await channel.send([WebPushMessage("s", sub, b"hi")])
        finally:
            await channel.close()

    (r,) = asyncio.run(main())
    assert r.outcome is Outcome.TEMPORARY
    assert r.detail == "connection"


def test_invalid_messages_fail_before_posting() -> None:
    key = VapidKey.generate()
    browsers = {"b": Browser()}

    async def body(peer: PushPeer, channel: WebPushChannel) -> None:
        big = message(peer, "ok", "b", browsers, 0)
        big = WebPushMessage("big", big.subscription, b"x" * (MAX_PAYLOAD + 1))
        bad_topic = message(peer, "ok", "b", browsers, 1, topic="has spaces")
        fits = WebPushMessage("fits", big.subscription, b"y" * MAX_PAYLOAD)
        results = await channel.send([big, bad_topic, fits])
        assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.PERMANENT, Outcome.SENT]
        assert results[0].detail == results[1].detail == "invalid"
        assert peer.posts == 1
        assert peer.received[0].plaintext == b"y" * MAX_PAYLOAD

    run(body, browsers, key=key)


def test_keys_subscriptions_and_fresh_encryption() -> None:
    key = VapidKey.generate()
    again = VapidKey.from_pem(key.private_pem())
    assert again.application_server_key == key.application_server_key
    raw = b64url_decode(key.application_server_key)
    assert len(raw) == 65
    assert raw[0] == 4
    assert "=" not in key.application_server_key
    with pytest.raises(ValueError, match="P-256"):
        VapidKey(ec.generate_private_key(ec.SECP384R1()))

    browser = Browser()
    sub = browser.subscription("https://push.example/abc")
    one, two = encrypt(b"same", sub), encrypt(b"same", sub)
    assert one != two  # a fresh salt and ephemeral key per message
    for body in (one, two):
        assert (
            http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
            == b"same"
        )
    assert int.from_bytes(one[16:20], "big") == 4096  # RFC 8188 header: rs, idlen, keyid
    assert (one[20], one[21]) == (65, 4)
    other = Browser()  # receiver keys are cached per p256dh: each body is its browser's alone
    theirs = encrypt(b"theirs", other.subscription("https://push.example/def"))
    assert http_ece.decrypt(
        theirs, private_key=other.private_key, auth_secret=other.auth, version="aes128gcm"
    ) == b"theirs"  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017, PT011 - http_ece raises its own error
        http_ece.decrypt(
            theirs, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
    with pytest.raises(ValueError, match="16 octets"):
        Subscription("https://push.example/a", sub.p256dh, b64url(b"short")).validate()
    with pytest.raises(ValueError, match="push endpoint"):
        Subscription("ftp://push.example/a", sub.p256dh, sub.auth).validate()
    with pytest.raises(ValueError, match="VAPID subject"):
        WebPushChannel(key, "push@retenta.test")
    snippet = webpush.subscribe_snippet(key.application_server_key, "/api/v1/push/subscribe")
    assert key.application_server_key in snippet
    assert "pushManager.subscribe" in snippet
