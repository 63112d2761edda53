"""The HTTP machinery SMS (and Viber) provider channels share.

A subclass says how one message becomes a request (:meth:`HttpChannel.request`) and how an
answer becomes a result (:meth:`HttpChannel.interpret`); this class sends up to
``concurrency`` requests at once over one keep-alive aiohttp session, turns connection
failures and timeouts into ``TEMPORARY`` results, and never raises for one message.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp
import orjson

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        try:
            return orjson.loads(self.text) if self.text else None
        except orjson.JSONDecodeError:
            return None


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value (RFC 7617, UTF-8).

    >>> basic_auth("Aladdin", "open sesame")
    'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='
    """
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class HttpChannel(Generic[M]):
    name = "http"

    def __init__(
        self,
        *,
        concurrency: int = 8,
        timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._own_session = session is None
        self._session = session

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def send(self, batch: Sequence[M]) -> list[SendResult]:
        return await send_concurrently(batch, self.send_one, self.concurrency)

    async def send_one(self, message: M) -> SendResult:
        refused = self.refuse(message)
        if refused is not None:
            return refused
        try:
            request = self.request(message)
        except ValueError as exc:
            return SendResult(self.send_id(message), Outcome.PERMANENT, str(exc), None, "invalid")
        try:
            answer = await self.call(request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return SendResult(self.send_id(message), Outcome.TEMPORARY, reason, None, "connection")
        return self.interpret(message, answer)

    async def call(self, request: Request) -> Answer:
        body: dict[str, Any] = {}
        if request.json is not None:
            body["data"] = orjson.dumps(request.json)
            headers = {"Content-Type": "application/json", **request.headers}
        else:
            body["data"] = request.form
            headers = dict(request.headers)
        async with self.session().request(
            request.method,
            request.url,
            params=dict(request.params) or None,
            headers=headers,
            **body,
        ) as response:
            text = (await response.content.read(64 * 1024)).decode("utf-8", "replace")
            return Answer(response.status, dict(response.headers), text)

    def send_id(self, message: M) -> str:
        send_id: str = message.send_id  # type: ignore[attr-defined]
        return send_id

    def refuse(self, message: M) -> SendResult | None:
        """A result without calling the provider (bad number, too long), else ``None``."""
        return None

    def request(self, message: M) -> Request:
        raise NotImplementedError

    def interpret(self, message: M, answer: Answer) -> SendResult:
        raise NotImplementedError

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
