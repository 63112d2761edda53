"""Group commit of handover records: many concurrent "about to hand over" notes, one unit.

Each SMTP session (or HTTP worker) awaits ``mark(send_id, attempt)`` just before its message
goes on the wire. Marks that arrive while a commit is running wait for the next one, which
takes all of them: with 8 sessions a commit carries up to 8 marks, and a session waits at
most about two commits.

``mark(..., then=f)``: ``f()`` runs right after the commit, on the thread that made it
durable, before any waiter wakes: an SMTP session passes the write of its final ``.``, so the
message is taken microseconds after its record is durable, not when the event loop gets to
it (a kill in between loses the message; ``channels/smtp.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

After = Callable[[], None]
Commit = Callable[[Sequence[tuple[str, int]], Sequence[After]], Awaitable[None]]


class HandoverLog:
    def __init__(self, commit: Commit) -> None:
        self._commit = commit
        self._pending: list[tuple[str, int]] = []
        self._after: list[After] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # units written (for tests and benchmarks)

    async def mark(self, send_id: str, attempt: int, *, then: After | None = None) -> None:
        await self.mark_many([(send_id, attempt)], then=then)

    async def mark_many(
        self, items: Sequence[tuple[str, int]], *, then: After | None = None
    ) -> None:
        if not items:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.extend(items)
        if then is not None:
            self._after.append(then)
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._pending:
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
