"""ASGI middleware: the management API reads after what ingestion has acknowledged.

With the intake journal (``ingest_acknowledge = "journal"``) a ``/v1`` request is answered
before the writer stores it. A request to ``/api/`` waits here until everything answered so
far is committed (``IngestPipeline.caught_up``: at most one or two of the writer's units,
and nothing at all when nothing is pending), so a client that sent an event and then reads
the contact sees it, as it does when requests are answered after their COMMIT.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class ReadsAfterJournal:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            pipeline = scope["app"].state.container.ingest
            if getattr(pipeline, "journal", None) is not None:
                await pipeline.caught_up()
        await self.app(scope, receive, send)
