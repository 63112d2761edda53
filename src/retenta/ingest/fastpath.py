"""The Segment endpoints served straight from the ASGI stack, ahead of FastAPI's routing.

A single-event ``/v1/track`` spends most of its Python time in the framework: exception
middleware, the async exit stack, route matching and the endpoint wrapper cost about twice
the handler itself (py-spy, this 2-core machine). That time competes for the GIL with the
writer. This middleware answers ``POST /v1/<endpoint>`` with the very same handler the
router declares (``router.segment_handler``), so behaviour, errors and the OpenAPI docs
stay the router's; only the layers in between are skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from retenta.ingest import intake
from retenta.ingest.router import segment_handler

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATHS = {f"/v1/{e}": e for e in (*intake.SINGLE_TYPES, *intake.BATCH_ENDPOINTS)}


class SegmentFastPath:
    """ASGI middleware: ``POST /v1/<endpoint>`` → the Segment handler; the rest → the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.handlers = {path: segment_handler(endpoint) for path, endpoint in PATHS.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handler(scope)
        if handler is None:
            await self.app(scope, receive, send)
            return
        response = await handler(Request(scope, receive))
        await response(scope, receive, send)

    def _handler(self, scope: Scope) -> Any:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        return self.handlers.get(scope["path"])
