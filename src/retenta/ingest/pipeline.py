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
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from retenta.core.messages import Message
from retenta.core.pipeline import Applier, Resolver
from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from retenta.ingest.dedup import Key, MessageIdDedup, hash_keys, insert_keys, key_table
from retenta.settings import Settings
from retenta.storage.base import Database
from retenta.storage.duckdb.events import append_events, messages_to_arrow

log = logging.getLogger(__name__)
MAX_GROUP_EVENTS = 20_000


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
    waiter: asyncio.Future[IngestOutcome] | Future[IngestOutcome] | None = None
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
        self.store = not settings.ingest_skip_storage
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the group-commit loop."""
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

    async def ingest(
        self, messages: Sequence[Message], dead_letters: Sequence[DeadLetter] = ()
    ) -> IngestOutcome:
        """Store messages durably (deduplicated, resolved, applied); returns after COMMIT."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        if self._queue is None:  # not started (tests, scripts): one unit per call
            return await self.db.awrite(lambda c: self._write_one(c, messages, dead_letters))
        waiter: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(messages, dead_letters, waiter))
        return await waiter

    def ingest_sync(
        self, messages: Sequence[Message], dead_letters: Sequence[DeadLetter] = ()
    ) -> IngestOutcome:
        """The same from a non-async thread (imports, the demo trickle, the CLI)."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        return self.db.write(lambda c: self._write_one(c, messages, dead_letters))

    def _write_one(
        self, conn: Any, messages: Sequence[Message], dead_letters: Sequence[DeadLetter]
    ) -> IngestOutcome:
        req = _Request(messages, dead_letters)
        self._write_group(conn, [req])
        assert req.outcome is not None
        return req.outcome

    # -- the group-commit loop -------------------------------------------------------

    async def _run(self) -> None:
        assert self._queue is not None
        stopping = False
        while not stopping:
            group, stopping = await self._take_group(self._queue)
            if group:
                await self._commit(group)

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
        messages = [m for req in group for m in req.messages]
        insert_dead_letters(conn, [d for req in group for d in req.dead_letters])
        if not messages:
            _count_outcomes(group, [])
            return
        for m in messages:
            m.contact_id, m.dropped = None, None  # a retried unit starts afresh
        keys: list[Key] = [(m.workspace_id, m.message_id) for m in messages]
        table = key_table(keys)
        hashes = hash_keys(conn, table)
        fresh_mask = self.dedup.fresh_mask(conn, keys, hashes)
        fresh = [m for m, new in zip(messages, fresh_mask, strict=True) if new]
        if fresh:
            self.resolver.resolve(conn, fresh)
            _close_results(conn)
        stored = [m for m in fresh if m.dropped is None]
        append_events(conn, messages_to_arrow(stored))
        insert_keys(conn, table.filter(pa.array(fresh_mask, type=pa.bool_())))
        for applier in self.appliers:
            if stored:
                applier.apply(conn, stored)
                _close_results(conn)
        _count_outcomes(group, fresh_mask)
        fresh_keys = [k for k, new in zip(keys, fresh_mask, strict=True) if new]
        self.dedup.remember(fresh_keys, hashes[fresh_mask])


def _close_results(conn: Any) -> None:
    """Finish any result a resolver or applier left half-read (``fetchone``): DuckDB 2
    refuses ``register`` on a connection with an open result; ``execute`` closes it."""
    conn.execute("SELECT 1").fetchall()


def _count_outcomes(group: list[_Request], fresh_mask: list[bool]) -> None:
    i = 0
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


def _settle(req: _Request, exc: BaseException | None) -> None:
    waiter = req.waiter
    if waiter is None or waiter.done():
        return
    if exc is not None:
        waiter.set_exception(exc)
    else:
        assert req.outcome is not None
        waiter.set_result(req.outcome)
