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
        endpoint = PATHS.get(scope["path"]) if scope["type"] == "http" else None  # no path
        if endpoint is None or scope["method"] != "POST":  # in a lifespan scope
            await self.app(scope, receive, send)
            return
        container = scope["app"].state.container
        status, body, headers = await answer(container, endpoint, scope, receive)
        start = {
            "type": "http.response.start",
            "status": status,
            "headers": raw_headers(body, headers),
        }
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
