"""Apple Push Notification service: token-based auth (ES256 JWT) over HTTP/2.

The workspace gives its APNs auth key (the ``.p8`` file from Apple's developer site), its
key id, its team id and the app's bundle id (the topic). The channel signs one provider
token (``{"alg": "ES256", "kid": key id}`` / ``{"iss": team id, "iat": now}``) and reuses it
for 50 minutes: Apple refuses one older than an hour (``ExpiredProviderToken``) and one
renewed more often than every 20 minutes (``TooManyProviderTokenUpdates``). A 403
``ExpiredProviderToken`` makes it sign a new one once and retry.

Each notification is ``POST /3/device/<token>`` on one multiplexed HTTP/2 connection
(``h2client.py``; Apple accepts only HTTP/2), up to ``concurrency`` streams in flight, with
``apns-topic``, ``apns-push-type``, ``apns-priority``, ``apns-expiration``,
``apns-collapse-id`` and ``apns-id`` (a UUID derived from the send id: a retried send keeps
its id, which Apple echoes back and logs).

Answers, as Apple's "Handling notification responses from APNs" lists them:

- 200 sent (``remote_id`` is the ``apns-id``);
- 410 ``Unregistered`` / ``ExpiredToken`` and 400 ``BadDeviceToken`` permanent with
  ``detail="token_invalid"``: retire the token;
- 429 ``TooManyRequests`` (to one device), 500, 503 temporary (with Retry-After if sent);
- 403 ``ExpiredProviderToken``: a new JWT, once; other 403s (``InvalidProviderToken``, …)
  temporary ``detail="auth"`` (the workspace must fix its key; the message is fine);
- other 400s (``BadTopic``, ``DeviceTokenNotForTopic``, ``PayloadTooLarge``, …) permanent.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hpack import NeverIndexedHeaderTuple
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently
from retenta.messaging.channels.h2client import (
    ConnectionLostError,
    H2Client,
    Header,
    NotSentError,
    Response,
)
from retenta.messaging.channels.mobile_push import (
    TOKEN_INVALID,
    CheckResult,
    MobilePush,
    MobilePushResult,
    check_base_url,
    jwt_es256,
    result,
)
from retenta.messaging.channels.webpush import parse_retry_after

HOSTS = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}
APPLE_HOSTS = ("*.push.apple.com",)  # api.push.apple.com, api.sandbox.push.apple.com
TOKEN_REUSE_S = 50 * 60  # Apple: refresh no more often than 20 min, never older than 60
MAX_PAYLOAD = 4096  # octets, for alert and background notifications
APNS_ID_NAMESPACE = uuid.UUID("8a3c7a6e-5d2b-4f1e-9c0a-7b1d2e3f4a5b")
_DEVICE_TOKEN = re.compile(r"^[0-9a-fA-F]{32,200}$")
_TEAM_OR_KEY_ID = re.compile(r"^[A-Z0-9]{10}$")
_UNIQUE_HEADERS = frozenset({"apns-id", "apns-expiration"})
TOKEN_DEAD_REASONS = frozenset({"Unregistered", "ExpiredToken", "BadDeviceToken"})
CONFIG_REASONS = frozenset({"BadTopic", "MissingTopic", "TopicDisallowed", "BadPath"})

__all__ = ["ApnsChannel", "Config", "MobilePush", "build", "check", "classify"]


class Config(BaseModel):
    """An APNs channel's settings (``private_key`` is a secret: stored encrypted)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs hold secrets

    type: Literal["apns"] = "apns"
    team_id: str = Field(description="the 10-character Apple developer team id")
    key_id: str = Field(description="the 10-character id of the APNs auth key")
    private_key: SecretStr = Field(description="the auth key's .p8 file (PEM, EC P-256)")
    topic: str = Field(min_length=1, max_length=255, description="the app's bundle id")
    environment: Literal["production", "sandbox"] = "production"
    base_url: str | None = Field(default=None, description="overrides the environment's host")
    ca_file: str | None = Field(default=None, description="a private CA (a local test peer)")
    concurrency: int = Field(default=100, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("team_id", "key_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        if not _TEAM_OR_KEY_ID.match(value):
            raise ValueError("must be 10 upper-case letters or digits (as Apple shows it)")
        return value

    @field_validator("private_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        load_key(value.get_secret_value())
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value, "base_url", APPLE_HOSTS)

    def url(self) -> str:
        return self.base_url or HOSTS[self.environment]


def load_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """The APNs auth key (a PKCS#8 PEM of a P-256 key); a ValueError says what is wrong."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except ValueError as exc:
        raise ValueError(f"not a PEM private key (the .p8 file's text): {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("an APNs auth key is an EC P-256 key")
    return key


class ProviderTokens:
    """The provider JWT: signed once, reused for 50 minutes, renewed once per expiry answer."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str) -> None:
        self.key, self.key_id, self.team_id = key, key_id, team_id
        self.token: str | None = None
        self.issued_at = 0.0
        self.signed = 0

    def current(self, now: float | None = None) -> str:
        moment = time.time() if now is None else now
        if self.token is None or moment - self.issued_at >= TOKEN_REUSE_S:
            return self._sign(moment)
        return self.token

    def renew(self, stale: str, now: float | None = None) -> str:
        """A new token unless ``stale`` was already replaced (many streams see one expiry)."""
        if self.token is not None and self.token != stale:
            return self.token
        return self._sign(time.time() if now is None else now)

    def _sign(self, now: float) -> str:
        claims = {"iss": self.team_id, "iat": int(now)}
        self.token, self.issued_at = jwt_es256(self.key, claims, kid=self.key_id), now
        self.signed += 1
        return self.token


def apns_id(send_id: str) -> str:
    """The ``apns-id`` of a send: stable, so a retry carries the same id.

    >>> apns_id("snd_1") == apns_id("snd_1") != apns_id("snd_2")
    True
    """
    return str(uuid.uuid5(APNS_ID_NAMESPACE, send_id))


def payload(message: MobilePush) -> dict[str, Any]:
    """The JSON payload: ``aps`` (alert, badge, sound) plus the app's custom keys.

    >>> payload(MobilePush("s", "ab", "ios", title="Hi", body="Sale", badge=1,
    ...     image_url="https://s.ex/i.png", data={"order": 42}))
    {'order': 42, 'image_url': 'https://s.ex/i.png', 'aps': {'alert': {'title': 'Hi', \
'body': 'Sale'}, 'badge': 1, 'mutable-content': 1}}
    >>> payload(MobilePush("s", "ab", "ios", data={"sync": True}))["aps"]
    {'content-available': 1}
    """
    aps: dict[str, Any] = {}
    alert = {k: v for k, v in (("title", message.title), ("body", message.body)) if v}
    if alert:
        aps["alert"] = alert
    else:
        aps["content-available"] = 1  # a background notification wakes the app silently
    if message.badge is not None:
        aps["badge"] = message.badge
    if message.sound:
        aps["sound"] = message.sound
    if message.image_url and alert:
        aps["mutable-content"] = 1  # the app's service extension downloads the image
    custom = dict(message.data)
    if message.url:
        custom["url"] = message.url
    if message.image_url:
        custom["image_url"] = message.image_url
    return custom | {"aps": aps}


def headers(message: MobilePush, topic: str, now: float) -> dict[str, str]:
    """The ``apns-*`` request headers of one notification."""
    alert = bool(message.title or message.body)
    out = {
        "apns-topic": topic,
        "apns-push-type": "alert" if alert else "background",
        "apns-priority": "10" if alert else "5",  # Apple requires 5 for background pushes
        "apns-expiration": str(int(now) + message.ttl_s) if message.ttl_s > 0 else "0",
        "apns-id": apns_id(message.send_id),
    }
    if message.collapse_key:
        out["apns-collapse-id"] = message.collapse_key
    return out


def classify(status: int, reason: str) -> tuple[Outcome, str]:
    """``(outcome, detail)`` of an APNs answer.

    >>> [classify(s, r)[1] for s, r in ((410, "Unregistered"), (400, "BadDeviceToken"),
    ...     (429, "TooManyRequests"), (403, "InvalidProviderToken"),
    ...     (400, "DeviceTokenNotForTopic"), (413, "PayloadTooLarge"))]
    ['token_invalid', 'token_invalid', 'rate_limited', 'auth', 'device_token_not_for_topic', \
'payload_too_large']

    A refused topic is the workspace's settings (the bundle id), not the message: it is
    temporary, so the sends wait for the fix instead of failing.

    >>> classify(400, "BadTopic"), classify(400, "IdleTimeout")[1]
    ((<Outcome.TEMPORARY: 'temporary'>, 'config'), 'connection')
    """
    if status == 200:
        return Outcome.SENT, "sent"
    if status == 410 or reason in TOKEN_DEAD_REASONS:
        return Outcome.PERMANENT, TOKEN_INVALID
    if status == 429:
        return Outcome.TEMPORARY, "rate_limited"
    if status >= 500:
        return Outcome.TEMPORARY, "unavailable" if status == 503 else "server_error"
    if status == 403:
        return Outcome.TEMPORARY, "auth"
    if reason in CONFIG_REASONS:
        return Outcome.TEMPORARY, "config"
    if reason == "IdleTimeout":
        return Outcome.TEMPORARY, "connection"
    return Outcome.PERMANENT, re.sub(r"(?<!^)(?=[A-Z])", "_", reason).lower() or f"http_{status}"


class ApnsChannel:
    """APNs over one HTTP/2 connection: ``send(batch)`` with ``concurrency`` streams at once."""

    name = "apns"

    def __init__(
        self,
        tokens: ProviderTokens,
        *,
        topic: str,
        base_url: str = HOSTS["production"],
        ssl_context: ssl.SSLContext | None = None,
        concurrency: int = 100,
        timeout_s: float = 10.0,
    ) -> None:
        self.tokens = tokens
        self.topic = topic
        parts = urlsplit(base_url)
        self.client = H2Client(
            parts.hostname or "", parts.port or 443,
            ssl_context=ssl_context or ssl.create_default_context(),
            max_streams=concurrency, connect_timeout_s=timeout_s,
        )  # fmt: skip
        self.concurrency = concurrency
        self.timeout = timeout_s

    async def send(self, batch: Sequence[MobilePush]) -> list[SendResult]:
        return await send_concurrently(batch, self.send_one, self.concurrency)

    async def send_one(self, message: MobilePush) -> MobilePushResult:
        """POST one notification (a new provider token once on expiry); never raises."""
        if not _DEVICE_TOKEN.match(message.token):
            why = "not an APNs device token (hexadecimal)"
            return result(message, Outcome.PERMANENT, why, detail=TOKEN_INVALID)
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) > MAX_PAYLOAD:
            why = f"payload of {len(body)} octets exceeds {MAX_PAYLOAD}"
            return result(message, Outcome.PERMANENT, why, detail="payload_too_large")
        try:
            jwt = self.tokens.current()
            response = await self._post(message, body, jwt)
            if response.status == 403 and _reason(response) == "ExpiredProviderToken":
                response = await self._post(message, body, self.tokens.renew(jwt))
        except (NotSentError, ConnectionLostError) as exc:
            why = f"posting to APNs failed: {exc}"
            return result(message, Outcome.TEMPORARY, why, detail="connection")
        except TimeoutError:
            why = f"APNs did not answer within {self.timeout:g} s"
            return result(message, Outcome.TEMPORARY, why, detail="timeout")
        return _result(message, response)

    async def _post(self, message: MobilePush, body: bytes, jwt: str) -> Response:
        """POST once; a request the server never processed (GOAWAY, refused) is sent again."""
        named = {**headers(message, self.topic, time.time()), "authorization": f"bearer {jwt}"}
        # Values unique to one request would only churn HPACK's table: never index them.
        request_headers: list[Header] = [
            NeverIndexedHeaderTuple(k, v) if k in _UNIQUE_HEADERS else (k, v)
            for k, v in named.items()
        ]
        path = f"/3/device/{message.token}"
        try:
            return await self.client.post(path, request_headers, body, timeout_s=self.timeout)
        except NotSentError:
            return await self.client.post(path, request_headers, body, timeout_s=self.timeout)

    async def close(self) -> None:
        await self.client.close()


def _reason(response: Response) -> str:
    try:
        doc = json.loads(response.body) if response.body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return str(doc.get("reason") or "") if isinstance(doc, Mapping) else ""


def _result(message: MobilePush, response: Response) -> MobilePushResult:
    status, reason = response.status, _reason(response)
    outcome, detail = classify(status, reason)
    remote_id = response.headers.get("apns-id")
    if outcome is Outcome.SENT:
        return result(message, outcome, "200", code=status, remote_id=remote_id)
    retry_after = None
    if outcome is Outcome.TEMPORARY:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    why = f"{status} {reason}".strip()
    return result(
        message, outcome, why, code=status, detail=detail, remote_id=remote_id,
        retry_after=retry_after,
    )  # fmt: skip


def tls(config: Config) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config.ca_file)


def build(config: Config) -> ApnsChannel:
    key = load_key(config.private_key.get_secret_value())
    return ApnsChannel(
        ProviderTokens(key, config.key_id, config.team_id),
        topic=config.topic,
        base_url=config.url(),
        ssl_context=tls(config),
        concurrency=config.concurrency,
        timeout_s=config.timeout_s,
    )


async def check(config: Config) -> CheckResult:
    """Send to a token no device has: Apple answers ``BadDeviceToken`` only once the
    provider token and the topic are accepted (403 / ``BadTopic`` otherwise)."""
    channel = build(config)
    probe = MobilePush("check", "0" * 64, "ios", data={"check": True})
    try:
        answer = await channel.send_one(probe)
    finally:
        await channel.close()
    if answer.detail == TOKEN_INVALID or answer.ok:
        return CheckResult(True, f"APNs accepted the key {config.key_id} for {config.topic}")
    return CheckResult(False, f"APNs refused: {answer.reason}")
