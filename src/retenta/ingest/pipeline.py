"""Group-commit ingestion: many requests, one writer transaction, durable acknowledgement.

Requests put their messages on a queue and wait on a future. One loop takes everything
waiting (at most ``MAX_GROUP_EVENTS`` events, lingering ``ingest_group_commit_ms`` for
late-comers) and runs ONE unit of work in the writer: dedup → resolve → append → apply.
Each future resolves only after COMMIT. When a unit fails, the group is split in halves
and retried, so only the request(s) that make it fail get the error.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from retenta.core.messages import Message
from retenta.core.pipeline import Applier, Resolver
from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from retenta.ingest.dedup import Key, MessageIdDedup, hash_keys, insert_keys, key_table
from retenta.ingest.stats import IngestStats
from retenta.settings import Settings
from retenta.storage.base import Database
from retenta.storage.duckdb.events import append_events, messages_to_arrow

log = logging.getLogger(__name__)
MAX_GROUP_EVENTS = 20_000
MAX_IN_FLIGHT = 2
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class IngestOutcome:
    stored: int
    duplicates: int
    dropped: int


@dataclass
class _Request:
    """One caller's share of a group: its messages, its dead letters, its future."""

    messages: Sequence[Message]
    dead_letters: Sequence[DeadLetter] = ()
    waiter: asyncio.Future[IngestOutcome] | None = None
    outcome: IngestOutcome | None = field(default=None)


class IngestPipeline:
    def __init__(
        self, *, db: Database, resolver: Resolver, appliers: Sequence[Applier], settings: Settings
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.appliers = list(appliers)
        self.settings = settings
        self.dedup = MessageIdDedup()
        self.stats = IngestStats()
        self.store = not settings.ingest_skip_storage
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the messageId filter (before the server takes requests), start the loop."""
        # The writer thread releases the GIL for every DuckDB statement and must win it back
        # from the busy event loop; at the default 5 ms switch interval that wait dominated
        # small units (alternating A/B runs, this machine under load: median /v1/batch
        # 7,680 events/s at 0.5 ms against 3,220 at 5 ms).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        if self.store:
            await self.db.awrite(self.dedup.ensure_loaded)
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(), name="ingest-group-commit")

    async def stop(self) -> None:
        """Flush everything queued, then stop."""
        if self._task is None or self._queue is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        self._queue = None
        self._write_stats()

    def _write_stats(self) -> None:
        """Leave the run's per-phase timings in the data directory (read by bench_ingest)."""
        path = self.settings.data_dir / "ingest-stats.json"
        try:
            path.write_bytes(orjson.dumps(self.stats.as_dict(), option=orjson.OPT_INDENT_2))
        except OSError:
            log.warning("could not write %s", path, exc_info=True)

    async def ingest(
        self, messages: Sequence[Message], dead_letters: Sequence[DeadLetter] = ()
    ) -> IngestOutcome:
        """Store messages durably (deduplicated, resolved, applied); returns after COMMIT."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        if self._queue is None:  # not started (tests, scripts): one unit per call
            req = _Request(messages, dead_letters)
            try:
                await self.db.awrite(lambda c: self._write_group(c, [req]))
            except BaseException:
                self._forget([req])
                raise
            assert req.outcome is not None
            return req.outcome
        waiter: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(messages, dead_letters, waiter))
        return await waiter

    def ingest_sync(
        self, messages: Sequence[Message], dead_letters: Sequence[DeadLetter] = ()
    ) -> IngestOutcome:
        """The same from a non-async thread (imports, the demo trickle, the CLI)."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        req = _Request(messages, dead_letters)
        try:
            self.db.write(lambda c: self._write_group(c, [req]))
        except BaseException:
            self._forget([req])
            raise
        assert req.outcome is not None
        return req.outcome

    # -- the group-commit loop -------------------------------------------------------

    async def _run(self) -> None:
        """Collect and submit groups; two may be in flight so the writer never idles while
        the event loop gathers the next one (units still run one after another)."""
        assert self._queue is not None
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        stopping = False
        while not stopping:
            await slots.acquire()
            group, stopping = await self._take_group(self._queue)
            if not group:
                slots.release()
                continue
            task = asyncio.create_task(self._commit_then_release(group, slots))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    async def _commit_then_release(self, group: list[_Request], slots: asyncio.Semaphore) -> None:
        try:
            await self._commit(group)
        finally:
            slots.release()

    async def _take_group(self, q: asyncio.Queue[_Request | None]) -> tuple[list[_Request], bool]:
        """Everything waiting, lingering briefly for late-comers; ``True`` once told to stop."""
        first = await q.get()
        if first is None:
            return [], True
        group, events = [first], len(first.messages)
        deadline = time.monotonic() + self.settings.ingest_group_commit_ms / 1000
        while events < MAX_GROUP_EVENTS:
            try:
                item = q.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(q.get(), left)
                except TimeoutError:
                    break
            if item is None:
                return group, True
            group.append(item)
            events += len(item.messages)
        return group, False

    async def _commit(self, group: list[_Request]) -> None:
        """One unit for the group; on failure, halves retried so only culprits fail."""
        try:
            await self.db.awrite(lambda c: self._write_group(c, group))
        except Exception as exc:
            self._forget(group)
            if len(group) == 1:
                _settle(group[0], exc)
                return
            log.warning("ingest group of %d failed (%s); retrying in halves", len(group), exc)
            half = len(group) // 2
            await self._commit(group[:half])
            await self._commit(group[half:])
            return
        for req in group:
            _settle(req, None)

    def _forget(self, group: list[_Request]) -> None:
        self.dedup.forget([(m.workspace_id, m.message_id) for r in group for m in r.messages])

    # -- the unit of work (writer thread) --------------------------------------------

    def _write_group(self, conn: Any, group: list[_Request]) -> None:
        lap = self.stats.clock()
        insert_dead_letters(conn, [d for req in group for d in req.dead_letters])
        lap("dead_letters")
        messages = [m for req in group for m in req.messages]
        if not messages:
            _count_outcomes(group, [])
            return
        keys, hashes, fresh_mask = self._dedup(conn, messages)
        lap("dedup")
        fresh = [m for m, new in zip(messages, fresh_mask, strict=True) if new]
        if fresh:
            self.resolver.resolve(conn, fresh)
            _close_results(conn)
        lap("resolve")
        stored = [m for m in fresh if m.dropped is None]
        append_events(conn, messages_to_arrow(stored))
        fresh_keys = [k for k, new in zip(keys, fresh_mask, strict=True) if new]
        insert_keys(conn, key_table(fresh_keys))
        lap("append")
        self._apply(conn, stored)
        lap("apply")
        self.stats.count(**_count_outcomes(group, fresh_mask))
        self.dedup.remember(fresh_keys, hashes[fresh_mask])

    def _dedup(
        self, conn: Any, messages: list[Message]
    ) -> tuple[list[Key], np.ndarray, list[bool]]:
        for m in messages:
            m.contact_id, m.dropped = None, None  # a retried unit starts afresh
        keys: list[Key] = [(m.workspace_id, m.message_id) for m in messages]
        hashes = hash_keys(keys)
        return keys, hashes, self.dedup.fresh_mask(conn, keys, hashes)

    def _apply(self, conn: Any, stored: list[Message]) -> None:
        if not stored:
            return
        for applier in self.appliers:
            applier.apply(conn, stored)
            _close_results(conn)


def _close_results(conn: Any) -> None:
    """Finish any result a resolver or applier left half-read (``fetchone``): DuckDB 2
    refuses ``register`` on a connection with an open result until it is completed."""
    conn.complete()


def _count_outcomes(group: list[_Request], fresh_mask: list[bool]) -> dict[str, int]:
    """Set each request's outcome; returns the group's totals."""
    i = 0
    totals = {"events": 0, "stored": 0, "duplicates": 0, "dropped": 0}
    for req in group:
        stored = duplicates = dropped = 0
        for m in req.messages:
            if not fresh_mask[i]:
                duplicates += 1
            elif m.dropped is not None:
                dropped += 1
            else:
                stored += 1
            i += 1
        req.outcome = IngestOutcome(stored=stored, duplicates=duplicates, dropped=dropped)
        totals["events"] += len(req.messages)
        totals["stored"] += stored
        totals["duplicates"] += duplicates
        totals["dropped"] += dropped
    return totals


def _settle(req: _Request, exc: BaseException | None) -> None:
    waiter = req.waiter
    if waiter is None or waiter.done():
        return
    if exc is not None:
        waiter.set_exception(exc)
    else:
        assert req.outcome is not None
        waiter.set_result(req.outcome)
