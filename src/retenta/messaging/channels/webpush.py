"""The web push channel: VAPID (RFC 8292), aes128gcm payloads (RFC 8291), concurrent POSTs.

``WebPushChannel.send(batch)`` encrypts each :class:`WebPushMessage` for its browser
subscription (a fresh ephemeral ECDH key per message; RFC 8291 written out, read by ``http_ece``),
signs one VAPID JWT per push-service origin (cached until an hour before it expires, not one
ES256 signature per message) and POSTs up to ``connections`` requests at once over reused
keep-alive connections. The client is aiohttp (pywebpush's own async dependency), not httpx:
on this machine httpx 0.28 spent ~3 ms of CPU per POST (≈ 300 POSTs/s, under the issue's
1,000/s bound on its own) against aiohttp's ~0.1 ms (``bench/bench_webpush.py``).
Responses are classified by :func:`classify`:

- 201/202 (any 2xx) sent; the ``Location`` header is the push service's message id;
- 429 and 5xx temporary, with ``Retry-After`` (seconds or an HTTP date) in ``retry_after``;
  later messages of the same batch to that push service are not posted until it has passed;
- 404/410 permanent with ``expired=True`` and ``detail="token_invalid"``: the caller
  removes the subscription;
- 400/403/413 and any other status permanent.

The workspace's key is an EC P-256 key (:class:`VapidKey`); the site's JavaScript passes
:attr:`VapidKey.application_server_key` to ``pushManager.subscribe``.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hmac
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently

Urgency = Literal["very-low", "low", "normal", "high"]

# RFC 8291 §4: one record of at most 4096 octets, 86 octets of header: 3993 octets of payload.
MAX_PAYLOAD = 3993
JWT_LIFETIME_S = 12 * 3600  # RFC 8292 §2: exp no more than 24 hours ahead
JWT_RENEW_BEFORE_S = 3600
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # RFC 8030 §5.4: ≤ 32 base64url characters

# The push services browsers subscribe with (Chrome/Edge via FCM or WNS, Firefox, Safari).
# ``*.x`` matches any host under ``x`` (not ``x`` itself). An endpoint elsewhere is refused:
# the server would POST to any URL a caller hands it (server-side request forgery).
PUSH_SERVICE_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "*.push.apple.com",
    "web.push.apple.com",
)


class EndpointNotAllowedError(ValueError):
    """A subscription endpoint that is not https on a known push service."""


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``allowed_hosts`` (``*.suffix`` for any host under it).

    >>> [host_allowed(h, PUSH_SERVICE_HOSTS) for h in ("fcm.googleapis.com",
    ...     "updates.push.services.mozilla.com", "push.apple.com", "evil-fcm.googleapis.com.x")]
    [True, True, False, False]
    """
    host = host.lower().rstrip(".")
    for pattern in allowed_hosts:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_endpoint(
    endpoint: str,
    allowed_hosts: Sequence[str] = PUSH_SERVICE_HOSTS,
    http_hosts: Sequence[str] = (),
) -> None:
    """Refuse an endpoint that is not ``https`` on an allowed push service.

    ``http_hosts`` (e.g. ``("127.0.0.1",)`` in tests) are allowed too, over http or https.

    >>> check_endpoint("https://fcm.googleapis.com/fcm/send/abc")
    >>> try:
    ...     check_endpoint("https://169.254.169.254/latest/meta-data")
    ... except EndpointNotAllowedError as exc:
    ...     print(exc)
    the endpoint's host '169.254.169.254' is not a known push service
    """
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise EndpointNotAllowedError(f"not a valid push endpoint URL: {exc}") from exc
    if parts.username is not None or parts.password is not None:
        raise EndpointNotAllowedError("a push endpoint must not carry credentials")
    if host and host_allowed(host, http_hosts):
        if parts.scheme not in ("http", "https"):
            raise EndpointNotAllowedError("a push endpoint must be an https URL")
        return
    if parts.scheme != "https":
        raise EndpointNotAllowedError("a push endpoint must be an https URL")
    if not host_allowed(host, allowed_hosts):
        raise EndpointNotAllowedError(f"the endpoint's host {host!r} is not a known push service")


def b64url(data: bytes) -> str:
    """Unpadded base64url, as web push writes keys.

    >>> b64url(b"\\xfb\\xff")
    '-_8'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding.

    >>> b64url_decode("-_8")
    b'\\xfb\\xff'
    """
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=65536)
def origin_of(url: str) -> str:
    """The origin of a push endpoint: the VAPID audience (memoized: one parse per endpoint).

    >>> origin_of("https://fcm.googleapis.com/fcm/send/abc?x=1")
    'https://fcm.googleapis.com'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"not an http(s) push endpoint: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


class VapidKey:
    """A workspace's VAPID key pair (EC P-256) and the JWTs it signs (ES256)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("a VAPID key must be on P-256")
        self.private_key = private_key
        self.public_bytes = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @classmethod
    def generate(cls) -> VapidKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes) -> VapidKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a VAPID key must be an EC private key")
        return cls(key)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def application_server_key(self) -> str:
        """The public key as ``pushManager.subscribe({applicationServerKey})`` takes it."""
        return b64url(self.public_bytes)

    def jwt(self, audience: str, subject: str, expires_at: int) -> str:
        """An ES256 JWT with ``aud``, ``exp`` and ``sub`` (RFC 8292 §2)."""
        header = b64url(b'{"typ":"JWT","alg":"ES256"}')
        claims = {"aud": audience, "exp": expires_at, "sub": subject}
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode("ascii")
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(slots=True)
class _VapidCache:
    key: VapidKey
    subject: str
    headers: dict[str, tuple[str, int]] = field(default_factory=dict)

    def authorization(self, audience: str, now: float) -> str:
        cached = self.headers.get(audience)
        if cached is not None and cached[1] - now > JWT_RENEW_BEFORE_S:
            return cached[0]
        expires_at = int(now) + JWT_LIFETIME_S
        token = self.key.jwt(audience, self.subject, expires_at)
        value = f"vapid t={token}, k={self.key.application_server_key}"
        self.headers[audience] = (value, expires_at)
        return value


@dataclass(frozen=True, slots=True)
class Subscription:
    """A browser's ``PushSubscription``: endpoint, ``p256dh`` public key, ``auth`` secret."""

    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        *,
        allowed_hosts: Sequence[str] | None = PUSH_SERVICE_HOSTS,
        http_hosts: Sequence[str] = (),
    ) -> Subscription:
        """From ``subscription.toJSON()``: ``{"endpoint", "keys": {"p256dh", "auth"}}``.

        An endpoint that is not https on one of ``allowed_hosts`` (the known push services by
        default) or on one of ``http_hosts`` raises :class:`EndpointNotAllowedError`, so a
        forged subscription cannot make the server post to internal addresses. Pass
        ``allowed_hosts=None`` to check only the shape (a trusted, already-checked source).
        """
        keys = data.get("keys") or {}
        subscription = cls(str(data["endpoint"]), str(keys["p256dh"]), str(keys["auth"]))
        if allowed_hosts is not None:
            check_endpoint(subscription.endpoint, allowed_hosts, http_hosts)
        subscription.validate()
        return subscription

    def validate(self) -> None:
        origin_of(self.endpoint)
        if len(b64url_decode(self.auth)) != 16:
            raise ValueError("the auth secret must be 16 octets")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(self.p256dh))


@dataclass(frozen=True, slots=True)
class WebPushMessage:
    send_id: str
    subscription: Subscription
    payload: bytes  # e.g. JSON the service worker shows as a notification
    ttl: int = 86400  # seconds the push service keeps it for an offline browser
    urgency: Urgency | None = None
    topic: str | None = None  # a newer message with the same topic replaces an undelivered one


@dataclass(frozen=True, slots=True)
class WebPushResult(SendResult):
    expired: bool = False  # 404/410: the subscription is gone; remove it
    retry_after: float | None = None  # seconds, from Retry-After (429 / 5xx)
    endpoint: str | None = None  # the subscription's endpoint, to mark an expired one


def classify(status: int) -> Outcome:
    """A push service's answer.

    >>> [classify(s).value for s in (201, 202, 429, 503, 404, 410, 400, 403, 413)]
    ['sent', 'sent', 'temporary', 'temporary', 'permanent', 'permanent', 'permanent', \
'permanent', 'permanent']
    """
    if 200 <= status < 300:
        return Outcome.SENT
    if status == 429 or status >= 500:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


_DETAILS = {
    400: "bad_request",
    403: "vapid_refused",
    404: "token_invalid",
    410: "token_invalid",
    413: "payload_too_large",
    429: "rate_limited",
}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date.

    >>> parse_retry_after("120"), parse_retry_after(None), parse_retry_after("soon")
    (120.0, None, None)
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=0.0)
    60.0
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


RECORD_SIZE = 4096  # one record: a payload up to MAX_PAYLOAD always fits
_ECDH = ec.ECDH()
_P256 = ec.SECP256R1()


@functools.lru_cache(maxsize=65536)
def _receiver(p256dh: str, auth: str) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    """A subscription's public key (parsed), its raw octets and its auth secret, decoded once
    per subscription (a campaign posts to it again and again)."""
    raw = b64url_decode(p256dh)
    key = ec.EllipticCurvePublicKey.from_encoded_point(_P256, raw)
    return key, raw, b64url_decode(auth)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def encrypt(payload: bytes, subscription: Subscription) -> bytes:
    """The aes128gcm body (RFC 8291 over RFC 8188): a fresh ephemeral key per message.

    The key schedule is the RFC's own (HKDF with one output block each, written as its
    HMAC steps): ``IKM = HKDF(auth, ECDH, "WebPush: info\\0" ua_public as_public)``, then
    the CEK and nonce from ``HKDF(salt, IKM)``; one record, padded with the 0x02 delimiter.
    Browsers (and ``http_ece.decrypt``, in the tests) read it.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} octets exceeds {MAX_PAYLOAD}")
    receiver, ua_public, auth = _receiver(subscription.p256dh, subscription.auth)
    sender = ec.generate_private_key(_P256)
    as_public = sender.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    secret = sender.exchange(_ECDH, receiver)
    prk_key = _hmac(auth, secret)
    ikm = _hmac(prk_key, b"WebPush: info\x00" + ua_public + as_public + b"\x01")
    salt = os.urandom(16)
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public
    return header + AESGCM(cek).encrypt(nonce, payload + b"\x02", None)


class WebPushChannel:
    """The web push channel: ``send(batch)`` with up to ``connections`` POSTs in flight."""

    name = "webpush"

    def __init__(
        self,
        key: VapidKey,
        subject: str,
        *,
        connections: int = 32,
        timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        self.vapid = _VapidCache(key, subject)
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._own_session = session is None
        self._session = session
        self._backoff: dict[str, float] = {}  # origin → monotonic time it may be posted again

    def session(self) -> aiohttp.ClientSession:
        """The shared session (created in the running loop): ``connections`` keep-alive ones."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def send(self, batch: Sequence[WebPushMessage]) -> list[SendResult]:
        return await send_concurrently(batch, self.send_one, self.connections)

    async def send_one(self, message: WebPushMessage) -> WebPushResult:
        """Encrypt, sign and POST one message; every failure becomes its result."""
        result = await self._send_one(message)
        return replace(result, endpoint=message.subscription.endpoint)

    async def _send_one(self, message: WebPushMessage) -> WebPushResult:
        try:
            origin = origin_of(message.subscription.endpoint)
            body = encrypt(message.payload, message.subscription)
        except ValueError as exc:
            return WebPushResult(message.send_id, Outcome.PERMANENT, str(exc), None, "invalid")
        waiting = self._backoff.get(origin, 0.0) - time.monotonic()
        if waiting > 0:
            reason = f"{origin} asked to retry later"
            return WebPushResult(
                message.send_id, Outcome.TEMPORARY, reason, None, "backoff", retry_after=waiting
            )
        headers = {
            "Authorization": self.vapid.authorization(origin, time.time()),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(0, int(message.ttl))),
        }
        if message.urgency is not None:
            headers["Urgency"] = message.urgency
        if message.topic is not None:
            if not _TOPIC.match(message.topic):
                reason = "a topic is 1-32 base64url characters"
                return WebPushResult(message.send_id, Outcome.PERMANENT, reason, None, "invalid")
            headers["Topic"] = message.topic
        try:
            async with self.session().post(
                message.subscription.endpoint, data=body, headers=headers
            ) as response:
                text = (await response.content.read(200)).decode("utf-8", "replace").strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"posting to {origin} failed: {type(exc).__name__}: {exc}"
            return WebPushResult(message.send_id, Outcome.TEMPORARY, reason, None, "connection")
        return self._result(message, origin, response, text)

    def _result(
        self, message: WebPushMessage, origin: str, response: aiohttp.ClientResponse, text: str
    ) -> WebPushResult:
        status = response.status
        outcome = classify(status)
        if outcome is Outcome.SENT:
            return WebPushResult(
                message.send_id,
                outcome,
                f"{status} {response.reason or ''}".strip(),
                status,
                remote_id=response.headers.get("Location"),
            )
        retry_after = None
        if outcome is Outcome.TEMPORARY:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after:
                until = time.monotonic() + retry_after
                self._backoff[origin] = max(self._backoff.get(origin, 0.0), until)
        return WebPushResult(
            message.send_id,
            outcome,
            f"{status} {response.reason or ''}".strip() + (f": {text}" if text else ""),
            status,
            _DETAILS.get(status, "server_error" if status >= 500 else f"http_{status}"),
            expired=status in (404, 410),
            retry_after=retry_after,
        )

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


SERVICE_WORKER_JS = """\
// sw.js: shows a Retenta web push notification; the payload is JSON
// {"title", "body", "icon", "url", "tag"}.
self.addEventListener("push", (event) => {
  const data = event.data ? event.data.json() : {};
  event.waitUntil(self.registration.showNotification(data.title || "", {
    body: data.body, icon: data.icon, tag: data.tag, data: {url: data.url},
  }));
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  if (event.notification.data && event.notification.data.url) {
    event.waitUntil(clients.openWindow(event.notification.data.url));
  }
});
"""


def subscribe_snippet(application_server_key: str, subscribe_url: str) -> str:
    """The site's JS: register ``/sw.js``, subscribe, and POST the subscription to Retenta
    (``subscribe_url``: ``https://<retenta>/v1/push/subscriptions?writeKey=<write key>``)."""
    return f"""\
(async () => {{
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const key = {json.dumps(application_server_key)};
  const b64 = key.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
  const registration = await navigator.serviceWorker.register("/sw.js");
  const subscription = await registration.pushManager.subscribe({{
    userVisibleOnly: true, applicationServerKey: Uint8Array.from(raw, (c) => c.charCodeAt(0)),
  }});
  // text/plain keeps it a "simple" cross-origin request (no preflight); the URL carries
  // ?writeKey=, and the site's origin must be in the workspace's allowed_origins.
  await fetch({json.dumps(subscribe_url)}, {{
    method: "POST", headers: {{"Content-Type": "text/plain;charset=UTF-8"}},
    body: JSON.stringify({{subscription: subscription.toJSON()}}),
  }});
}})();
"""
