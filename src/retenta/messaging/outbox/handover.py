"""Group commit of handover records: many concurrent "about to hand over" notes, one unit.

Each SMTP session (or HTTP worker) awaits ``mark(send_id, attempt)`` just before its message
goes on the wire. Marks that arrive while a commit is running wait for the next one, which
takes all of them: with 8 sessions a commit carries up to 8 marks, and a session waits at
most about two commits.

``mark(..., then=f)``: the records are *pending* (``journal.py``); ``f()`` runs right after
the commit, on the thread that made it durable, right after the record's confirmation and
before any waiter wakes: an SMTP session passes the write of its final ``.``. A kill after
the commit and before the confirmation leaves a pending record, which a restart on the same
boot reads as "not handed over" (the message goes out again); one between the confirmation
and the ``.`` (microseconds, the GIL held) loses the message (``channels/smtp_data.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from retenta.messaging.outbox.journal import Pending, Record, Then

Commit = Callable[[Sequence[Record], Sequence[Pending]], Awaitable[None]]


class HandoverLog:
    def __init__(self, commit: Commit) -> None:
        self._commit = commit
        self._pending: list[Record] = []
        self._after: list[Pending] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # units written (for tests and benchmarks)

    async def mark(self, send_id: str, attempt: int, *, then: Then | None = None) -> None:
        await self.mark_many([(send_id, attempt)], then=then)

    async def mark_many(self, items: Sequence[Record], *, then: Then | None = None) -> None:
        if not items:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if then is None:
            self._pending.extend(items)
        else:
            self._after.append((list(items), then))
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._pending or self._after:
            items, self._pending = self._pending, []
            after, self._after = self._after, []
            waiters, self._waiters = self._waiters, []
            try:
                await self._commit(items, after)
                self.commits += 1
            except BaseException as exc:  # nobody may hand over what was not recorded
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
