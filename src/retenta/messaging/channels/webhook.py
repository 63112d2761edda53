"""The webhook channel: an HMAC-signed JSON call to a system of the workspace's choosing.

A call-centre system, a CRM or a Slack bridge receives ``POST <url>`` (a journey's webhook
node may choose ``GET``, ``PUT``, ``PATCH`` or ``DELETE``; ``GET`` and ``DELETE`` carry no
body, and their signature is over the empty body) with the JSON rendered from the message
and these headers:

- ``Retenta-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``: the
  receiver recomputes it over the raw body and refuses an old ``t`` (replays); see
  :func:`verify`, which is also the recipe to copy;
- ``Idempotency-Key: <send id>``: a retried send carries the same key, so the receiver
  can drop the second copy;
- ``Content-Type: application/json``, ``User-Agent: Retenta-Webhook/1``.

Answers: any 2xx is ``sent``; 408, 429, 5xx, a timeout or a failed connection are ``temporary``
(with Retry-After); any other status (3xx is not followed, 4xx) is ``permanent``.

Targets are the workspace's choice, so they are untrusted: a URL whose host is or resolves
to a private, loopback, link-local or otherwise non-public address is refused
(``detail="target_not_allowed"``, never posted) unless the config says
``allow_private_targets`` (an on-premise system). The check runs on the addresses the
connection actually uses (a resolver that filters them), so DNS rebinding cannot slip past.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently
from retenta.messaging.channels.mobile_push import CheckResult
from retenta.messaging.channels.webpush import parse_retry_after

SIGNATURE_HEADER = "Retenta-Signature"
USER_AGENT = "Retenta-Webhook/1"
DEFAULT_TOLERANCE_S = 300
MAX_BODY = 1024 * 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # RFC 9110 token

__all__ = [
    "Config",
    "WebhookCall",
    "WebhookChannel",
    "build",
    "call",
    "check",
    "request",
    "sign",
    "verify",
]


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """One call: the target, the exact body bytes (signed as they are), extra headers and the
    method (``POST`` unless a journey's webhook node chose another)."""

    send_id: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class WebhookResult(SendResult):
    retry_after: float | None = None  # seconds, from Retry-After (429 / 503)


class TargetNotAllowedError(OSError):
    """The target is (or resolves to) a private / loopback / link-local address."""


BODYLESS_METHODS = frozenset({"GET", "DELETE"})


def call(send_id: str, url: str, document: Mapping[str, Any], **headers: str) -> WebhookCall:
    """A POST whose body is ``document`` as compact UTF-8 JSON (what the receiver parses).

    >>> call("snd_1", "https://crm.example/hook", {"event": "hot_lead", "n": 1}).body
    b'{"event":"hot_lead","n":1}'
    """
    return request(send_id, "POST", url, document, headers)


def request(send_id: str, method: str, url: str, document: Mapping[str, Any] | None,
            headers: Mapping[str, str]) -> WebhookCall:  # fmt: skip
    """A call with ``method``; ``GET`` and ``DELETE`` send no body (``document`` is ignored).

    >>> request("snd_2", "DELETE", "https://crm.example/leads/7", None, {}).body
    b''
    """
    if method in BODYLESS_METHODS:
        return WebhookCall(send_id, url, b"", dict(headers), method)
    body = json.dumps(document or {}, ensure_ascii=False, separators=(",", ":"), default=str)
    return WebhookCall(send_id, url, body.encode(), dict(headers), method)


def rendered_call(send_id: str, url: str, body: str) -> WebhookCall | SendResult:
    """A call from a rendered webhook body, which must be JSON (else a permanent result).

    >>> rendered_call("s1", "https://crm.example/h", '{"lead": "Ann"}').body
    b'{"lead": "Ann"}'
    >>> rendered_call("s1", "https://crm.example/h", '{"lead": Ann}').detail
    'render_error'
    """
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        reason = f"the webhook body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return SendResult(send_id, Outcome.PERMANENT, reason, detail="render_error")
    return WebhookCall(send_id, url, body.encode())


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Retenta-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256>``.

    >>> sign(b"whsec", b'{"a":1}', 1700000000)
    't=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032'
    """
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """The receiver's check: a ``v1`` HMAC over ``"<t>." + raw body`` and a recent ``t``.

    >>> header = sign(b"whsec", b'{"a":1}', 1700000000)
    >>> verify(b"whsec", header, b'{"a":1}', now=1700000010)
    True
    >>> verify(b"whsec", header, b'{"a":2}', now=1700000010)  # edited body
    False
    >>> verify(b"whsec", header, b'{"a":1}', now=1700001000)  # replayed 1,000 s later
    False
    """
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def address_allowed(address: str) -> bool:
    """Only globally routable unicast addresses are public targets.

    >>> [address_allowed(a) for a in ("93.184.216.34", "10.0.0.1", "127.0.0.1",
    ...     "169.254.169.254", "::1", "fd00::1", "100.64.0.1", "0.0.0.0", "224.0.0.1")]
    [True, False, False, False, False, False, False, False, False]
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool = False) -> str:
    """Refuse a target that is not http(s), carries credentials, or is a private literal IP.

    >>> check_url("https://crm.example/hook?x=1")
    'https://crm.example/hook?x=1'
    >>> check_url("http://127.0.0.1:8080/x")
    Traceback (most recent call last):
    ...
    retenta.messaging.channels.webhook.TargetNotAllowedError: 127.0.0.1 is not a public address
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the target must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the target must not carry credentials (use headers)")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if not allow_private and not address_allowed(str(literal)):
        raise TargetNotAllowedError(f"{parts.hostname} is not a public address")
    return url


class PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, then refuses the host if any of its addresses is not public."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        refused = [r["host"] for r in found if not address_allowed(r["host"])]
        if refused:
            raise TargetNotAllowedError(f"{host} resolves to {refused[0]}, not a public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


class Config(BaseModel):
    """A webhook channel's settings (``secret`` is sealed at rest)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="the default target (a call may name its own)")
    secret: SecretStr = Field(min_length=16, description="the HMAC-SHA256 signing secret")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every call")
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    connections: int = Field(default=16, ge=1, le=256)
    allow_private_targets: bool = Field(
        default=False, description="allow private/loopback targets (an on-premise system)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials (use headers)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name) or "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r} is not a valid header name and value")
        return value


class WebhookChannel:
    """``send(batch)``: signed calls, up to ``connections`` at once, never to private hosts."""

    name = "webhook"

    def __init__(
        self,
        secret: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        connections: int = 16,
        allow_private_targets: bool = False,
    ) -> None:
        self.secret = secret
        self.headers = dict(headers or {})
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connections = connections
        self.allow_private = allow_private_targets
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = None if self.allow_private else PublicOnlyResolver()
            connector = aiohttp.TCPConnector(
                limit=self.connections, resolver=resolver, use_dns_cache=False
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def send(self, batch: Sequence[WebhookCall]) -> list[SendResult]:
        return await send_concurrently(batch, self.send_one, self.connections)

    async def send_one(self, message: WebhookCall) -> WebhookResult:
        """Sign and make one call; every failure becomes its result."""
        failed = self._refusal(message)
        if failed is not None:
            return failed
        try:
            async with self.session().request(
                message.method,
                message.url,
                data=message.body or None,
                headers=self._headers(message),
                allow_redirects=False,
            ) as response:
                text = (await response.content.read(200)).decode("utf-8", "replace").strip()
                return _result(message, response.status, response.headers, text)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TargetNotAllowedError):
                return _refused(message, str(exc.os_error))
            return _temporary(message, f"connecting failed: {exc}", "connection")
        except TimeoutError:
            return _temporary(message, f"no answer within {self.timeout.total:g} s", "timeout")
        except aiohttp.ClientError as exc:
            reason = f"the call failed: {type(exc).__name__}: {exc}"
            return _temporary(message, reason, "connection")

    def _refusal(self, message: WebhookCall) -> WebhookResult | None:
        if len(message.body) > MAX_BODY:
            reason = f"body of {len(message.body)} octets exceeds {MAX_BODY}"
            return WebhookResult(message.send_id, Outcome.PERMANENT, reason, None, "invalid")
        try:
            check_url(message.url, allow_private=self.allow_private)
        except TargetNotAllowedError as exc:
            return _refused(message, str(exc))
        except ValueError as exc:
            return WebhookResult(message.send_id, Outcome.PERMANENT, str(exc), None, "invalid")
        return None

    def _headers(self, message: WebhookCall) -> dict[str, str]:
        typed = {"Content-Type": "application/json"} if message.body else {}
        return {
            **self.headers,
            **message.headers,
            **typed,
            "User-Agent": USER_AGENT,
            "Idempotency-Key": message.send_id,
            SIGNATURE_HEADER: sign(self.secret, message.body, int(time.time())),
        }

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def classify(status: int) -> Outcome:
    """A receiver's answer.

    >>> [classify(s).value for s in (200, 204, 301, 400, 404, 410, 408, 429, 500, 503)]
    ['sent', 'sent', 'permanent', 'permanent', 'permanent', 'permanent', 'temporary', \
'temporary', 'temporary', 'temporary']
    """
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (408, 429) or status >= 500:  # 408: the receiver timed out waiting
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


def _result(
    message: WebhookCall, status: int, headers: Mapping[str, str], text: str
) -> WebhookResult:
    outcome = classify(status)
    reason = f"{status}" + (f": {text}" if text and outcome is not Outcome.SENT else "")
    if outcome is Outcome.SENT:
        return WebhookResult(message.send_id, outcome, reason, status)
    retry_after = None
    detail = f"http_{status}"
    if outcome is Outcome.TEMPORARY:
        detail = {408: "timeout", 429: "rate_limited"}.get(status, "server_error")
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if retry_after is not None:
            reason = f"{reason}; retry after {retry_after:g} s"
    return WebhookResult(message.send_id, outcome, reason, status, detail, retry_after=retry_after)


def _temporary(message: WebhookCall, reason: str, detail: str) -> WebhookResult:
    return WebhookResult(message.send_id, Outcome.TEMPORARY, reason, None, detail)


def _refused(message: WebhookCall, reason: str) -> WebhookResult:
    return WebhookResult(message.send_id, Outcome.PERMANENT, reason, None, "target_not_allowed")


def build(config: Config) -> WebhookChannel:
    return WebhookChannel(
        config.secret.get_secret_value().encode(),
        headers=config.headers,
        timeout_s=config.timeout_s,
        connections=config.connections,
        allow_private_targets=config.allow_private_targets,
    )


async def check(config: Config) -> CheckResult:
    """POST a signed ``{"type": "retenta.check"}`` ping to the target; any 2xx passes."""
    channel = build(config)
    ping = call(f"check_{int(time.time())}", config.url, {"type": "retenta.check"})
    try:
        answer = await channel.send_one(ping)
    finally:
        await channel.close()
    if answer.ok:
        return CheckResult(True, f"{config.url} answered {answer.code}")
    return CheckResult(False, f"{config.url}: {answer.reason}")
