"""The compose pool: worker processes that turn resolved content + variables into signed bytes.

The sender's process (event loop, SMTP sessions, hand-over journal, writer) has one core
(the GIL); rendering, tracked links, MIME and DKIM were half of its CPU a message. Here
they run in worker processes:

- once per content version and profile, a worker gets a :class:`Kit`: the resolved content
  (its compiled templates pickle as their sources and compile again there, once), the
  sending profile (its DKIM key), the keyring that signs links, and the tracking base;
- per message it gets a :class:`Job` (the variables and the envelope's ids) and answers the
  signed :class:`~retenta.messaging.email.mime.OutgoingEmail`, or that send's permanent
  failure (a render error, an address that cannot be sent to) as a ``SendResult``.

:meth:`ComposePool.stream` yields the results in the jobs' order while the workers compose
the next chunks (a bounded number in flight), so SMTP keeps sending meanwhile. Workers are
spawned by the server on first use and die with it (``PR_SET_PDEATHSIG``). A worker that
dies, or content that cannot be shipped, fails nothing: those chunks are composed here, in
process, and the worker is started again on the next use. ``workers=0`` composes in process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing as mp
import os
import pickle
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

from retenta.core.workers import die_with_parent
from retenta.messaging.channels.base import SendResult
from retenta.messaging.email.headers import HeaderError
from retenta.messaging.email.mime import OutgoingEmail, Recipient
from retenta.messaging.email.profiles import Composer, SendingProfile, failure
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.signing import Keyring
from retenta.messaging.templates import RenderError
from retenta.messaging.tracking import Tracker, add_open_pixel, rewrite_links

log = logging.getLogger(__name__)
CHUNK = 32  # messages a worker composes per call (~30 ms): small enough to start sending soon
IN_FLIGHT_PER_WORKER = 3  # chunks submitted ahead per worker
MIN_POOLED = 64  # a smaller group is composed in process (shipping its kit costs more)
KITS_PER_WORKER = 32  # content versions a worker keeps compiled

Composed = OutgoingEmail | SendResult


def default_workers(cpu_count: int | None = None) -> int:
    """1 worker on a machine of ≤ 2 cores, else one per core but the sender's.

    >>> default_workers(2), default_workers(8), default_workers(None)
    (1, 7, 1)
    """
    cpus = cpu_count or 1
    return 1 if cpus <= 2 else cpus - 1


@dataclass(frozen=True, slots=True)
class Kit:
    """What composing needs once per content version: shipped to each worker once."""

    workspace_id: str
    resolved: Any  # outbox.content.Resolved: its render(variables, languages)
    profile: SendingProfile
    keyring: Keyring
    tracking_base: str | None  # None: no open pixel, no tracked links


@dataclass(frozen=True, slots=True)
class Job:
    """One message: the template variables and what the envelope and tracking need."""

    send_id: str
    contact_id: int
    email: str
    campaign_id: str
    variables: dict[str, Any]
    languages: tuple[str | None, ...]


class Built:
    """A kit with its composer and tracker built (in the process that composes)."""

    def __init__(self, kit: Kit, composer: Composer | None = None) -> None:
        self.kit = kit
        self.composer = composer or Composer(kit.profile, kit.keyring.workspace(kit.workspace_id))
        base = kit.tracking_base
        self.tracker = Tracker(kit.keyring, base) if base else None

    def compose(self, job: Job) -> Composed:
        """The signed message, or this send's permanent failure; never raises for one send."""
        rendered = self.kit.resolved.render(job.variables, job.languages)
        if isinstance(rendered, RenderError):
            return failure(job.send_id, str(rendered), "render_error")
        if not isinstance(rendered, RenderedEmail):
            return failure(
                job.send_id, "the message's email content did not render an email", "render_error"
            )
        if self.tracker is not None:
            rendered = self._tracked(rendered, job, self.tracker)
        recipient = Recipient(self.kit.workspace_id, job.contact_id, job.email)
        try:
            return self.composer.compose(
                send_id=job.send_id,
                recipient=recipient,
                content=rendered,
                campaign_id=job.campaign_id,
            )
        except (HeaderError, ValueError) as exc:  # one send's problem, never the batch's
            return failure(job.send_id, str(exc), "invalid_address")

    def _tracked(self, rendered: RenderedEmail, job: Job, tracker: Tracker) -> RenderedEmail:
        ws, cid, sid = self.kit.workspace_id, job.contact_id, job.send_id
        html, _ = rewrite_links(
            rendered.html,
            lambda i, url: tracker.click_url(ws, cid, sid, i, url),
            skip=(self.kit.profile.unsubscribe_base_url, "/u/"),
        )
        return replace(rendered, html=add_open_pixel(html, tracker.open_url(ws, cid, sid)))


# ---------------------------------------------------------------- in the worker

_KITS: OrderedDict[str, Built] = OrderedDict()


class MissingKitError(LookupError):
    """The worker does not hold this kit (evicted, or a new worker): send it again."""


def _compose_chunk(key: str, kit: bytes | None, jobs: list[Job]) -> list[Composed]:
    """Compose ``jobs`` with the kit ``key`` (unpickled and built here when it comes along)."""
    built = _KITS.get(key)
    if built is None:
        if kit is None:
            raise MissingKitError(key)
        built = _KITS[key] = Built(pickle.loads(kit))  # noqa: S301 - our own process's bytes
        while len(_KITS) > KITS_PER_WORKER:
            _KITS.popitem(last=False)
    _KITS.move_to_end(key)
    return [built.compose(job) for job in jobs]


# ---------------------------------------------------------------- in the sender


class _Worker:
    """One worker process behind a one-process executor (so we know which kits it holds)."""

    def __init__(self) -> None:
        self.executor: ProcessPoolExecutor | None = None
        self.kits: set[str] = set()

    def start(self) -> ProcessPoolExecutor:
        if self.executor is None:
            self.executor = ProcessPoolExecutor(
                1, mp_context=mp.get_context("spawn"),
                initializer=die_with_parent, initargs=(os.getpid(),),
            )  # fmt: skip
            self.kits = set()
        return self.executor

    def broken(self) -> None:
        """Forget a dead worker; the next use starts another."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor, self.kits = None, set()


class ComposePool:
    """Composes emails in ``workers`` processes (0: in this process), in order, pipelined."""

    def __init__(self, workers: int | None = None) -> None:
        self.size = default_workers(os.cpu_count()) if workers is None else workers
        if self.size < 0:
            raise ValueError("compose workers must be 0 (in process) or more")
        self._workers = [_Worker() for _ in range(self.size)]
        self._next = 0
        self._kits: OrderedDict[tuple[int, str], tuple[Any, str, bytes | None]] = OrderedDict()
        self.fallbacks = 0  # chunks composed here because a worker died or a kit would not ship

    async def stream(self, kit: Kit, jobs: Sequence[Job]) -> AsyncIterator[Composed]:
        """Each job's result in order; the workers compose ahead while the caller sends."""
        shipped = self._shipped(kit) if self.size and len(jobs) >= MIN_POOLED else None
        if shipped is None:
            built = Built(kit)
            for job in jobs:
                yield built.compose(job)
            return
        key, blob = shipped
        chunks = [list(jobs[i : i + CHUNK]) for i in range(0, len(jobs), CHUNK)]
        pending: list[tuple[list[Job], _Worker, Future[list[Composed]]]] = []
        ahead = IN_FLIGHT_PER_WORKER * self.size
        submitted = 0
        built_here: Built | None = None
        while submitted < len(chunks) or pending:
            while submitted < len(chunks) and len(pending) < ahead:
                pending.append(self._submit(key, blob, chunks[submitted]))
                submitted += 1
            chunk, worker, future = pending.pop(0)
            try:
                results = await self._result(key, blob, chunk, worker, future)
            except Exception as exc:  # a dead worker (BrokenProcessPool), a pickling failure
                log.error("compose worker failed (%r); composing %d here", exc, len(chunk))
                if isinstance(exc, BrokenProcessPool):
                    worker.broken()  # the next chunk starts another
                self.fallbacks += 1
                built_here = built_here or Built(kit)
                results = [built_here.compose(job) for job in chunk]
            for result in results:
                yield result

    async def _result(
        self,
        key: str,
        blob: bytes,
        chunk: list[Job],
        worker: _Worker,
        future: Future[list[Composed]],
    ) -> list[Composed]:
        """The chunk's results; a worker that dropped the kit gets the chunk again with it."""
        try:
            return await asyncio.wrap_future(future)
        except MissingKitError:
            worker.kits.discard(key)
            executor = worker.start()
            worker.kits.add(key)
            again: Future[list[Composed]] = executor.submit(_compose_chunk, key, blob, chunk)
            return await asyncio.wrap_future(again)

    def _submit(
        self, key: str, blob: bytes, chunk: list[Job]
    ) -> tuple[list[Job], _Worker, Future[list[Composed]]]:
        worker = self._workers[self._next % self.size]
        self._next += 1
        executor = worker.start()
        kit = None if key in worker.kits else blob
        try:
            future = executor.submit(_compose_chunk, key, kit, chunk)
        except BrokenProcessPool as exc:  # died between chunks: the caller composes it here
            future = Future()
            future.set_exception(exc)
        worker.kits.add(key)
        return chunk, worker, future

    def _shipped(self, kit: Kit) -> tuple[str, bytes] | None:
        """The kit's key and pickled bytes (made once per content version and profile);
        None when it does not pickle (it is then composed in process)."""
        # The resolved content is known by identity (CONTENT caches one object per version;
        # we hold it here so its id is not reused); the rest by value (a new DKIM key is a
        # new kit).
        try:
            rest = pickle.dumps((kit.workspace_id, kit.profile, kit.tracking_base, kit.keyring))
        except (pickle.PicklingError, TypeError, AttributeError):
            return None
        index = (id(kit.resolved), hashlib.sha256(rest).hexdigest())
        found = self._kits.get(index)
        if found is None or found[0] is not kit.resolved:
            try:
                blob: bytes | None = pickle.dumps(kit)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                log.warning("content cannot go to the compose pool (%r): composing here", exc)
                blob = None
            key = hashlib.sha256(index[1].encode() + os.urandom(8)).hexdigest()[:24]
            found = self._kits[index] = (kit.resolved, key, blob)
            while len(self._kits) > KITS_PER_WORKER:
                self._kits.popitem(last=False)
        self._kits.move_to_end(index)
        _, key, blob = found
        return None if blob is None else (key, blob)

    async def start(self) -> None:
        """Start the workers now (they start on first use otherwise) and wait until they run."""
        futures = [w.start().submit(os.getpid) for w in self._workers]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))

    def pids(self) -> list[int]:
        """The live workers' process ids (for CPU accounting)."""
        out = []
        for worker in self._workers:
            if worker.executor is not None:
                out += [p.pid for p in worker.executor._processes.values() if p.pid]
        return out

    async def close(self) -> None:
        """Stop the workers (they are started again on the next use)."""
        for worker in self._workers:
            if worker.executor is not None:
                executor = worker.executor
                worker.executor, worker.kits = None, set()
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
