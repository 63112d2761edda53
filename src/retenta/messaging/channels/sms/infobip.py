"""Infobip SMS API: ``POST {base_url}/sms/2/text/advanced`` and its delivery reports.

Send: header ``Authorization: App <API key>``, JSON ``{"messages": [{"from", "destinations":
[{"to", "messageId"}], "text", "notifyUrl", "notifyContentType", "callbackData"}]}``; the
``messageId`` we give is the send id, so reports name the send. A 200 answer carries each
message's ``status`` (``groupName`` PENDING / REJECTED / UNDELIVERABLE …): PENDING is sent;
REJECTED with a destination / prefix problem is ``invalid_number``; other REJECTED is
permanent. Request errors answer ``{"requestError": {"serviceException": {"messageId",
"text"}}}``: 401 → temporary (the key is wrong, not the message), 429 → throttled, 5xx →
temporary, other 4xx → permanent.

Delivery reports: Infobip POSTs ``{"results": [{"messageId", "status": {"groupName"},
"error": {"id", "name"}, "callbackData"}]}`` to the message's ``notifyUrl``. Infobip does
not sign them, so the URL carries a per-send token, ``HMAC-SHA256(webhook_secret, send
id)``: ``{notify_base}/{send_id}/{token}``, where ``notify_base`` is
``https://<host>/hooks/sms/infobip/<workspace>/<channel>``. Status group DELIVERED →
``delivered``; UNDELIVERABLE, EXPIRED, REJECTED → ``failed``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, model_validator

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms.common import (
    CheckResult,
    SmsMessage,
    SmsSettings,
    refuse,
    throttled,
    to_e164,
)
from retenta.messaging.channels.sms.http import json_path
from retenta.messaging.channels.sms.httpbase import Answer, HttpChannel, Request
from retenta.messaging.channels.sms.reports import DeliveryReport
from retenta.messaging.channels.webpush import parse_retry_after

DELIVERED_GROUPS = {"DELIVERED"}
FAILED_GROUPS = {"UNDELIVERABLE", "EXPIRED", "REJECTED"}
SENT_GROUPS = {"PENDING", "DELIVERED"}
_DESTINATION_WORDS = ("DESTINATION", "PREFIX", "MISSING_TO", "INVALID_TO", "NOT_FOUND")


class InfobipConfig(SmsSettings):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["infobip"] = "infobip"
    base_url: str = Field(pattern=r"^https?://[^?#]+[^/?#]$", description="your API base URL")
    api_key: SecretStr
    notify_base: str | None = Field(
        default=None,
        pattern=r"^https?://[^?#]+[^/?#]$",
        description="public URL for delivery reports; /{send_id}/{token} is appended",
    )
    webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _reports_are_authenticated(self) -> InfobipConfig:
        if self.notify_base is not None and self.webhook_secret is None:
            raise ValueError("notify_base needs a webhook_secret to authenticate the reports")
        return self


def report_token(secret: str, send_id: str) -> str:
    """The token a report URL carries for one send (HMAC-SHA256, 128 bits, hex).

    >>> len(report_token("s", "snd_1")), report_token("s", "snd_1") == report_token("s", "snd_2")
    (32, False)
    """
    return hmac.new(secret.encode(), send_id.encode(), hashlib.sha256).hexdigest()[:32]


def token_valid(secret: str, send_id: str, token: str) -> bool:
    return hmac.compare_digest(report_token(secret, send_id).encode(), token.encode())


def interpret(send_id: str, answer: Answer) -> SendResult:
    """The result of Infobip's answer for a one-message request."""
    data = answer.json()
    group = str(json_path(data, "messages.0.status.groupName") or "")
    name = str(json_path(data, "messages.0.status.name") or "")
    if answer.status == 200 and group in SENT_GROUPS:
        remote = json_path(data, "messages.0.messageId")
        return SendResult(send_id, Outcome.SENT, f"200 {name or group}", 200, None,
                          None if remote is None else str(remote))  # fmt: skip
    if answer.status == 200:
        description = json_path(data, "messages.0.status.description") or ""
        reason = f"infobip {group} {name}: {description}".strip(": ")
        bad_number = any(word in name for word in _DESTINATION_WORDS)
        detail = "invalid_number" if bad_number else f"infobip_{name or group}".lower()
        return SendResult(send_id, Outcome.PERMANENT, reason, 200, detail)
    code = json_path(data, "requestError.serviceException.messageId")
    text = json_path(data, "requestError.serviceException.text") or answer.text[:200]
    if answer.status == 429 or code == "TOO_MANY_REQUESTS":
        return throttled(send_id, parse_retry_after(answer.headers.get("Retry-After")),
                         answer.status, "infobip throttled")  # fmt: skip
    reason = f"{answer.status} [{code}]: {text}"
    temporary = answer.status >= 500 or answer.status == 401
    outcome = Outcome.TEMPORARY if temporary else Outcome.PERMANENT
    return SendResult(send_id, outcome, reason, answer.status, f"infobip_{code or answer.status}")


def reports_of(send_id: str, payload: Any) -> list[DeliveryReport]:
    """The final reports in a delivery-report POST that belong to ``send_id``.

    >>> [r.status for r in reports_of("snd_1", {"results": [
    ...     {"messageId": "snd_1", "status": {"groupName": "DELIVERED"}},
    ...     {"messageId": "snd_2", "status": {"groupName": "DELIVERED"}},
    ...     {"messageId": "snd_1", "status": {"groupName": "PENDING"}}]})]
    ['delivered']
    """
    results = payload.get("results") if isinstance(payload, dict) else None
    reports = []
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict) or send_id not in (item.get("messageId"),
                                                         item.get("callbackData")):  # fmt: skip
            continue
        group = str(json_path(item, "status.groupName") or "")
        if group in DELIVERED_GROUPS:
            final: Literal["delivered", "failed"] = "delivered"
        elif group in FAILED_GROUPS:
            final = "failed"
        else:
            continue
        error = json_path(item, "error.id")
        error_code = None if error in (None, 0) else str(error)
        name = json_path(item, "status.name") or group
        reason = f"infobip {name}" + (f" ({json_path(item, 'error.name')})" if error_code else "")
        reports.append(DeliveryReport(final, "infobip", send_id, str(item.get("messageId")),
                                      error_code, reason))  # fmt: skip
    return reports


class InfobipChannel(HttpChannel[SmsMessage]):
    name = "sms"

    def __init__(self, config: InfobipConfig, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(concurrency=config.concurrency, timeout_s=config.timeout_s,
                         session=session)  # fmt: skip
        self.config = config

    def refuse(self, message: SmsMessage) -> SendResult | None:
        return refuse(message, self.config)

    def notify_url(self, send_id: str) -> str | None:
        cfg = self.config
        if cfg.notify_base is None or cfg.webhook_secret is None:
            return None
        token = report_token(cfg.webhook_secret.get_secret_value(), send_id)
        return f"{cfg.notify_base}/{send_id}/{token}"

    def request(self, message: SmsMessage) -> Request:
        cfg = self.config
        item: dict[str, Any] = {
            "from": message.sender or cfg.sender,
            "destinations": [{"to": to_e164(message.to).lstrip("+"),
                              "messageId": message.send_id}],
            "text": message.text,
            "callbackData": message.send_id,
        }  # fmt: skip
        notify = self.notify_url(message.send_id)
        if notify is not None:
            item |= {"notifyUrl": notify, "notifyContentType": "application/json"}
        headers = {"Authorization": f"App {cfg.api_key.get_secret_value()}",
                   "Accept": "application/json"}  # fmt: skip
        url = f"{cfg.base_url}/sms/2/text/advanced"
        return Request("POST", url, headers, {}, {"messages": [item]})

    def interpret(self, message: SmsMessage, answer: Answer) -> SendResult:
        return interpret(message.send_id, answer)


def build(config: InfobipConfig) -> InfobipChannel:
    return InfobipChannel(config)


async def check(config: InfobipConfig) -> CheckResult:
    """``GET /account/1/balance``: proves the API key without sending anything."""
    headers = {"Authorization": f"App {config.api_key.get_secret_value()}"}
    timeout = aiohttp.ClientTimeout(total=min(config.timeout_s, 10.0))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{config.base_url}/account/1/balance", headers=headers) as response,
        ):
            if response.status == 200:
                data = await response.json(content_type=None)
                balance = f"{data.get('balance', '?')} {data.get('currency', '')}".strip()
                return CheckResult(True, f"the API key works; balance {balance}")
            return CheckResult(False, f"Infobip answered {response.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return CheckResult(False, f"Infobip did not answer: {type(exc).__name__} {exc}")
