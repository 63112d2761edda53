"""Twilio Programmable Messaging: send over the REST API, read its status callbacks.

Send: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth
(Account SID, Auth Token) and a form body ``To``, ``From`` (or ``MessagingServiceSid``),
``Body`` and ``StatusCallback``. 201 answers the message resource (``sid`` = ``SM…``); an
error answers ``{"code", "message", "more_info", "status"}``. Codes read here:

- 21211 invalid 'To' number, 21614 'To' is not a mobile number → permanent, ``invalid_number``;
- 21610 the recipient replied STOP → permanent, ``unsubscribed`` (the number is suppressed);
- 429 / 20429 too many requests, 14107 SMS rate limit → temporary with ``Retry-After``;
- 20003 authentication failed → temporary (the settings are wrong, not the message);
- 5xx → temporary; any other 4xx → permanent.

Status callback: Twilio POSTs a form (``MessageSid``, ``MessageStatus``, ``ErrorCode``, …) to
the ``StatusCallback`` URL, signed in ``X-Twilio-Signature``: base64(HMAC-SHA1(auth token,
URL + every POST parameter's name and value, sorted by name)) — checked against Twilio's
published example. The URL is
``{status_callback_base}/{send_id}``, so a callback names its send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

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
from retenta.messaging.channels.sms.httpbase import Answer, HttpChannel, Request, basic_auth
from retenta.messaging.channels.sms.reports import DeliveryReport
from retenta.messaging.channels.webpush import parse_retry_after

API = "https://api.twilio.com"
INVALID_NUMBER = {21211, 21614}
UNSUBSCRIBED = {21610}
THROTTLED = {20429, 14107}
AUTH_FAILED = {20003}
FAILED_STATUSES = {"undelivered", "failed", "canceled"}


class TwilioConfig(SmsSettings):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["twilio"] = "twilio"
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback_base: str | None = Field(
        default=None,
        pattern=r"^https?://[^?#]+[^/?#]$",
        description="public URL the callbacks go to; the send id is appended as /{send_id}",
    )
    api_base: str = Field(default=API, pattern=r"^https?://[^?#]+[^/?#]$")
    inbound_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^#]+$",
        description="the number's incoming-message webhook as given to Twilio (STOP / START)",
    )

    @model_validator(mode="after")
    def _has_a_sender(self) -> TwilioConfig:
        if self.sender is None and self.messaging_service_sid is None:
            raise ValueError("give a sender (From) or a messaging_service_sid")
        return self

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def callback_url(self, send_id: str) -> str | None:
        base = self.status_callback_base
        return None if base is None else f"{base}/{send_id}"


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` of a POST: base64(HMAC-SHA1(token, url + sorted name+value)).

    >>> signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", [
    ...     ("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"),
    ...     ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212")])
    'RSOYDt4T1cUTdK1PDd93/VVr8B8='
    """
    # Twilio's libraries sort the distinct (name, value) pairs: a repeated pair counts once.
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str
) -> bool:
    """Whether ``given`` is the signature of this URL and these parameters (constant time)."""
    expected = signature(auth_token, url, list(params))
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def report_of(send_id: str, form: dict[str, str]) -> DeliveryReport | None:
    """The delivery report a status callback means, or ``None`` for an interim status.

    >>> report_of("snd_1", {"MessageSid": "SM1", "MessageStatus": "delivered"}).status
    'delivered'
    >>> r = report_of("snd_1", {"MessageSid": "SM1", "MessageStatus": "undelivered",
    ...                         "ErrorCode": "30003"})
    >>> r.status, r.error_code
    ('failed', '30003')
    >>> report_of("snd_1", {"MessageSid": "SM1", "MessageStatus": "sent"}) is None
    True
    """
    status = form.get("MessageStatus", form.get("SmsStatus", "")).lower()
    if status == "delivered":
        final: Literal["delivered", "failed"] = "delivered"
    elif status in FAILED_STATUSES:
        final = "failed"
    else:
        return None
    error = form.get("ErrorCode") or None
    reason = f"twilio {status}" + (f" (error {error})" if error else "")
    return DeliveryReport(final, "twilio", send_id, form.get("MessageSid"), error, reason)


# Twilio's default opt-out / opt-in keywords (Advanced Opt-Out adds ``OptOutType``).
STOP_WORDS = {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
              "REVOKE"}  # fmt: skip
START_WORDS = {"START", "UNSTOP", "YES"}


def opt_out_of(form: dict[str, str]) -> Literal["stop", "start"] | None:
    """Whether an incoming message opts the sender out (``stop``) or back in (``start``).

    >>> opt_out_of({"Body": " stop "}), opt_out_of({"Body": "Unstop"}), opt_out_of({"Body": "hi"})
    ('stop', 'start', None)
    >>> opt_out_of({"Body": "Stop sending me that", "OptOutType": "STOP"})
    'stop'
    """
    kind = form.get("OptOutType", "").upper()
    if kind in ("STOP", "START"):
        return "stop" if kind == "STOP" else "start"
    word = " ".join(form.get("Body", "").upper().split())
    if word in STOP_WORDS:
        return "stop"
    return "start" if word in START_WORDS else None


class TwilioChannel(HttpChannel[SmsMessage]):
    name = "sms"

    def __init__(self, config: TwilioConfig, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(
            concurrency=config.concurrency, timeout_s=config.timeout_s, session=session
        )
        self.config = config

    def refuse(self, message: SmsMessage) -> SendResult | None:
        has_service = self.config.messaging_service_sid is not None
        return refuse(message, self.config, sender_required=not has_service)

    def request(self, message: SmsMessage) -> Request:
        cfg = self.config
        form = {"To": to_e164(message.to), "Body": message.text}
        sender = message.sender or (None if cfg.messaging_service_sid else cfg.sender)
        if sender is not None:
            form["From"] = sender
        else:
            assert cfg.messaging_service_sid is not None
            form["MessagingServiceSid"] = cfg.messaging_service_sid
        callback = cfg.callback_url(message.send_id)
        if callback is not None:
            form["StatusCallback"] = callback
        headers = {"Accept": "application/json", "Authorization": _authorization(cfg)}
        return Request("POST", cfg.messages_url, headers, {}, None, form)

    def interpret(self, message: SmsMessage, answer: Answer) -> SendResult:
        return interpret(message.send_id, answer)


def interpret(send_id: str, answer: Answer) -> SendResult:
    """The result of Twilio's answer to a create-message request."""
    data = answer.json() if isinstance(answer.json(), dict) else {}
    if 200 <= answer.status < 300 and data.get("sid"):
        reason = f"{answer.status} {data.get('status', 'accepted')}"
        return SendResult(send_id, Outcome.SENT, reason, answer.status, None, str(data["sid"]))
    code = data.get("code")
    code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    if answer.status == 429 or code in THROTTLED:
        return throttled(send_id, parse_retry_after(answer.headers.get("Retry-After")),
                         answer.status, f"twilio throttled ({code or 429})")  # fmt: skip
    reason = f"{answer.status} [{code}]: {data.get('message') or answer.text[:200]}"
    if code in INVALID_NUMBER:
        return SendResult(send_id, Outcome.PERMANENT, reason, answer.status, "invalid_number")
    if code in UNSUBSCRIBED:
        return SendResult(send_id, Outcome.PERMANENT, reason, answer.status, "unsubscribed")
    temporary = answer.status >= 500 or code in AUTH_FAILED or answer.status == 401
    outcome = Outcome.TEMPORARY if temporary else Outcome.PERMANENT
    return SendResult(send_id, outcome, reason, answer.status, f"twilio_{code or answer.status}")


def _authorization(config: TwilioConfig) -> str:
    return basic_auth(config.account_sid, config.auth_token.get_secret_value())


def build(config: TwilioConfig) -> TwilioChannel:
    return TwilioChannel(config)


async def check(config: TwilioConfig) -> CheckResult:
    """Fetch the account resource: proves the SID and token without sending anything."""
    url = f"{config.api_base}/2010-04-01/Accounts/{config.account_sid}.json"
    headers = {"Authorization": _authorization(config)}
    timeout = aiohttp.ClientTimeout(total=min(config.timeout_s, 10.0))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 200:
                data = await response.json(content_type=None)
                name, status = data.get("friendly_name", ""), data.get("status", "reachable")
                return CheckResult(True, f"account {name!r} is {status}")
            return CheckResult(False, f"Twilio answered {response.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return CheckResult(False, f"Twilio did not answer: {type(exc).__name__} {exc}")
