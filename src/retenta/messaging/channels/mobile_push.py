"""What the mobile push channels share: the message, the result, JWT signing, config checks.

``MobilePush`` is the one message type of both FCM (``fcm.py``) and APNs (``apns.py``): a
notification for one device token. A result the provider says means "this token is dead"
(FCM ``UNREGISTERED``, APNs 410 / ``BadDeviceToken``) carries ``detail="token_invalid"`` and
the token, so the sender retires it (``messaging/inbox/devices.py``). Throttling answers are
``temporary`` with the wait in ``retry_after`` and in ``reason``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from retenta.messaging.channels.base import Outcome, SendResult

TOKEN_INVALID = "token_invalid"  # noqa: S105 (a result detail, not a secret)
Platform = Literal["android", "ios", "web"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class MobilePush:
    """One notification for one device token (FCM registration token or APNs device token)."""

    send_id: str
    token: str
    platform: Platform = "android"
    title: str | None = None
    body: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)  # custom key/values for the app
    image_url: str | None = None
    url: str | None = None  # opened when the notification is tapped (deep link)
    badge: int | None = None
    sound: str | None = None
    collapse_key: str | None = None  # a newer message with the same key replaces an older one
    ttl_s: int = 86400  # how long the provider keeps it for an offline device


@dataclass(frozen=True, slots=True)
class MobilePushResult(SendResult):
    token: str | None = None  # the device token, so a ``token_invalid`` one can be retired
    retry_after: float | None = None  # seconds the provider asked to wait (429 / 503)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer of a channel's ``check(config)``: could it authenticate with the provider?"""

    ok: bool
    message: str


def result(
    message: MobilePush,
    outcome: Outcome,
    reason: str,
    *,
    code: int | None = None,
    detail: str | None = None,
    remote_id: str | None = None,
    retry_after: float | None = None,
) -> MobilePushResult:
    """A result for ``message`` (the wait, when there is one, is also said in the reason)."""
    if retry_after is not None:
        reason = f"{reason}; retry after {retry_after:g} s"
    return MobilePushResult(
        message.send_id, outcome, reason, code, detail, remote_id, message.token, retry_after
    )


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWTs write their parts.

    >>> b64url(b"\\xfb\\xff")
    '-_8'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signing_input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    dump = json.dumps  # compact, stable key order: the JWT bytes are reproducible
    head = b64url(dump(header, separators=(",", ":")).encode())
    body = b64url(dump(claims, separators=(",", ":")).encode())
    return f"{head}.{body}"


def jwt_rs256(key: rsa.RSAPrivateKey, claims: Mapping[str, Any], *, kid: str | None = None) -> str:
    """An RS256 JWT (RSASSA-PKCS1-v1_5 with SHA-256), as Google's OAuth2 assertion needs."""
    header = {"alg": "RS256", "typ": "JWT"} | ({"kid": kid} if kid else {})
    signing_input = _signing_input(header, claims)
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def jwt_es256(key: ec.EllipticCurvePrivateKey, claims: Mapping[str, Any], *, kid: str) -> str:
    """An ES256 JWT (P-256, the raw ``r || s`` signature of RFC 7518 §3.4), as APNs needs."""
    signing_input = _signing_input({"alg": "ES256", "kid": kid}, claims)
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def check_base_url(url: str, field_name: str, provider_hosts: tuple[str, ...]) -> str:
    """A provider URL: https on one of the provider's hosts (``*.x`` for any host under
    ``x``), or this machine (a local test peer, http allowed). Anything else would let a
    workspace's settings make the server call into its own network.

    >>> check_base_url("https://fcm.googleapis.com/", "base_url", ("fcm.googleapis.com",))
    'https://fcm.googleapis.com'
    >>> check_base_url("https://169.254.169.254", "base_url", ("fcm.googleapis.com",))
    Traceback (most recent call last):
    ...
    ValueError: base_url must be https on fcm.googleapis.com (or 127.0.0.1 / localhost)
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise ValueError(f"{field_name} must be an absolute URL with a host and no credentials")
    local = host in LOCAL_HOSTS and parts.scheme in ("http", "https")
    if local or (parts.scheme == "https" and _host_matches(host, provider_hosts)):
        return url.rstrip("/")
    names = ", ".join(provider_hosts)
    raise ValueError(f"{field_name} must be https on {names} (or 127.0.0.1 / localhost)")


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    return any(host.endswith(p[1:]) if p.startswith("*.") else host == p for p in patterns)


def string_data(data: Mapping[str, Any]) -> dict[str, str]:
    """FCM's ``data`` holds only strings: other JSON values are sent as their JSON text.

    >>> string_data({"order": 42, "ok": True, "name": "Ann", "items": [1]})
    {'order': '42', 'ok': 'true', 'name': 'Ann', 'items': '[1]'}
    """
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in data.items()
    }


def from_fields(
    send_id: str,
    token: str,
    platform: Platform,
    fields: Mapping[str, str],
    *,
    data: Mapping[str, Any] | None = None,
    collapse_key: str | None = None,
    ttl_s: int = 86400,
) -> MobilePush:
    """A notification from a rendered push content's fields (empty ones are left out).

    >>> from_fields("s1", "tok", "android", {"title": "Hi", "body": "Sale", "url": ""}).url is None
    True
    """

    def field_or_none(name: str) -> str | None:
        return fields.get(name) or None

    return MobilePush(
        send_id, token, platform,
        title=field_or_none("title"), body=field_or_none("body"), data=dict(data or {}),
        image_url=field_or_none("image_url"), url=field_or_none("url"),
        collapse_key=collapse_key, ttl_s=ttl_s,
    )  # fmt: skip
