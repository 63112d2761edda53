"""The opt-in multi-process ingest front, writer side: workers serve ``/v1/*``, we store.

``retenta serve --ingest-workers N --ingest-port P`` binds P here and starts N worker
processes (``ingest/worker.py``) that share that listening socket. Each worker does what
the server's event loop does for a ``/v1`` request (HTTP, gunzip, JSON, validation, the
Arrow preparation) and hands the prepared requests to this process over its own
``socketpair`` (``ingest/wire.py``). Here they join the same group-commit pipeline as the
server's own requests (``IngestPipeline.submit``), and each worker request is answered
only when the server would answer its own: once journaled (the intake journal) or after
the COMMIT that stored it, so a 200 from a worker means what a 200 from the server means.
DuckDB lets one process open the file: this one.

Workers die with this process (``PR_SET_PDEATHSIG`` and end-of-file on their socket) and
are stopped before the pipeline at shutdown, so what they accepted is flushed first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from retenta.errors import ApiError
from retenta.ingest import wire
from retenta.ingest.pipeline import IngestPipeline
from retenta.ingest.units import IngestOutcome
from retenta.settings import Settings

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 2048


class KeyLookup(Protocol):
    """What the front needs of tenancy: a write key's principal (``Tenancy`` has it)."""

    def authenticate_key(self, secret: str, *, kind: Literal["write", "api"]) -> Any: ...


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    task: asyncio.Task[None] | None = None
    replies: set[asyncio.Task[None]] = field(default_factory=set)


class IngestFront:
    """Lifecycle service: binds the ingest port, runs the workers, serves their units."""

    def __init__(self, *, pipeline: IngestPipeline, keys: KeyLookup, settings: Settings) -> None:
        self.pipeline = pipeline
        self.keys = keys
        self.settings = settings
        self.listener: socket.socket | None = None
        self.workers: list[_Worker] = []
        self._stopping = False

    @property
    def port(self) -> int:
        assert self.listener is not None
        return int(self.listener.getsockname()[1])

    async def start(self) -> None:
        s = self.settings
        self.listener = socket.create_server((s.ingest_host, s.ingest_port or 0))
        self.listener.listen(LISTEN_BACKLOG)
        self._stopping = False
        for _ in range(s.ingest_workers):
            self.workers.append(await self._spawn())
        log.info("ingest front: %d workers on %s:%d", s.ingest_workers, s.ingest_host, self.port)

    async def _spawn(self) -> _Worker:
        assert self.listener is not None
        ours, theirs = socket.socketpair()
        cmd = [
            sys.executable, "-m", "retenta.ingest.worker",
            "--listen-fd", str(self.listener.fileno()), "--writer-fd", str(theirs.fileno()),
            "--parent-pid", str(os.getpid()),
            "--max-event-bytes", str(self.settings.ingest_max_event_bytes),
            "--max-batch-bytes", str(self.settings.ingest_max_batch_bytes),
        ]  # fmt: skip
        fds = (self.listener.fileno(), theirs.fileno())
        proc = subprocess.Popen(cmd, pass_fds=fds)  # noqa: S603 - our module, our arguments
        theirs.close()
        worker = _Worker(proc, ours)
        worker.task = asyncio.create_task(self._serve(worker), name=f"ingest-worker-{proc.pid}")
        return worker

    async def stop(self) -> None:
        """Workers finish what they accepted (answered after its COMMIT), then exit."""
        self._stopping = True
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in self.workers:
            await asyncio.to_thread(_wait_or_kill, w.proc)
            if w.task is not None:
                w.task.cancel()
            w.sock.close()
        self.workers = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    async def _serve(self, worker: _Worker) -> None:
        """Read the worker's frames until it goes away; a worker that dies is replaced."""
        reader, writer = await asyncio.open_unix_connection(sock=worker.sock)
        try:
            while True:
                head = await reader.readexactly(wire.FRAME.size)
                size, kind, frame_id = wire.FRAME.unpack(head)
                if size > wire.MAX_FRAME_BYTES:
                    raise ValueError(f"ingest worker sent a frame of {size} bytes")
                payload = await reader.readexactly(size)
                self._dispatch(worker, writer, kind, frame_id, payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("ingest worker %d: bad frame; dropping the link", worker.proc.pid)
        writer.close()
        if not self._stopping:
            await self._replace(worker)

    async def _replace(self, worker: _Worker) -> None:
        code = await asyncio.to_thread(_wait_or_kill, worker.proc)
        log.error("ingest worker %d exited (%s); starting another", worker.proc.pid, code)
        if not self._stopping and worker in self.workers:
            self.workers[self.workers.index(worker)] = await self._spawn()

    def _dispatch(
        self, worker: _Worker, writer: asyncio.StreamWriter, kind: int, frame_id: int, body: bytes
    ) -> None:
        if kind == wire.AUTH:
            principal = self.keys.authenticate_key(body.decode(), kind="write")
            answer = principal.workspace_id.encode() if principal is not None else b""
            writer.write(wire.frame(wire.AUTH_REPLY, frame_id, answer))
        elif kind == wire.UNIT:
            lap = self.pipeline.stats.clock()
            unit = wire.decode_unit(body)
            lap("receive")  # this process's share of a worker's request: decode the frame
            waiters = self.pipeline.submit(unit.requests, unit.hashes, unit.base, body)
            task = asyncio.create_task(_answer(writer, frame_id, waiters))
            worker.replies.add(task)  # a reference until it is done (asyncio keeps weak ones)
            task.add_done_callback(worker.replies.discard)
        elif kind == wire.TELEMETRY:
            self.pipeline.telemetry.merge(body)
        else:
            raise ValueError(f"unknown frame kind {kind}")


async def _answer(
    writer: asyncio.StreamWriter, frame_id: int, waiters: list[asyncio.Future[IngestOutcome]]
) -> None:
    """One reply per unit frame, once every request of it is settled (journaled, or after
    its COMMIT)."""
    done = await asyncio.gather(*waiters, return_exceptions=True)
    results: list[tuple[int, int, int] | BaseException] = [
        r if isinstance(r, BaseException) else (r.stored, r.duplicates, r.dropped) for r in done
    ]
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, ApiError):
            log.error("ingestion failed for a worker's request", exc_info=r)
    if not writer.is_closing():
        writer.write(wire.frame(wire.UNIT_REPLY, frame_id, wire.encode_results(results)))


def _wait_or_kill(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
