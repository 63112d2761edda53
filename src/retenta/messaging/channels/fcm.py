"""Firebase Cloud Messaging, HTTP v1: OAuth2 service-account auth and ``messages:send``.

The workspace gives the service account's JSON key (Firebase console → Project settings →
Service accounts). The channel signs an RS256 JWT assertion with its private key
(``iss`` = ``client_email``, ``scope`` = firebase.messaging, ``aud`` = ``token_uri``),
trades it at ``token_uri`` for an access token (RFC 7523 grant), keeps that token until a
minute before it expires, and refreshes it once when FCM answers 401. Each message is one
``POST {base_url}/v1/projects/{project_id}/messages:send``; up to ``connections`` are in
flight at once over aiohttp's keep-alive pool (aiohttp, as the web push channel: httpx cost
~3 ms of CPU per request here).

Answers are mapped as Google documents them (``FcmError.errorCode``, then the HTTP status):

- 200 sent (``name`` is the message id);
- 404 ``UNREGISTERED`` and 400 ``INVALID_ARGUMENT`` about ``message.token`` are permanent
  with ``detail="token_invalid"``: the token is dead, retire it;
- 403 ``SENDER_ID_MISMATCH`` permanent (the token belongs to another Firebase project);
- 429 ``QUOTA_EXCEEDED``, 503 ``UNAVAILABLE``, 500 ``INTERNAL`` temporary, with Retry-After;
- 401: refresh the access token once and retry; still 401 (or ``THIRD_PARTY_AUTH_ERROR``,
  Firebase's own APNs / web push credentials) is temporary ``detail="auth"``;
- any other 4xx permanent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently
from retenta.messaging.channels.mobile_push import (
    TOKEN_INVALID,
    CheckResult,
    MobilePush,
    MobilePushResult,
    check_base_url,
    jwt_rs256,
    result,
    string_data,
)
from retenta.messaging.channels.webpush import parse_retry_after

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_HOSTS = ("*.googleapis.com",)  # fcm.googleapis.com, oauth2.googleapis.com
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # Google accepts at most one hour
RENEW_BEFORE_S = 60
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
PROBE_TOKEN = "retenta-check-not-a-device"  # noqa: S105 (a made-up device token)

__all__ = ["Config", "FcmChannel", "MobilePush", "ServiceAccount", "build", "check", "classify"]


class AuthError(Exception):
    """The token endpoint refused the service account (or could not be reached)."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a Google service-account JSON key the channel uses."""

    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey
    token_uri: str

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        """Parse and check a service-account key file; a ValueError names what is wrong."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from exc
        if not isinstance(doc, dict) or doc.get("type") != "service_account":
            raise ValueError('not a service-account key (its "type" must be "service_account")')
        for name in ("project_id", "client_email", "private_key_id", "private_key", "token_uri"):
            if not isinstance(doc.get(name), str) or not doc[name].strip():
                raise ValueError(f"{name} is missing")
        try:
            key = serialization.load_pem_private_key(doc["private_key"].encode(), password=None)
        except ValueError as exc:
            raise ValueError(f"private_key is not a PEM private key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("private_key must be an RSA key")
        return cls(
            project_id=doc["project_id"],
            client_email=doc["client_email"],
            private_key_id=doc["private_key_id"],
            private_key=key,
            token_uri=check_base_url(doc["token_uri"], "token_uri", GOOGLE_HOSTS),
        )

    def assertion(self, now: float) -> str:
        """The signed JWT traded for an access token (RFC 7523 §2.1)."""
        claims = {
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME_S,
        }
        return jwt_rs256(self.private_key, claims, kid=self.private_key_id)


class Config(BaseModel):
    """An FCM channel's settings (``service_account`` is a secret: stored encrypted)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs hold secrets

    type: Literal["fcm"] = "fcm"
    service_account: SecretStr = Field(description="the service account's JSON key file")
    project_id: str | None = Field(default=None, description="defaults to the key's project_id")
    base_url: str = "https://fcm.googleapis.com"
    connections: int = Field(default=32, ge=1, le=512)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("service_account")
    @classmethod
    def _account(cls, value: SecretStr) -> SecretStr:
        ServiceAccount.from_json(value.get_secret_value())
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value, "base_url", GOOGLE_HOSTS)

    @model_validator(mode="after")
    def _project(self) -> Config:
        if self.project_id is None:
            self.project_id = self.account().project_id
        return self

    def account(self) -> ServiceAccount:
        return ServiceAccount.from_json(self.service_account.get_secret_value())


class _AccessTokens:
    """The OAuth2 access token: fetched once, shared by all requests, refreshed once per 401."""

    def __init__(self, account: ServiceAccount) -> None:
        self.account = account
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def current(self, session: aiohttp.ClientSession) -> str:
        if self.token is not None and self.expires_at - time.time() > RENEW_BEFORE_S:
            return self.token
        return await self.refresh(session, stale=self.token)

    async def refresh(self, session: aiohttp.ClientSession, *, stale: str | None) -> str:
        """A new token, unless another request already replaced ``stale`` meanwhile."""
        async with self._lock:
            fresh = self.token is not None and self.token != stale
            if fresh and self.expires_at - time.time() > RENEW_BEFORE_S:
                assert self.token is not None
                return self.token
            self.token, self.expires_at = await self._fetch(session)
            return self.token

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        now = time.time()
        form = {"grant_type": GRANT_TYPE, "assertion": self.account.assertion(now)}
        self.fetches += 1
        try:
            async with session.post(self.account.token_uri, data=form) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthError(f"the token endpoint failed: {type(exc).__name__}: {exc}") from exc
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = {}
        if status != 200 or not isinstance(doc.get("access_token"), str):
            why = doc.get("error_description") or doc.get("error") or text[:200]
            raise AuthError(f"the token endpoint answered {status}: {why}")
        return doc["access_token"], now + float(doc.get("expires_in", 3600))


def fcm_message(message: MobilePush) -> dict[str, Any]:
    """The ``message`` object of a v1 ``messages:send`` request.

    >>> doc = fcm_message(MobilePush("s1", "tok", title="Hi", body="Sale", url="https://s.ex/a",
    ...     data={"n": 1}, badge=3, collapse_key="sale", ttl_s=600))
    >>> doc["token"], doc["notification"], doc["data"], doc["android"]["ttl"]
    ('tok', {'title': 'Hi', 'body': 'Sale'}, {'n': '1', 'url': 'https://s.ex/a'}, '600s')
    >>> doc["apns"]["payload"]["aps"], doc["webpush"]["fcm_options"]["link"]
    ({'badge': 3}, 'https://s.ex/a')
    """
    notification = {
        key: value
        for key, value in (
            ("title", message.title),
            ("body", message.body),
            ("image", message.image_url),
        )
        if value is not None
    }
    data = string_data(message.data) | ({"url": message.url} if message.url else {})
    android: dict[str, Any] = {"ttl": f"{max(0, message.ttl_s)}s", "priority": "high"}
    if message.collapse_key:
        android["collapse_key"] = message.collapse_key
    if message.sound:
        android["notification"] = {"sound": message.sound}
    aps: dict[str, Any] = {}
    if message.badge is not None:
        aps["badge"] = message.badge
    if message.sound:
        aps["sound"] = message.sound
    expiration = int(time.time()) + message.ttl_s if message.ttl_s > 0 else 0  # 0: now or never
    apns_headers = {"apns-expiration": str(expiration)}
    if message.collapse_key:
        apns_headers["apns-collapse-id"] = message.collapse_key
    apns: dict[str, Any] = {"headers": apns_headers, "payload": {"aps": aps}}
    if message.image_url:
        apns["fcm_options"] = {"image": message.image_url}
    doc: dict[str, Any] = {"token": message.token, "data": data, "android": android, "apns": apns}
    if notification:
        doc["notification"] = notification
    if message.url and message.url.startswith("https://"):
        doc["webpush"] = {"fcm_options": {"link": message.url}}
    return doc


def error_code(doc: Mapping[str, Any]) -> tuple[str, str, list[str]]:
    """``(FcmError errorCode or the status, message, fields named as bad)`` of an error body.

    >>> error_code({"error": {"code": 404, "status": "NOT_FOUND", "message": "gone",
    ...     "details": [{"@type": FCM_ERROR_TYPE, "errorCode": "UNREGISTERED"}]}})
    ('UNREGISTERED', 'gone', [])
    """
    error = doc.get("error") if isinstance(doc.get("error"), dict) else {}
    assert isinstance(error, dict)
    code = str(error.get("status") or "")
    fields: list[str] = []
    for item in error.get("details") or []:
        if not isinstance(item, dict):
            continue
        if item.get("@type") == FCM_ERROR_TYPE and item.get("errorCode"):
            code = str(item["errorCode"])
        if item.get("@type") == BAD_REQUEST_TYPE:
            fields += [str(v.get("field")) for v in item.get("fieldViolations") or []]
    return code, str(error.get("message") or ""), fields


def classify(status: int, code: str, message: str, fields: Sequence[str]) -> tuple[Outcome, str]:
    """``(outcome, detail)`` of an FCM answer, as Google's error-code table says.

    >>> classify(404, "UNREGISTERED", "", [])
    (<Outcome.PERMANENT: 'permanent'>, 'token_invalid')
    >>> classify(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM "
    ...     "registration token", [])[1], classify(400, "INVALID_ARGUMENT", "bad ttl", [])[1]
    ('token_invalid', 'invalid_argument')
    >>> [classify(s, c, "", [])[0].value for s, c in ((429, "QUOTA_EXCEEDED"),
    ...     (503, "UNAVAILABLE"), (500, "INTERNAL"), (403, "SENDER_ID_MISMATCH"))]
    ['temporary', 'temporary', 'temporary', 'permanent']

    A 404 without ``UNREGISTERED`` (a wrong project id) and a 403 without
    ``SENDER_ID_MISMATCH`` (the API not enabled, a missing role) are the workspace's
    settings, not the token: temporary, and no token is retired for them.

    >>> classify(404, "NOT_FOUND", "", []), classify(403, "PERMISSION_DENIED", "", [])[1]
    ((<Outcome.TEMPORARY: 'temporary'>, 'not_found'), 'auth')
    """
    if 200 <= status < 300:
        return Outcome.SENT, "sent"
    if code == "UNREGISTERED":
        return Outcome.PERMANENT, TOKEN_INVALID
    if code == "SENDER_ID_MISMATCH":
        return Outcome.PERMANENT, "sender_id_mismatch"
    if code == "INVALID_ARGUMENT" or status == 400:
        about_token = "message.token" in fields or "registration token" in message.lower()
        return Outcome.PERMANENT, TOKEN_INVALID if about_token else "invalid_argument"
    if status in (401, 403) or code == "THIRD_PARTY_AUTH_ERROR":
        return Outcome.TEMPORARY, "auth"
    if status == 404:
        return Outcome.TEMPORARY, "not_found"
    if status == 429 or code == "QUOTA_EXCEEDED":
        return Outcome.TEMPORARY, "rate_limited"
    if status >= 500:
        return Outcome.TEMPORARY, "unavailable" if status == 503 else "server_error"
    return Outcome.PERMANENT, f"http_{status}"


class FcmChannel:
    """FCM HTTP v1: ``send(batch)`` with up to ``connections`` requests in flight."""

    name = "fcm"

    def __init__(
        self,
        account: ServiceAccount,
        *,
        project_id: str | None = None,
        base_url: str = "https://fcm.googleapis.com",
        connections: int = 32,
        timeout_s: float = 10.0,
    ) -> None:
        self.tokens = _AccessTokens(account)
        self.url = (
            f"{base_url.rstrip('/')}/v1/projects/{project_id or account.project_id}/messages:send"
        )
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def send(self, batch: Sequence[MobilePush]) -> list[SendResult]:
        return await send_concurrently(batch, self.send_one, self.connections)

    async def send_one(self, message: MobilePush) -> MobilePushResult:
        """POST one message (refreshing the access token once on 401); never raises."""
        body = json.dumps({"message": fcm_message(message)}, ensure_ascii=False).encode()
        try:
            token = await self.tokens.current(self.session())
            status, headers, doc = await self._post(body, token)
            if status == 401 and error_code(doc)[0] != "THIRD_PARTY_AUTH_ERROR":
                token = await self.tokens.refresh(self.session(), stale=token)
                status, headers, doc = await self._post(body, token)
        except AuthError as exc:
            return result(message, Outcome.TEMPORARY, str(exc), detail="auth")
        except (aiohttp.ClientError, TimeoutError) as exc:
            why = f"posting to FCM failed: {type(exc).__name__}: {exc}"
            return result(message, Outcome.TEMPORARY, why, detail="connection")
        return _result(message, status, headers, doc)

    async def _post(self, body: bytes, token: str) -> tuple[int, Mapping[str, str], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with self.session().post(self.url, data=body, headers=headers) as response:
            text = await response.text()
            try:
                doc = json.loads(text) if text else {}
            except json.JSONDecodeError:
                doc = {"error": {"message": text[:200]}}
            return response.status, response.headers, doc if isinstance(doc, dict) else {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _result(
    message: MobilePush, status: int, headers: Mapping[str, str], doc: dict[str, Any]
) -> MobilePushResult:
    code, text, fields = error_code(doc)
    outcome, detail = classify(status, code, text, fields)
    if outcome is Outcome.SENT:
        return result(message, outcome, f"{status}", code=status, remote_id=doc.get("name"))
    retry_after = None
    if outcome is Outcome.TEMPORARY:
        retry_after = parse_retry_after(headers.get("Retry-After"))
    reason = _answer(status, code, text)
    return result(message, outcome, reason, code=status, detail=detail, retry_after=retry_after)


def _answer(status: int, code: str, text: str) -> str:
    """``"404 UNREGISTERED: Requested entity was not found."`` (the parts present).

    >>> _answer(404, "", "Not Found"), _answer(503, "UNAVAILABLE", "")
    ('404: Not Found', '503 UNAVAILABLE')
    """
    head = f"{status} {code}".strip()
    return f"{head}: {text}" if text else head


def build(config: Config) -> FcmChannel:
    return FcmChannel(
        config.account(),
        project_id=config.project_id,
        base_url=config.base_url,
        connections=config.connections,
        timeout_s=config.timeout_s,
    )


async def check(config: Config) -> CheckResult:
    """Get an access token, then send a ``validate_only`` message to a made-up token.

    FCM checks the project, the API and the service account's permission before the
    token, so "invalid registration token" means everything else is right.
    """
    channel = build(config)
    probe = {"validate_only": True, "message": {"token": PROBE_TOKEN, "data": {"check": "1"}}}
    try:
        token = await channel.tokens.current(channel.session())
        status, _, doc = await channel._post(json.dumps(probe).encode(), token)
    except AuthError as exc:
        return CheckResult(False, str(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(False, f"FCM could not be reached: {type(exc).__name__}: {exc}")
    finally:
        await channel.close()
    code, text, fields = error_code(doc)
    if status != 200 and classify(status, code, text, fields)[1] != TOKEN_INVALID:
        return CheckResult(False, f"FCM refused: {_answer(status, code, text)}")
    account = channel.tokens.account
    return CheckResult(
        True, f"authenticated as {account.client_email} for project {config.project_id}"
    )
