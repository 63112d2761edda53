"""ASGI middleware: the management API reads after what ingestion has acknowledged.

With the intake journal (``ingest_acknowledge = "journal"``) a ``/v1`` request is answered
before the writer stores it. An API request (``/api/…`` with a bearer key: an integration
that may have just sent events) waits here until everything answered so far is committed
(``IngestPipeline.caught_up``: nothing to wait for when nothing is pending, one or two of
the writer's units under load), so a client that sent an event and then reads the contact
sees it, as it does when requests are answered after their COMMIT. The UI's own requests
(a session cookie) do not wait: a marketer's screen should not slow down with ingestion,
and what it shows is at most a unit or two behind.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class ReadsAfterJournal:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and _bearer(scope):
            pipeline = scope["app"].state.container.ingest
            if getattr(pipeline, "journal", None) is not None:
                await pipeline.caught_up()
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> bool:
    """Whether the request carries ``Authorization: Bearer …`` (an API key).

    >>> _bearer({"headers": [(b"authorization", b"Bearer rk_1")]})
    True
    >>> _bearer({"headers": [(b"cookie", b"session=1")]})
    False
    """
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bool(value[:7].lower() == b"bearer ")
    return False
