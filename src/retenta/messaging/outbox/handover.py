"""Group commit of handover records: many concurrent "about to hand over" notes, one unit.

Each SMTP session (or HTTP worker) awaits ``mark(send_id, attempt)`` just before its message
goes on the wire. Marks that arrive while a commit is running wait for the next one, which
takes all of them: with 8 sessions a commit carries up to 8 marks, and a session waits at
most about two writer units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence


class HandoverLog:
    def __init__(self, commit: Callable[[Sequence[tuple[str, int]]], Awaitable[None]]) -> None:
        self._commit = commit
        self._pending: list[tuple[str, int]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # units written (for tests and benchmarks)

    async def mark(self, send_id: str, attempt: int) -> None:
        await self.mark_many([(send_id, attempt)])

    async def mark_many(self, items: Sequence[tuple[str, int]]) -> None:
        if not items:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.extend(items)
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._pending:
            items, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            try:
                await self._commit(items)
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
