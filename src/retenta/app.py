"""Composition root: settings → storage → services → ASGI app. The only place that
names concrete adapters."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import signal
import sys
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from fastapi import FastAPI
from starlette.types import ASGIApp

from retenta import __version__
from retenta.commerce.service import CommerceService
from retenta.contacts.service import ContactService
from retenta.errors import install_error_handlers
from retenta.identity.service import IdentityService
from retenta.imports.service import ImportService
from retenta.ingest.fastpath import SegmentFastAPI
from retenta.ingest.pipeline import IngestPipeline
from retenta.segments.membership.wiring import build_membership
from retenta.segments.service import SegmentService
from retenta.settings import Settings
from retenta.storage.base import Database
from retenta.storage.registry import open_database
from retenta.tenancy.service import Tenancy
from retenta.tenancy.sessions import Sessions
from retenta.web.routing import with_routes_by_prefix

log = logging.getLogger(__name__)

# Each capability contributes a router module exposing `router`; listed here, wired once.
ROUTER_MODULES = [
    "retenta.tenancy.router",
    "retenta.ingest.router",
    "retenta.identity.router",
    "retenta.contacts.router",
    "retenta.commerce.router",
    "retenta.imports.router",
    "retenta.demo.router",
    "retenta.dashboard.router",
    "retenta.segments.router",
    "retenta.segments.rfm_router",
    "retenta.messaging.router",
    "retenta.messaging.bounces.router",
    "retenta.messaging.consent_flows.router",
    "retenta.journeys.dryrun_router",  # before journeys.router: its POST /journeys/{id}/{action}
    "retenta.journeys.router",
    "retenta.journeys.lists_router",
    "retenta.journeys.scenarios.router",
    "retenta.signals.router",
    "retenta.campaigns.router",
    "retenta.policy.router",
    "retenta.messaging.inbox.router",
    "retenta.sendtime.router",
    "retenta.metrics.router",
    "retenta.web.router",
]

# Each capability that needs a long-lived service names a factory `build(container) -> service`;
# services are registered under their name and may define `start()`/`stop()` (async, run by the
# server's lifespan) and `close()` (sync, at shutdown).
SERVICE_FACTORIES: list[tuple[str, str]] = []


@dataclass
class Container:
    """Everything the request handlers and workers need, built once per process.

    Services are plain objects; those with ``async start()/stop()`` run background work
    during the server's lifespan (``lifecycle``, started in order, stopped in reverse).
    """

    settings: Settings
    db: Database
    tenancy: Tenancy
    sessions: Sessions
    identity: IdentityService
    commerce: CommerceService
    ingest: IngestPipeline
    contacts: ContactService
    imports: ImportService
    segments: SegmentService
    lifecycle: list[Any] = field(default_factory=list)

    def close(self) -> None:
        self.db.close()


def secret_key(data_dir: Path, configured: str | None) -> str:
    """The signing secret: configured, or generated once and kept in the data directory."""
    if configured:
        return configured
    path = data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def build_container(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings)
    identity = IdentityService(db=db, settings=settings.identity)
    commerce = CommerceService(db=db)
    ingest = IngestPipeline(db=db, resolver=identity, appliers=[commerce], settings=settings)
    contacts = ContactService(
        db=db, identity=identity, ingest=ingest, identity_settings=settings.identity
    )
    imports = ImportService(
        db=db, settings=settings, pipeline=ingest, identity=identity, commerce=commerce
    )
    tenancy = Tenancy(db)
    segments = SegmentService(db=db, tenancy=tenancy)
    container = Container(
        settings=settings,
        db=db,
        tenancy=tenancy,
        sessions=Sessions(secret_key(settings.data_dir, settings.secret_key), db),
        identity=identity,
        commerce=commerce,
        ingest=ingest,
        contacts=contacts,
        imports=imports,
        segments=segments,
        lifecycle=[ingest, contacts, imports] if settings.background_workers else [ingest],
    )
    segments.membership = build_membership(container)  # stored membership, entries/exits
    if settings.background_workers:
        container.lifecycle += [segments.membership, segments]  # real-time; daily sizes
        from retenta.messaging.services import for_container

        container.lifecycle.append(for_container(container).dispatcher)  # the send path
        from retenta.messaging.bounces.service import lifecycle_services

        container.lifecycle += lifecycle_services(container)  # inbound bounces / complaints
    if settings.ingest_workers > 0:  # after the pipeline (started first, stopped last)
        from retenta.ingest.front import IngestFront

        container.lifecycle.insert(1, IngestFront(pipeline=ingest, keys=tenancy, settings=settings))
    from retenta.journeys.service import wire

    wire(container)  # runs start from ingested events; the runner advances them
    from retenta.campaigns.service import wire as wire_campaigns

    wire_campaigns(container)  # the campaign runner: snapshots, chunked sends, A/B winners
    from retenta.signals.service import wire as wire_signals

    wire_signals(container)  # derived commerce events: price drops, restocks, rhythm
    return container


class RetentaAPI(SegmentFastAPI):
    """The server's app: ``/v1`` ahead of FastAPI (``SegmentFastAPI``), and every other
    request matched only against the routes its path may match (``web/routing.py``)."""

    def build_middleware_stack(self) -> ASGIApp:
        return with_routes_by_prefix(self, super().build_middleware_stack)


def create_app(container: Container) -> FastAPI:
    from retenta.web.after_journal import ReadsAfterJournal
    from retenta.web.point_reads import PointReads, ReadThreads

    reads = ReadThreads()  # the contacts point reads' own threads (web/point_reads.py)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for svc in container.lifecycle:
            await svc.start()
        try:
            yield
        finally:
            for svc in reversed(container.lifecycle):
                await svc.stop()
            reads.close()

    # /v1/* answered ahead of FastAPI's own layers (docs/ingest.md, "The HTTP fast path")
    app = RetentaAPI(title="Retenta", version=__version__, lifespan=lifespan)
    app.state.container = container
    install_error_handlers(app)
    app.add_middleware(PointReads, threads=reads)  # the contacts point reads in one hop
    app.add_middleware(ReadsAfterJournal)  # outermost: reads after journaled acknowledgements
    weakref.finalize(app, reads.close)  # an app served without its lifespan
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:  # async: no worker-thread hop for a constant
        return {"status": "ok", "version": __version__}

    return app


def serve_until_stopped(container: Container, host: str, port: int) -> NoReturn:
    """Serve ``container`` until SIGINT or SIGTERM, then checkpoint and close its store, and
    exit the process with 0 (uvicorn handles both signals).

    uvicorn re-raises a caught SIGTERM once it has shut down; exiting through Python then
    (rather than the default handler's kill) lets the ``finally`` run. The process then
    ends without the interpreter's teardown (``os._exit``, after the logs and streams are
    flushed): with the store closed nothing is left to save, and the teardown only had
    DuckDB's binding print some fifty lines of "nanobind: leaked instances" for the
    cursors that the server's daemon threads (request and background workers) still held.
    A server that fails is not cut short: its error propagates as usual.
    """
    import uvicorn

    from retenta.ingest.protocol import SegmentHttpProtocol

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    code = 0
    try:
        uvicorn.run(create_app(container), host=host, port=port, log_level="info",
                    access_log=False, http=SegmentHttpProtocol)  # fmt: skip
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except KeyboardInterrupt:
        code = 130
    finally:
        container.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
