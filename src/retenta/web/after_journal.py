"""ASGI middleware: the management API reads after what ingestion has acknowledged.

With the intake journal (``ingest_acknowledge = "journal"``) a ``/v1`` request is answered
before the writer stores it. An API request (``/api/…`` with a bearer key: an integration
that may have just sent events) waits here until everything answered so far is committed
(``IngestPipeline.caught_up``: nothing to wait for when nothing is pending, about
``lead.LEAD_S`` of the writer's work at most under load), so a client that sent an event
and then reads the contact sees it, as it does when requests are answered after their
COMMIT. In either mode it also waits for commerce's deferred apply (``ingest/deferred.py``):
under load a unit's orders and carts are applied behind its COMMIT, and a client that sent
an order reads it with the contact's traits. The UI's own requests
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
            await scope["app"].state.container.ingest.caught_up()
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
