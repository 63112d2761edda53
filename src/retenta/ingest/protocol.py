"""uvicorn's HTTP protocol with a lean answer for ``POST /v1/<endpoint>``.

After session 7 most of a single event's CPU in the event loop was uvicorn's, not the
handler's: the ASGI task ran the proxy-headers middleware, the app's dispatch, and two
``send`` calls, each checking every header against two regular expressions, and the status
line with its headers went out in one socket write and the body in a second (two loopback
TCP segments a request, each waking the client). This protocol keeps everything of
uvicorn's ``HttpToolsProtocol`` (the httptools parser, keep-alive and its timer,
pipelining, flow control, ``Expect: 100-continue``, the request-response cycle and its
disconnect handling) and replaces only the ASGI task of a Segment request: it calls the
router's own ``answer`` with the cycle's ``receive`` and writes the whole response, status
line, uvicorn's default headers (``date``, ``server``), the answer's headers and body, in
one write. The bytes are the ones uvicorn writes for the same answer through the ASGI path
(``tests/ingest/test_protocol.py`` compares them).

What still goes the ASGI way: every other path and method, a request with
``X-Forwarded-For`` or ``X-Forwarded-Proto`` when uvicorn applies proxy headers (the
middleware would rewrite the client's address, which becomes ``context.ip``), the answer
uvicorn gives when ``limit_concurrency`` is exceeded, and any app that is not a
``SegmentFastAPI``.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn.server import ServerState

from retenta.ingest.fastpath import PATHS, SegmentFastAPI, raw_headers
from retenta.ingest.router import answer

_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto")


class SegmentHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose Segment requests skip the ASGI layers (module doc)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        app = config.app
        self.container = app.state.container if isinstance(app, SegmentFastAPI) else None
        self.proxied = config.proxy_headers

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        endpoint = self._segment_endpoint(cycle, app)
        if endpoint is None:
            super()._start_asgi_task(cycle, app)
            return
        run = self._answer(cycle, endpoint)
        if self.config.reset_contextvars:  # as uvicorn does for its own tasks
            task = self.loop.create_task(run, context=contextvars.Context())
        else:
            task = self.loop.create_task(run)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _segment_endpoint(self, cycle: RequestResponseCycle, app: Any) -> str | None:
        """The Segment endpoint this request is for, or None: the ASGI path answers it."""
        scope = cycle.scope
        if self.container is None or app is not self.app or scope["method"] != "POST":
            return None
        endpoint = PATHS.get(scope["path"])
        if endpoint is not None and self.proxied:
            for name, _ in scope["headers"]:
                if name in _FORWARDED:  # the proxy-headers middleware would change the scope
                    return None
        return endpoint

    async def _answer(self, cycle: RequestResponseCycle, endpoint: str) -> None:
        """``router.answer``, written as one response; failures as ``run_asgi`` handles them."""
        container, scope, receive = self.container, cycle.scope, cycle.receive
        assert container is not None  # _segment_endpoint found a Segment request
        try:
            status, body, extra = await answer(container, endpoint, scope, receive)  # type: ignore[arg-type]
            await self._write(cycle, status, body, extra)
        except BaseException as exc:
            cycle.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not cycle.response_started:
                await cycle.send_500_response()
            else:
                cycle.transport.close()
        finally:
            cycle.on_response = lambda: None

    async def _write(
        self, cycle: RequestResponseCycle, status: int, body: bytes, extra: dict[str, str] | None
    ) -> None:
        """What ``cycle.send`` writes for the start and the body messages, in one write."""
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        if cycle.access_log:
            cycle.access_logger.info(
                '%s - "%s %s HTTP/%s" %d', get_client_addr(cycle.scope), "POST",
                get_path_with_query_string(cycle.scope), cycle.scope["http_version"], status,
            )  # fmt: skip
        cycle.transport.write(response_bytes(cycle, status, body, extra))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()


def response_bytes(
    cycle: RequestResponseCycle, status: int, body: bytes, extra: dict[str, str] | None
) -> bytes:
    """Status line, default headers, the answer's headers (``fastpath.raw_headers``, the
    ones the ASGI path sends; none of them is ``connection``), then the body."""
    content = [STATUS_LINE[status]]
    for name, value in (*cycle.default_headers, *raw_headers(body, extra)):
        content += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive:
        content.append(b"connection: close\r\n")
    content += (b"\r\n", body)
    return b"".join(content)
