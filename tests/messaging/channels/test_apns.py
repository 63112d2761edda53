"""The APNs channel against a local HTTP/2 peer that answers as Apple documents.

The peer is a small ASGI app served by hypercorn over TLS (a self-signed certificate for
127.0.0.1 made with ``cryptography`` in the fixture; ALPN h2). For every request it checks:
HTTP/2 (Apple accepts nothing else), ``POST /3/device/<token>``, the provider token with
PyJWT (ES256 against the auth key's public key, ``kid`` = key id, ``iss`` = team id, ``iat``
not older than an hour), ``apns-topic`` = the bundle id, and that the body is JSON with
``aps``. It then answers by the device token's mode: 200 with ``apns-id``, 410
``Unregistered``, 400 ``BadDeviceToken``, 429 ``TooManyRequests``, 503
``ServiceUnavailable``, 400 ``DeviceTokenNotForTopic``; and 403 ``ExpiredProviderToken``
for a provider token it was told to treat as expired.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import doctest
import ipaddress
import json
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from hypercorn.asyncio import serve
from hypercorn.config import Config as ServerConfig
from pydantic import ValidationError

from retenta.app import Container
from retenta.messaging.channels import apns
from retenta.messaging.channels.apns import Config, apns_id, build, check
from retenta.messaging.channels.base import Outcome
from retenta.messaging.channels.mobile_push import TOKEN_INVALID, MobilePush, MobilePushResult
from retenta.messaging.outbox.content import StaticText
from retenta.messaging.services import for_container
from tests.conftest import Workspace

TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "com.retenta.demo"
AUTH_KEY = ec.generate_private_key(ec.SECP256R1())

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as files (hypercorn and the client read them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apns-peer.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "peer.crt", directory / "peer.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_text(pem(key))
    return cert_path, key_path


class ApplePeer:
    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self.public_pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.modes: dict[str, str] = {}
        self.expired_tokens: set[str] = set()
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.http_versions: set[str] = set()
        self.provider_tokens: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        status, answer, extra = self.answer(scope, body)
        if extra and extra[-1] == (b"x-peer-delay", b"1"):
            await asyncio.sleep(2.5)
        headers = [(b"content-type", b"application/json"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def answer(self, scope: Scope, body: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        self.http_versions.add(scope["http_version"])
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        apns_id_header = headers.get("apns-id", str(uuid.uuid4()))
        extra = [(b"apns-id", apns_id_header.encode())]
        if scope["http_version"] != "2" or scope["method"] != "POST":
            return 405, b'{"reason":"MethodNotAllowed"}', extra
        refusal = self.check_provider_token(headers.get("authorization", ""))
        if refusal:
            return 403, json.dumps({"reason": refusal}).encode(), extra
        if headers.get("apns-topic") != TOPIC:
            return 400, b'{"reason":"BadTopic"}', extra
        token = scope["path"].removeprefix("/3/device/")
        doc = json.loads(body)
        assert "aps" in doc
        self.received.append((token, headers, doc))
        return self.by_mode(self.modes.get(token, "ok"), extra)

    def by_mode(self, mode: str, extra: list[tuple[bytes, bytes]]) -> Any:
        if mode == "ok":
            return 200, b"", extra
        if mode == "gone":
            stamp = int(time.time() * 1000)
            return 410, json.dumps({"reason": "Unregistered", "timestamp": stamp}).encode(), extra
        if mode == "busy":
            return 429, b'{"reason":"TooManyRequests"}', [*extra, (b"retry-after", b"12")]
        if mode == "down":
            return 503, b'{"reason":"ServiceUnavailable"}', extra
        if mode == "slow":
            return 200, b"", [*extra, (b"x-peer-delay", b"1")]
        if mode == "other_app":
            return 400, b'{"reason":"DeviceTokenNotForTopic"}', extra
        return 400, b'{"reason":"BadDeviceToken"}', extra

    def check_provider_token(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "MissingProviderToken"
        if token in self.expired_tokens:
            return "ExpiredProviderToken"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token, self.public_pem, algorithms=["ES256"], options={"require": ["iss", "iat"]}
            )
        except jwt.InvalidTokenError:
            return "InvalidProviderToken"
        if header.get("kid") != KEY_ID or claims["iss"] != TEAM:
            return "InvalidProviderToken"
        if time.time() - claims["iat"] > 3600:
            return "ExpiredProviderToken"
        self.provider_tokens.add(token)
        return None


@asynccontextmanager
async def apple(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, *, max_requests: int = 1000, **extra: Any
) -> AsyncIterator[Any]:
    cert, cert_key = self_signed(tmp_path)
    peer = ApplePeer(AUTH_KEY.public_key())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    listener.setblocking(False)
    server = ServerConfig()
    server.bind = [f"fd://{listener.fileno()}"]
    server.certfile, server.keyfile = str(cert), str(cert_key)
    server.accesslog = None
    server.keep_alive_max_requests = max_requests  # then GOAWAY, as Apple may send any time
    stop = asyncio.Event()
    task = asyncio.create_task(serve(peer, server, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    config = Config(
        team_id=TEAM,
        key_id=KEY_ID,
        private_key=pem(key),
        topic=extra.pop("topic", TOPIC),
        base_url=f"https://127.0.0.1:{listener.getsockname()[1]}",
        ca_file=str(cert),
        **extra,
    )
    try:
        yield peer, config
    finally:
        stop.set()
        await task
        listener.detach()  # hypercorn closed the descriptor it was handed


def token() -> str:
    return secrets.token_hex(32)


def alert(send_id: str, device: str, **kw: Any) -> MobilePush:
    return MobilePush(send_id, device, "ios", title="Привіт", body="Знижка −20% 🎉", **kw)


def test_doctests() -> None:
    assert doctest.testmod(apns).failed == 0


def test_alerts_go_over_http2_with_one_provider_token_and_apples_headers(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY) as (peer, config):
            channel = build(config)
            devices = [token() for _ in range(30)]
            batch = [
                alert(f"snd_{i}", d, badge=3, sound="default", collapse_key="sale",
                      url="https://s.ex/o", data={"order": 42}, ttl_s=600)
                for i, d in enumerate(devices)
            ]  # fmt: skip
            try:
                results = await channel.send(batch)
                silent = await channel.send([MobilePush("bg", token(), "ios", data={"s": 1})])
            finally:
                await channel.close()
        assert [r.send_id for r in results] == [m.send_id for m in batch]
        assert all(r.outcome is Outcome.SENT for r in results)
        assert [r.remote_id for r in results] == [apns_id(m.send_id) for m in batch]
        assert peer.http_versions == {"2"}
        assert len(peer.provider_tokens) == 1
        assert channel.tokens.signed == 1
        device, headers, doc = peer.received[0]
        assert device in devices
        assert headers["apns-push-type"] == "alert"
        assert headers["apns-priority"] == "10"
        assert headers["apns-collapse-id"] == "sale"
        assert 590 <= int(headers["apns-expiration"]) - time.time() <= 600
        assert doc == {
            "order": 42,
            "url": "https://s.ex/o",
            "aps": {"alert": {"title": "Привіт", "body": "Знижка −20% 🎉"}, "badge": 3,
                    "sound": "default"},
        }  # fmt: skip
        assert silent[0].ok
        _, bg_headers, bg_doc = peer.received[-1]
        assert bg_headers["apns-push-type"] == "background"
        assert bg_headers["apns-priority"] == "5"
        assert bg_doc == {"s": 1, "aps": {"content-available": 1}}

    asyncio.run(main())


def test_answers_map_as_apple_documents(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY) as (peer, config):
            modes = ["gone", "bad", "busy", "down", "other_app", "ok"]
            devices = {mode: token() for mode in modes}
            peer.modes = {device: mode for mode, device in devices.items()}
            channel = build(config)
            try:
                results = await channel.send([alert(m, devices[m]) for m in modes])
                malformed = await channel.send([alert("x", "not-hex/../../x")])
            finally:
                await channel.close()
        by = {r.send_id: r for r in results}
        assert all(isinstance(r, MobilePushResult) for r in results)
        assert (by["gone"].outcome, by["gone"].code, by["gone"].detail) == (
            Outcome.PERMANENT, 410, TOKEN_INVALID,
        )  # fmt: skip
        assert (by["bad"].code, by["bad"].detail) == (400, TOKEN_INVALID)
        gone = by["gone"]
        assert isinstance(gone, MobilePushResult)
        assert gone.token == devices["gone"]
        busy = by["busy"]
        assert isinstance(busy, MobilePushResult)
        assert (busy.outcome, busy.retry_after) == (Outcome.TEMPORARY, 12.0)
        assert "TooManyRequests" in busy.reason
        assert (by["down"].outcome, by["down"].detail) == (Outcome.TEMPORARY, "unavailable")
        assert (by["other_app"].outcome, by["other_app"].detail) == (
            Outcome.PERMANENT, "device_token_not_for_topic",
        )  # fmt: skip
        assert by["ok"].ok
        assert (malformed[0].outcome, malformed[0].detail) == (Outcome.PERMANENT, TOKEN_INVALID)
        assert len(peer.received) == len(modes)  # the malformed token was never posted

    asyncio.run(main())


class GoawayPeer:
    """A bare h2 server that, after ``limit`` requests on a connection, sends GOAWAY naming
    the last stream it will answer (RFC 9113 §6.8), answers those, and ignores later ones."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.processed: list[str] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        paths: dict[int, str] = {}
        last: int | None = None
        answered = 0
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    paths[event.stream_id] = dict(event.headers)[":path"]
                    if len(paths) == self.limit:
                        last = event.stream_id
                elif isinstance(event, h2.events.StreamEnded):
                    if last is not None and event.stream_id > last:
                        continue  # after the last one it takes: never processed
                    self.processed.append(paths[event.stream_id])
                    conn.send_headers(event.stream_id, [(":status", "200")], end_stream=True)
                    answered += 1
            if answered == self.limit:  # h2 sends nothing after its GOAWAY: answer first
                conn.close_connection(last_stream_id=last)
            writer.write(conn.data_to_send())
            await writer.drain()
            if answered == self.limit:
                break
        writer.close()


def test_streams_a_goaway_left_unprocessed_are_sent_again(tmp_path: Path) -> None:
    async def main() -> None:
        cert, cert_key = self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, cert_key)
        context.set_alpn_protocols(["h2"])
        peer = GoawayPeer(limit=25)
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        origin = f"https://127.0.0.1:{port}"
        config = Config(team_id=TEAM, key_id=KEY_ID, private_key=pem(AUTH_KEY), topic=TOPIC,
                        base_url=origin, ca_file=str(cert), concurrency=10)  # fmt: skip
        channel = build(config)
        devices = [token() for _ in range(100)]
        try:
            results = await channel.send([alert(f"s{i}", d) for i, d in enumerate(devices)])
        finally:
            await channel.close()
            server.close()
        assert [r.reason for r in results if not r.ok] == []
        assert channel.client.connections_made >= 4  # a GOAWAY after every 25
        assert sorted(peer.processed) == sorted(f"/3/device/{d}" for d in devices)  # once each

    asyncio.run(main())


def test_a_silent_server_is_a_temporary_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY, timeout_s=1.0) as (peer, config):
            slow, fine = token(), token()
            peer.modes[slow] = "slow"
            channel = build(config)
            try:
                results = await channel.send([alert("slow", slow), alert("fine", fine)])
            finally:
                await channel.close()
        assert (results[0].outcome, results[0].detail) == (Outcome.TEMPORARY, "timeout")
        assert results[1].ok  # the other stream on the same connection was not held up

    asyncio.run(main())


def test_an_expired_provider_token_is_renewed_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY) as (peer, config):
            channel = build(config)
            try:
                first = await channel.send([alert("a", token())])
                assert channel.tokens.token is not None
                peer.expired_tokens.add(channel.tokens.token)
                batch = [alert(f"b{i}", token()) for i in range(10)]
                renewed = await channel.send(batch)
                assert channel.tokens.signed == 2  # one renewal for ten streams
                channel.tokens.issued_at -= apns.TOKEN_REUSE_S  # 50 minutes later
                later = await channel.send([alert("c", token())])
            finally:
                await channel.close()
        assert first[0].ok
        assert all(r.ok for r in renewed)
        assert later[0].ok
        assert channel.tokens.signed == 3

    asyncio.run(main())


def test_a_key_apple_does_not_know_is_temporary_auth_and_fails_the_check(tmp_path: Path) -> None:
    async def main() -> None:
        other = ec.generate_private_key(ec.SECP256R1())
        async with apple(tmp_path, other) as (peer, config):
            peer.modes["0" * 64] = "bad"  # the check's probe: no device has it
            channel = build(config)
            try:
                results = await channel.send([alert("a", token())])
            finally:
                await channel.close()
            verdict = await check(config)
            good = await check(
                Config.model_validate(config.model_dump() | {"private_key": pem(AUTH_KEY)})
            )
        assert (results[0].outcome, results[0].code, results[0].detail) == (
            Outcome.TEMPORARY, 403, "auth",
        )  # fmt: skip
        assert "InvalidProviderToken" in results[0].reason
        assert not verdict.ok
        assert "InvalidProviderToken" in verdict.message
        assert good.ok, good.message
        assert not peer.received[1:]  # only the check's probe (BadDeviceToken) got through

    asyncio.run(main())


def test_an_untrusted_certificate_is_a_temporary_connection_failure(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY) as (peer, config):
            channel = build(Config.model_validate(config.model_dump() | {"ca_file": None}))
            try:
                results = await channel.send([alert("a", token())])
            finally:
                await channel.close()
        assert (results[0].outcome, results[0].detail) == (Outcome.TEMPORARY, "connection")
        assert "CERTIFICATE_VERIFY_FAILED" in results[0].reason
        assert not peer.received

    asyncio.run(main())


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"team_id": "team"}, "team_id", "10 upper-case"),
        ({"key_id": "KEY"}, "key_id", "10 upper-case"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
         "private_key", "not a PEM private key"),
        ({"base_url": "http://api.push.apple.com"}, "base_url", "https on *.push.apple.com"),
        ({"base_url": "https://10.0.0.8"}, "base_url", "https on *.push.apple.com"),
        ({"topic": ""}, "topic", "at least 1"),
    ],
)  # fmt: skip
def test_config_names_what_is_wrong(change: dict[str, str], field: str, words: str) -> None:
    good = {"team_id": TEAM, "key_id": KEY_ID, "private_key": pem(AUTH_KEY), "topic": TOPIC}
    with pytest.raises(ValidationError) as info:
        Config(**(good | change))
    error = info.value.errors()[0]
    assert error["loc"] == (field,)
    assert words in error["msg"]
    assert Config(**good).url() == "https://api.push.apple.com"
    assert "PRIVATE" not in Config(**good).model_dump_json()
    assert "MIG" not in str(info.value)  # the key's text is never echoed


def test_a_wrong_bundle_id_is_temporary_and_fails_the_check(tmp_path: Path) -> None:
    async def main() -> None:
        async with apple(tmp_path, AUTH_KEY, topic="com.someone.else") as (peer, config):
            channel = build(config)
            try:
                results = await channel.send([alert("a", token())])
            finally:
                await channel.close()
            verdict = await check(config)
        assert (results[0].outcome, results[0].detail) == (Outcome.TEMPORARY, "config")
        assert "BadTopic" in results[0].reason
        assert not verdict.ok
        assert "BadTopic" in verdict.message
        assert peer.received == []

    asyncio.run(main())


def test_push_sends_reach_apns_through_the_send_api(
    tmp_path: Path, client: TestClient, container: Container, ws: Workspace
) -> None:
    """End to end: a hexadecimal device token goes to the workspace's APNs config."""
    svc = for_container(container)
    svc.static_content.add(
        ws.id, "msg_push", "push", StaticText({"title": "Hi", "body": "Sale"}, "promo")
    )
    device = token()
    subscribed = [{"channel": "push", "topic": "*", "status": "subscribed"}]
    body = {"identifiers": {"external_id": "ann", "push_token": device}, "consents": subscribed}
    made = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert made.status_code in (200, 201), made.text

    async def main() -> str:
        async with apple(tmp_path, AUTH_KEY) as (peer, config):
            stored = config.model_dump(mode="json") | {"private_key": pem(AUTH_KEY)}
            put = client.put("/api/v1/channels/apns/default", headers=ws.api_headers, json=stored)
            assert put.status_code == 200, put.text
            sent = client.post("/api/v1/messages/send", headers=ws.api_headers, json={
                "message_id": "msg_push", "contact": {"contact_id": made.json()["id"]},
                "channel": "push"})  # fmt: skip
            assert sent.status_code == 202, sent.text
            await svc.dispatcher.run_until_idle()
            await svc.dispatcher.stop()
            assert [d for d, _, _ in peer.received] == [device]
            assert peer.received[0][2]["aps"]["alert"] == {"title": "Hi", "body": "Sale"}
            assert peer.received[0][1]["apns-id"] == apns_id(sent.json()["send_id"])
            return str(sent.json()["send_id"])

    send_id = asyncio.run(main())
    assert client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()["status"] == "sent"
