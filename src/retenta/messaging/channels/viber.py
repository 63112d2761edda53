"""Viber business messages through the Vonage Messages API, with an SMS fallback.

Send: ``POST {api_base}/v1/messages`` (HTTP Basic with the API key and secret), JSON
``{"channel": "viber_service", "message_type": "text" | "image", "to", "from", "text" |
"image": {"url", "caption"}, "client_ref": <send id>, "webhook_url", "viber_service":
{"category", "ttl", "action": {"url", "text"}}}``. 202 answers ``{"message_uuid"}``; errors
are RFC 7807 problems (``type``, ``title``, ``detail``, ``invalid_parameters``): 429 →
temporary with ``Retry-After``; 422 naming the ``to`` parameter → permanent
``invalid_number``; 401 / 5xx → temporary; other 4xx → permanent.

Status webhook: Vonage POSTs ``{"message_uuid", "status": submitted | delivered | read |
rejected | undeliverable, "error": {...}, "client_ref", ...}`` to the message's
``webhook_url`` (``{status_webhook_base}/{send_id}``), signed with a JWT (HS256, the
account's signature secret) whose ``payload_hash`` claim is the SHA-256 of the body.

SMS fallback (``fallback_sms`` on the message, ``fallback_channel`` in the config): a
permanent Viber failure other than an invalid number falls back at once; a message Viber
accepted falls back when a status says rejected / undeliverable, or when its TTL passes
without delivery (``channels/sms/fallback.py``). The result of an immediate fallback is the
SMS's, with ``detail="sms_fallback"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from retenta.messaging.channels.base import Channel, Outcome, SendResult
from retenta.messaging.channels.sms.common import (
    CheckResult,
    InvalidNumberError,
    SmsMessage,
    throttled,
    to_e164,
)
from retenta.messaging.channels.sms.fallback import FallbackStore, Pending
from retenta.messaging.channels.sms.httpbase import Answer, HttpChannel, Request, basic_auth
from retenta.messaging.channels.sms.reports import DeliveryReport, FinalStatus
from retenta.messaging.channels.webpush import parse_retry_after
from retenta.storage.base import Database

API = "https://api.nexmo.com"
MAX_TEXT = 1000  # Viber's limit for a business message text
DELIVERED_STATUSES = {"delivered", "read"}
FAILED_STATUSES = {"rejected", "undeliverable"}


@dataclass(frozen=True, slots=True)
class ViberMessage:
    send_id: str
    to: str  # E.164
    text: str
    image_url: str | None = None
    button_text: str | None = None
    button_url: str | None = None
    fallback_sms: str | None = None  # sent by SMS when Viber cannot deliver


class Config(BaseModel):
    """A Viber channel on Vonage: credentials, the Viber service id, TTL and the fallback."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["vonage"] = "vonage"
    api_key: str = Field(min_length=1, max_length=64)
    api_secret: SecretStr
    sender: str = Field(min_length=1, max_length=50, description="the Viber service id")
    category: Literal["transaction", "promotion"] = "promotion"
    ttl_s: int = Field(default=86400, ge=30, le=259200, description="Viber keeps it this long")
    api_base: str = Field(default=API, pattern=r"^https?://[^?#]+[^/?#]$")
    status_webhook_base: str | None = Field(default=None, pattern=r"^https?://[^?#]+[^/?#]$")
    signature_secret: SecretStr | None = None  # Vonage's signed-webhook secret
    fallback_channel: str | None = Field(default=None, description="SMS channel settings name")
    fallback_sender: str | None = None
    concurrency: int = Field(default=8, ge=1, le=256)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Config:
        if self.status_webhook_base is not None and self.signature_secret is None:
            raise ValueError("status_webhook_base needs the signature_secret to check callbacks")
        return self

    def webhook_url(self, send_id: str) -> str | None:
        base = self.status_webhook_base
        return None if base is None else f"{base}/{send_id}"


def body_of(config: Config, message: ViberMessage) -> dict[str, Any]:
    """The Messages API request body for one message.

    >>> cfg = Config(api_key="k", api_secret="s", sender="16273", ttl_s=600)
    >>> m = ViberMessage("snd_1", "+380501234567", "Hi", "https://x.test/a.jpg", "Buy", "https://x.test")
    >>> b = body_of(cfg, m)
    >>> b["message_type"], b["to"], b["image"]["caption"], b["viber_service"]["action"]["text"]
    ('image', '380501234567', 'Hi', 'Buy')
    """
    body: dict[str, Any] = {
        "channel": "viber_service",
        "to": to_e164(message.to).lstrip("+"),
        "from": config.sender,
        "client_ref": message.send_id,
    }
    if message.image_url:
        body |= {"message_type": "image", "image": {"url": message.image_url}}
        if message.text:
            body["image"]["caption"] = message.text
    else:
        body |= {"message_type": "text", "text": message.text}
    service: dict[str, Any] = {"category": config.category, "ttl": config.ttl_s}
    if message.button_text and message.button_url:
        service["action"] = {"url": message.button_url, "text": message.button_text}
    body["viber_service"] = service
    webhook = config.webhook_url(message.send_id)
    if webhook is not None:
        body |= {"webhook_url": webhook, "webhook_version": "v1"}
    return body


def invalid(message: ViberMessage) -> str | None:
    """Why a message cannot be sent as it is, or ``None``.

    >>> invalid(ViberMessage("s", "+380501234567", "", button_text="Go"))
    'a Viber message needs a text or an image'
    """
    if not message.text and not message.image_url:
        return "a Viber message needs a text or an image"
    if len(message.text) > MAX_TEXT:
        return f"the text has {len(message.text)} characters; Viber allows {MAX_TEXT}"
    if bool(message.button_text) != bool(message.button_url):
        return "a button needs both button_text and button_url"
    for url in (message.image_url, message.button_url):
        if url and not url.startswith("https://"):
            return f"{url!r} is not an https URL"
    return None


def interpret(send_id: str, answer: Answer) -> SendResult:
    """The result of Vonage's answer to a send request."""
    data = answer.json() if isinstance(answer.json(), dict) else {}
    if answer.status == 202 and data.get("message_uuid"):
        return SendResult(send_id, Outcome.SENT, "202 accepted", 202, None,
                          str(data["message_uuid"]))  # fmt: skip
    title = data.get("title") or answer.text[:200]
    reason = f"{answer.status} {title}: {data.get('detail', '')}".rstrip(": ")
    if answer.status == 429:
        retry = parse_retry_after(answer.headers.get("Retry-After"))
        return throttled(send_id, retry, 429, f"vonage throttled ({title})")
    names = {
        str(p.get("name")) for p in data.get("invalid_parameters") or [] if isinstance(p, dict)
    }
    if answer.status == 422 and "to" in names:
        return SendResult(send_id, Outcome.PERMANENT, reason, 422, "invalid_number")
    temporary = answer.status >= 500 or answer.status == 401
    outcome = Outcome.TEMPORARY if temporary else Outcome.PERMANENT
    return SendResult(send_id, outcome, reason, answer.status, f"vonage_{answer.status}")


def reports_of(send_id: str, payload: dict[str, Any]) -> list[DeliveryReport]:
    """What a status webhook means: ``read`` is delivered *and* opened; ``submitted`` nothing.

    >>> [r.status for r in reports_of("s", {"message_uuid": "u1", "status": "read"})]
    ['delivered', 'opened']
    >>> [r] = reports_of("s", {"message_uuid": "u1", "status": "rejected",
    ...                        "error": {"title": 1300, "detail": "not a Viber user"}})
    >>> r.status, r.error_code, r.reason
    ('failed', '1300', 'viber rejected: not a Viber user')
    """
    status = str(payload.get("status", "")).lower()
    if status in DELIVERED_STATUSES:
        finals: list[FinalStatus] = ["delivered", "opened"] if status == "read" else ["delivered"]
    elif status in FAILED_STATUSES:
        finals = ["failed"]
    else:
        return []
    error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
    assert isinstance(error, dict)
    code = error.get("title")
    detail = error.get("detail")
    reason = f"viber {status}" + (f": {detail}" if detail else "")
    remote = payload.get("message_uuid")
    return [
        DeliveryReport(final, "vonage", send_id, None if remote is None else str(remote),
                       None if code is None else str(code), reason, channel="viber")
        for final in finals
    ]  # fmt: skip


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature_valid(secret: str, authorization: str, body: bytes, *, max_age_s: int = 600) -> bool:
    """Whether a webhook's ``Authorization: Bearer <JWT>`` is Vonage's HS256 signature of it.

    The JWT must verify with ``secret``, be issued in the last ``max_age_s`` seconds and carry
    ``payload_hash`` = SHA-256 (hex) of the body, so a replayed token cannot carry another body.
    """
    scheme, _, token = authorization.partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return False
    try:
        header = orjson.loads(_b64url_decode(parts[0]))
        claims = orjson.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return False
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), signature):
        return False
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or abs(time.time() - issued) > max_age_s:
        return False
    payload_hash = hashlib.sha256(body).hexdigest()
    return hmac.compare_digest(str(claims.get("payload_hash", "")), payload_hash)


class ViberChannel(HttpChannel[ViberMessage]):
    """Viber over Vonage; ``sms`` sends immediate fallbacks, ``fallbacks`` keeps the rest."""

    name = "viber"

    def __init__(
        self,
        config: Config,
        *,
        sms: Channel[SmsMessage] | None = None,
        fallbacks: FallbackStore | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(concurrency=config.concurrency, timeout_s=config.timeout_s,
                         session=session)  # fmt: skip
        self.config = config
        self.sms = sms
        self.fallbacks = fallbacks
        self.owns_sms = False  # close the SMS channel with this one (build_for_workspace)

    async def send(self, batch: Sequence[ViberMessage]) -> list[SendResult]:
        results = await super().send(batch)
        results = await self._fall_back_now(batch, results)
        await self._remember_pending(batch, results)
        return results

    def refuse(self, message: ViberMessage) -> SendResult | None:
        try:
            to_e164(message.to)
        except InvalidNumberError as exc:
            return SendResult(message.send_id, Outcome.PERMANENT, str(exc), None, "invalid_number")
        why = invalid(message)
        if why is not None:
            return SendResult(message.send_id, Outcome.PERMANENT, why, None, "invalid")
        return None

    def request(self, message: ViberMessage) -> Request:
        cfg = self.config
        headers = {"Authorization": basic_auth(cfg.api_key, cfg.api_secret.get_secret_value()),
                   "Accept": "application/json"}  # fmt: skip
        return Request("POST", f"{cfg.api_base}/v1/messages", headers, {}, body_of(cfg, message))

    def interpret(self, message: ViberMessage, answer: Answer) -> SendResult:
        return interpret(message.send_id, answer)

    async def _fall_back_now(
        self, batch: Sequence[ViberMessage], results: list[SendResult]
    ) -> list[SendResult]:
        """Send the SMS at once for messages Viber refused for good (not a bad number)."""
        wanted = [
            (i, m) for i, (m, r) in enumerate(zip(batch, results, strict=True))
            if r.permanent and r.detail not in ("invalid_number", "invalid") and m.fallback_sms
        ]  # fmt: skip
        if not wanted or self.sms is None:
            return results
        sms_batch = [SmsMessage(m.send_id, m.to, m.fallback_sms or "", self.config.fallback_sender)
                     for _, m in wanted]  # fmt: skip
        sms_results = await self.sms.send(sms_batch)
        merged = list(results)
        for (index, _), viber, sms in zip(wanted, [results[i] for i, _ in wanted], sms_results,
                                          strict=True):  # fmt: skip
            merged[index] = replace(sms, detail="sms_fallback",
                                    reason=f"viber: {viber.reason}; sms: {sms.reason}")  # fmt: skip
        return merged

    async def _remember_pending(
        self, batch: Sequence[ViberMessage], results: list[SendResult]
    ) -> None:
        if self.fallbacks is None or self.config.fallback_channel is None:
            return
        deadline = datetime.now(UTC) + timedelta(seconds=self.config.ttl_s)
        rows = [
            Pending(m.send_id, self.config.fallback_channel, to_e164(m.to), m.fallback_sms or "",
                    self.config.fallback_sender, r.remote_id, deadline)
            for m, r in zip(batch, results, strict=True)
            if r.ok and r.detail != "sms_fallback" and m.fallback_sms
        ]  # fmt: skip
        await self.fallbacks.add(rows)

    async def close(self) -> None:
        await super().close()
        if self.owns_sms and self.sms is not None:
            await self.sms.close()


def build_for_workspace(
    config: Config, *, db: Database, settings: Any, workspace_id: str
) -> ViberChannel:
    """The channel with its fallback wired: the named SMS channel and the fallback store.

    ``settings`` is the ``ChannelSettingsStore``; without a ``fallback_channel`` (or when that
    SMS channel is not configured) messages go without an SMS fallback.
    """
    from retenta.messaging.channels import sms

    sms_config = None
    if config.fallback_channel is not None:
        sms_config = settings.get(workspace_id, "sms", config.fallback_channel)
    if sms_config is None:
        return ViberChannel(config)
    channel = ViberChannel(config, sms=sms.build(sms_config),
                           fallbacks=FallbackStore(db, workspace_id))  # fmt: skip
    channel.owns_sms = True
    return channel


def build(
    config: Config,
    sms: Channel[SmsMessage] | None = None,
    fallbacks: FallbackStore | None = None,
) -> ViberChannel:
    return ViberChannel(config, sms=sms, fallbacks=fallbacks)


async def check(config: Config) -> CheckResult:
    """Send an empty request: 401 means wrong credentials, 422 that they were accepted."""
    url = f"{config.api_base}/v1/messages"
    headers = {"Authorization": basic_auth(config.api_key, config.api_secret.get_secret_value())}
    timeout = aiohttp.ClientTimeout(total=min(config.timeout_s, 10.0))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json={}, headers=headers) as response,
        ):
            if response.status in (401, 403):
                return CheckResult(False, f"Vonage refused the credentials ({response.status})")
            return CheckResult(True, f"Vonage accepted the credentials ({response.status})")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(False, f"Vonage did not answer: {type(exc).__name__} {exc}")
