"""An ingest worker process: ``/v1/*`` served here, stored by the writer process.

Started by ``IngestFront`` (``ingest/front.py``) with two inherited sockets: the shared
listening socket of the ingest port, and its end of a ``socketpair`` to the writer. It runs
the very handler the server runs (``router.segment_handler`` through ``SegmentFastPath``),
with a container whose ``ingest`` hands prepared requests to the writer and waits for the
COMMIT, and whose ``tenancy`` asks the writer for write keys. It holds nothing of its own:
when the writer goes away it exits, and killing it loses nothing that was acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from retenta.core.messages import Message
from retenta.core.workers import die_with_parent
from retenta.ingest import wire
from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.dedup import hash_keys
from retenta.ingest.fastpath import SegmentFastPath
from retenta.ingest.telemetry import IngestTelemetry
from retenta.ingest.units import IngestOutcome
from retenta.settings import Settings
from retenta.storage.duckdb.events import messages_to_base
from retenta.tenancy.service import Principal

log = logging.getLogger(__name__)
KEY_TTL_S = 1.0  # a key revoked in the writer is refused by the workers within this
KEY_BOOK_MAX = 10_000
EXIT_GRACE_S = 2.0
# A frame is sent once it holds this many events (or at the end of the loop's turn): the
# writer decodes a 100-event frame at ~3 µs an event and a 2,000-event one at 6-12 (its
# objects no longer fit the caches), and a smaller frame reaches the writer sooner.
FRAME_EVENTS = 512
TELEMETRY_EVERY_S = 1.0


class WriterLink:
    """Request/answer frames over the socket to the writer; answers matched by frame id."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._on_lost = on_lost
        self._reader: asyncio.Task[None] | None = None

    async def open(self, sock: socket.socket) -> None:
        reader, self._writer = await asyncio.open_unix_connection(sock=sock)
        self._reader = asyncio.create_task(self._read(reader), name="ingest-writer-link")

    def notify(self, kind: int, payload: bytes) -> None:
        """A frame the writer does not answer (dropped if the link is gone)."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.frame(kind, 0, payload))

    def send(self, kind: int, payload: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if self._writer is None or self._writer.is_closing():
            future.set_exception(wire.WriterFailedError("the writer process is gone"))
            return future
        self._next_id += 1
        self._pending[self._next_id] = future
        self._writer.write(wire.frame(kind, self._next_id, payload))
        return future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                size, _kind, frame_id = wire.FRAME.unpack(await reader.readexactly(wire.FRAME.size))
                payload = await reader.readexactly(size)
                future = self._pending.pop(frame_id, None)
                if future is not None and not future.done():
                    future.set_result(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        """Every waiting request fails (a 503: nothing of it was acknowledged); then exit."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(wire.WriterFailedError("the writer process is gone"))
        if self._writer is not None:
            self._writer.close()
        self._on_lost()


class RemoteIngest:
    """``IngestPipeline.ingest`` for a worker: the requests parsed in one turn of the event
    loop are prepared together and handed to the writer as one frame."""

    store = True

    def __init__(self, link: WriterLink) -> None:
        self.link = link
        # ``router.answer`` counts here; ``report_answers`` sends the counts to the writer
        self.telemetry = IngestTelemetry()
        self._batch: list[tuple[Sequence[Message], Sequence[DeadLetter]]] = []
        self._batch_events = 0
        self._waiters: list[asyncio.Future[IngestOutcome]] = []

    async def ingest(
        self,
        messages: Sequence[Message],
        dead_letters: Sequence[DeadLetter] = (),
        *,
        early: bool = False,
    ) -> IngestOutcome:
        """Returns once the writer has settled these messages (or raises its error):
        journaled or committed, as its ``ingest_acknowledge`` says (``early`` is the
        writer's to decide for a worker's requests)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[IngestOutcome] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._flush)
        self._batch.append((messages, dead_letters))
        self._batch_events += len(messages)
        self._waiters.append(waiter)
        if self._batch_events >= FRAME_EVENTS:
            self._flush()
        return await waiter

    def _flush(self) -> None:
        if not self._batch:  # sent already: it reached FRAME_EVENTS
            return
        batch, waiters, self._batch, self._waiters = self._batch, self._waiters, [], []
        self._batch_events = 0
        try:
            payload = _prepare(batch)
        except Exception as exc:
            for w in waiters:
                w.set_exception(exc)
            return
        reply = self.link.send(wire.UNIT, payload)
        reply.add_done_callback(lambda f: _settle(f, waiters))


async def report_answers(ingest: RemoteIngest, every_s: float = TELEMETRY_EVERY_S) -> None:
    """Send the writer what this worker counted of its answers, every ``every_s`` seconds
    (the writer serves them on ``/metrics``; what a worker counted in the second before it
    died is lost with it)."""
    while True:
        await asyncio.sleep(every_s)
        taken = ingest.telemetry.take()
        if taken is not None:
            ingest.link.notify(wire.TELEMETRY, taken)


def _prepare(batch: list[tuple[Sequence[Message], Sequence[DeadLetter]]]) -> bytes:
    """The pipeline's ``prepare``, done here: dedup hashes and the events' Arrow columns."""
    messages = [m for ms, _ in batch for m in ms]
    hashes = hash_keys([(m.workspace_id, m.message_id) for m in messages])
    return wire.encode_unit(batch, hashes, messages_to_base(messages))


def _warm_up() -> None:
    """Prepare one message before taking requests: the first ``_prepare`` in a process
    costs ~2.7 s (pyarrow imports pandas on first use), which a first client would wait."""
    now = datetime.now(UTC)
    probe = Message(workspace_id="-", message_id="-", type="track", timestamp=now,
                    received_at=now, anonymous_id="-")  # fmt: skip
    _prepare([([probe], [])])


def _settle(reply: asyncio.Future[bytes], waiters: list[asyncio.Future[IngestOutcome]]) -> None:
    exc = reply.exception()
    if exc is not None:
        for w in waiters:
            if not w.done():
                w.set_exception(exc)
        return
    for w, result in zip(waiters, wire.decode_results(reply.result()), strict=True):
        if w.done():
            continue
        if isinstance(result, dict):
            w.set_exception(wire.error_of(result))
        else:
            w.set_result(IngestOutcome(*result))


class KeyBook:
    """``Tenancy.authenticate_key`` for a worker: answers from what it fetched from the
    writer in the last ``KEY_TTL_S``; ``warm`` fetches a key it does not hold (router)."""

    def __init__(self, link: WriterLink) -> None:
        self.link = link
        self._book: dict[str, tuple[float, str | None]] = {}

    async def warm(self, secret: str) -> None:
        known = self._book.get(secret)
        if known is not None and time.monotonic() - known[0] < KEY_TTL_S:
            return
        answer = (await self.link.send(wire.AUTH, secret.encode())).decode()
        if len(self._book) >= KEY_BOOK_MAX:
            self._book.clear()
        self._book[secret] = (time.monotonic(), answer or None)

    def authenticate_key(self, secret: str, *, kind: str) -> Principal | None:
        known = self._book.get(secret)
        if kind != "write" or known is None or known[1] is None:
            return None
        return Principal(known[1], "write", "worker-key")


@dataclass
class WorkerContainer:
    """What ``router.segment_handler`` reads from a container, in a worker."""

    settings: Settings
    ingest: RemoteIngest
    tenancy: KeyBook


Scope = MutableMapping[str, Any]


def build_app(container: WorkerContainer) -> Any:
    """``/v1/*`` through the server's own fast path; ``/healthz``; a 404 for the rest."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "role": "ingest-worker", "pid": os.getpid()})

    async def elsewhere(_: Request, __: Exception) -> Response:
        body = {"success": False, "code": "not_found", "message": "the ingest port serves /v1/*"}
        return JSONResponse({**body, "error": {"code": "not_found", "message": body["message"],
                                                "field": None, "details": []}}, 404)  # fmt: skip

    app = Starlette(routes=[Route("/healthz", healthz)])
    app.add_exception_handler(404, elsewhere)
    app.state.container = container
    app.add_middleware(SegmentFastPath)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="retenta.ingest.worker")
    for name in ("--listen-fd", "--writer-fd", "--parent-pid"):
        ap.add_argument(name, type=int, required=True)
    ap.add_argument("--max-event-bytes", type=int, required=True)
    ap.add_argument("--max-batch-bytes", type=int, required=True)
    args = ap.parse_args(argv)
    die_with_parent(args.parent_pid)  # nothing here is owed to anyone: see the module doc
    _warm_up()
    settings = Settings(
        ingest_max_event_bytes=args.max_event_bytes, ingest_max_batch_bytes=args.max_batch_bytes
    )
    server: uvicorn.Server | None = None

    def lost() -> None:  # the writer is gone: stop taking requests, then leave regardless
        if server is not None:
            server.should_exit = True
        asyncio.get_running_loop().call_later(EXIT_GRACE_S, os._exit, 1)

    link = WriterLink(lost)
    ingest = RemoteIngest(link)
    container = WorkerContainer(settings, ingest, KeyBook(link))
    listener = socket.socket(fileno=args.listen_fd)
    config = uvicorn.Config(
        build_app(container), log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        await link.open(socket.socket(fileno=args.writer_fd))
        reporting = asyncio.create_task(report_answers(ingest), name="ingest-worker-telemetry")
        try:
            await server.serve(sockets=[listener])
        finally:
            reporting.cancel()
            taken = ingest.telemetry.take()  # what the last second counted
            if taken is not None:
                link.notify(wire.TELEMETRY, taken)

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(run())


if __name__ == "__main__":
    main()
