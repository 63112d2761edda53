"""A configurable HTTP SMS provider: any gateway whose API is "one request per message".

The config names the URL and method, the authentication (basic, bearer, a header or a query
parameter), the body (JSON or a form) as a template whose string values may hold the
placeholders ``{to}``, ``{text}``, ``{sender}`` and ``{send_id}``, and how to read the answer:
which statuses mean accepted, a JSON path to the provider's message id and to its error
code, which error codes are permanent or temporary, and an optional "accepted only when this
path holds one of these values" rule for gateways that answer 200 with an error inside.

An answer is read in this order: 429 (or a configured throttle code) → ``TEMPORARY`` with
``Retry-After``; a success status whose body passes the rule → ``SENT``; an error code listed
as temporary/permanent → that; 5xx and 408 → ``TEMPORARY``; anything else → ``PERMANENT``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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
from retenta.messaging.channels.webpush import parse_retry_after

PLACEHOLDERS = ("to", "text", "sender", "send_id")


class BasicAuth(BaseModel):
    kind: Literal["basic"]
    username: str
    password: SecretStr


class BearerAuth(BaseModel):
    kind: Literal["bearer"]
    token: SecretStr


class HeaderAuth(BaseModel):
    kind: Literal["header"]
    header: str = Field(min_length=1, max_length=100)  # e.g. "Authorization", "X-API-Key"
    value: SecretStr  # e.g. "App 0123abcd" (Infobip)


class QueryAuth(BaseModel):
    kind: Literal["query"]
    parameter: str = Field(min_length=1, max_length=100)  # e.g. "api_id" (SMS.ru)
    value: SecretStr


Auth = Annotated[BasicAuth | BearerAuth | HeaderAuth | QueryAuth, Field(discriminator="kind")]


class HttpConfig(SmsSettings):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", description="the send endpoint")
    method: Literal["POST", "PUT", "GET"] = "POST"
    auth: Auth | None = None
    body_format: Literal["json", "form", "none"] = "json"
    body: dict[str, Any] = Field(default_factory=dict, description="template of the body")
    query: dict[str, str] = Field(default_factory=dict, description="template of the query")
    headers: dict[str, str] = Field(default_factory=dict)
    success_statuses: list[int] = Field(default_factory=lambda: [200, 201, 202])
    success_path: str | None = None  # e.g. "status"; accepted only if it holds success_values
    success_values: list[str] = Field(default_factory=list)
    message_id_path: str | None = None  # e.g. "messages.0.messageId"
    error_code_path: str | None = None  # e.g. "requestError.serviceException.messageId"
    error_message_path: str | None = None
    permanent_codes: list[str] = Field(default_factory=list)
    temporary_codes: list[str] = Field(default_factory=list)
    throttle_codes: list[str] = Field(default_factory=list)
    invalid_number_codes: list[str] = Field(default_factory=list)
    unsubscribed_codes: list[str] = Field(default_factory=list)

    @field_validator("body", "query")
    @classmethod
    def _known_placeholders(cls, value: dict[str, Any]) -> dict[str, Any]:
        for text in _strings(value):
            check_template(text)
        return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def check_template(text: str) -> None:
    """Refuse a ``{name}`` that is not one of the placeholders (``{{`` is a literal brace).

    >>> check_template("{to}: {text}")
    >>> try:
    ...     check_template("{phone}")
    ... except ValueError as exc:
    ...     print(exc)
    unknown placeholder {phone}; use {to}, {text}, {sender}, {send_id}
    """
    import string

    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}}; use {known}")


def fill(template: Any, values: dict[str, str]) -> Any:
    """The template with placeholders filled in every string, at any depth.

    >>> fill({"to": "{to}", "msg": {"body": "{text}!", "n": 1}}, {"to": "+1", "text": "hi"})
    {'to': '+1', 'msg': {'body': 'hi!', 'n': 1}}
    """
    if isinstance(template, str):
        return template.format_map(values)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def json_path(data: Any, path: str | None) -> Any:
    """The value at a dotted path (``a.0.b`` or ``a[0].b``), or ``None``.

    >>> json_path({"messages": [{"messageId": "m1"}]}, "messages[0].messageId")
    'm1'
    >>> json_path({"a": 1}, "a.b"), json_path(None, "a"), json_path({"a": 1}, None)
    (None, None, None)
    """
    if path is None:
        return None
    current = data
    for part in path.replace("[", ".").replace("]", "").split("."):
        if part == "" or part == "$":
            continue
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
    return current


class HttpSmsChannel(HttpChannel[SmsMessage]):
    name = "sms"

    def __init__(self, config: HttpConfig, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(
            concurrency=config.concurrency, timeout_s=config.timeout_s, session=session
        )
        self.config = config

    def refuse(self, message: SmsMessage) -> SendResult | None:
        return refuse(message, self.config)

    def request(self, message: SmsMessage) -> Request:
        cfg = self.config
        values = {
            "to": to_e164(message.to),
            "text": message.text,
            "sender": message.sender or cfg.sender or "",
            "send_id": message.send_id,
        }
        query = {k: str(v) for k, v in fill(cfg.query, values).items()}
        headers = dict(cfg.headers)
        if isinstance(cfg.auth, BasicAuth):
            password = cfg.auth.password.get_secret_value()
            headers["Authorization"] = basic_auth(cfg.auth.username, password)
        elif isinstance(cfg.auth, BearerAuth):
            headers["Authorization"] = f"Bearer {cfg.auth.token.get_secret_value()}"
        elif isinstance(cfg.auth, HeaderAuth):
            headers[cfg.auth.header] = cfg.auth.value.get_secret_value()
        elif isinstance(cfg.auth, QueryAuth):
            query[cfg.auth.parameter] = cfg.auth.value.get_secret_value()
        body = fill(cfg.body, values)
        json = body if cfg.body_format == "json" else None
        form = {k: str(v) for k, v in body.items()} if cfg.body_format == "form" else None
        return Request(cfg.method, cfg.url, headers, query, json, form)

    def interpret(self, message: SmsMessage, answer: Answer) -> SendResult:
        return interpret(self.config, message.send_id, answer)


def interpret(cfg: HttpConfig, send_id: str, answer: Answer) -> SendResult:
    """The result an answer means under ``cfg``'s success and error mapping."""
    data = answer.json()
    code = json_path(data, cfg.error_code_path)
    code_text = None if code is None else str(code)
    if answer.status == 429 or code_text in cfg.throttle_codes:
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        return throttled(send_id, retry_after, answer.status)
    if answer.status in cfg.success_statuses and _passes(cfg, data):
        remote = json_path(data, cfg.message_id_path)
        reason = f"{answer.status} accepted"
        return SendResult(send_id, Outcome.SENT, reason, answer.status, None, _text(remote))
    message = json_path(data, cfg.error_message_path) or answer.text[:200]
    reason = f"{answer.status}" + (f" [{code_text}]" if code_text else "") + f": {message}"
    return SendResult(send_id, _failure(cfg, answer.status, code_text), reason, answer.status,
                      _detail(cfg, answer.status, code_text))  # fmt: skip


def _passes(cfg: HttpConfig, data: Any) -> bool:
    if cfg.success_path is None:
        return True
    return _text(json_path(data, cfg.success_path)) in cfg.success_values


def _failure(cfg: HttpConfig, status: int, code: str | None) -> Outcome:
    if code is not None and code in cfg.temporary_codes:
        return Outcome.TEMPORARY
    if code is not None and code in cfg.permanent_codes + cfg.invalid_number_codes:
        return Outcome.PERMANENT
    if code is not None and code in cfg.unsubscribed_codes:
        return Outcome.PERMANENT
    return Outcome.TEMPORARY if status >= 500 or status == 408 else Outcome.PERMANENT


def _detail(cfg: HttpConfig, status: int, code: str | None) -> str:
    if code is not None and code in cfg.invalid_number_codes:
        return "invalid_number"
    if code is not None and code in cfg.unsubscribed_codes:
        return "unsubscribed"
    return f"error_{code}" if code is not None else f"http_{status}"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def build(config: HttpConfig) -> HttpSmsChannel:
    return HttpSmsChannel(config)


async def check(config: HttpConfig) -> CheckResult:
    """Whether the provider's host answers (no message is sent)."""
    timeout = aiohttp.ClientTimeout(total=min(config.timeout_s, 10.0))
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.head(config.url, allow_redirects=False) as response,
        ):
            return CheckResult(True, f"{config.url} answered {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(False, f"{config.url} did not answer: {type(exc).__name__} {exc}")
