"""The Segment endpoints served straight from the ASGI stack, ahead of FastAPI's routing.

A single-event ``/v1/track`` spends most of its Python time in the framework: exception
middleware, the async exit stack, route matching and the endpoint wrapper cost about twice
the handler itself (py-spy, this 2-core machine). That time competes for the GIL with the
writer. This middleware answers ``POST /v1/<endpoint>`` with the router's own
``router.answer`` (the declared routes call it too), so behaviour, errors and the OpenAPI
docs stay the router's; only the layers in between are skipped. It reads the body from
the raw ASGI ``receive`` and sends raw ASGI messages: no Starlette ``Request`` or
``Response`` per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from retenta.ingest import intake
from retenta.ingest.router import answer

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATHS = {f"/v1/{e}": e for e in (*intake.SINGLE_TYPES, *intake.BATCH_ENDPOINTS)}
_JSON = (b"content-type", b"application/json")


class SegmentFastPath:
    """ASGI middleware: ``POST /v1/<endpoint>`` → the Segment handler; the rest → the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = segment_endpoint(scope)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        await respond(scope["app"].state.container, endpoint, scope, receive, send)


class SegmentFastAPI(FastAPI):
    """The server's app: FastAPI that answers ``POST /v1/<endpoint>`` before its own
    ``__call__``. That call checks for OpenTelemetry providers (three environment lookups a
    request), then runs Starlette's and the error middleware's layers: about 5 µs of the
    21 µs a single event costs through the app (in process, storage off). Every other
    request goes through FastAPI as before, and the middleware above stays for the ingest
    workers' app and for any app built without this class."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = segment_endpoint(scope)
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await respond(self.state.container, endpoint, scope, receive, send)


def segment_endpoint(scope: Scope) -> str | None:
    """The Segment endpoint a request is for, or None (not a ``POST /v1/<endpoint>``)."""
    if scope["type"] != "http" or scope["method"] != "POST":  # a lifespan scope has no path
        return None
    return PATHS.get(scope["path"])


async def respond(
    container: Any, endpoint: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """``router.answer``, sent as raw ASGI messages."""
    status, body, headers = await answer(container, endpoint, scope, receive)
    start = {"type": "http.response.start", "status": status, "headers": raw_headers(body, headers)}
    await send(start)
    await send({"type": "http.response.body", "body": body})


def raw_headers(body: bytes, extra: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    """What Starlette's ``Response(body, media_type="application/json" if body)`` sends.

    >>> raw_headers(b'{"success":true}', None)
    [(b'content-length', b'16'), (b'content-type', b'application/json')]
    """
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if body:
        raw.append(_JSON)
    return raw
