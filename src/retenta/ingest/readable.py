"""When what ingestion has answered is readable: the management API's wait.

Two things can be answered before they are readable. With the intake journal, a ``/v1``
request is answered once journaled, and stored behind the answer (``journal.py``). In
either mode, while clients are many, a unit stores its events and notes their commerce
work (orders, carts) for a batched apply up to ``deferred.APPLY_EVERY_S`` later
(``deferred.py``). An integration that sent events and then reads through the API with
its key waits here for both (``web/after_journal.py``), so it reads what it was told is
stored; nothing pending costs no wait. ``CAUGHT_UP_MAX_S`` bounds the whole wait: a read
then goes on without what is still behind.
"""

from __future__ import annotations

import asyncio
import logging
import time

from retenta.ingest.deferred import DeferredApply
from retenta.ingest.journal import CAUGHT_UP_MAX_S, JournalProgress

log = logging.getLogger(__name__)


class ReadBarrier:
    """The reads waiting for ingestion's answers, and how long they waited (``/metrics``)."""

    def __init__(self, progress: JournalProgress, deferred: DeferredApply | None) -> None:
        self.progress = progress
        self.deferred = deferred
        self.waits = 0  # reads that waited
        self.waited_s = 0.0  # … for this long in all
        self._applied: list[tuple[int, asyncio.Future[None]]] = []  # (noted count, waiter)

    def pending(self) -> bool:
        """Whether anything answered is not readable yet."""
        deferred = self.deferred
        return self.progress.unapplied > 0 or (
            deferred is not None and deferred.settled_total < deferred.noted_total
        )

    async def wait(self) -> None:
        """Until everything answered so far is readable (``CAUGHT_UP_MAX_S`` at most)."""
        if not self.pending():
            return
        started = time.monotonic()
        try:
            await self.progress.caught_up()
            await self._applied_so_far(CAUGHT_UP_MAX_S - (time.monotonic() - started))
        finally:
            self.waits += 1
            self.waited_s += time.monotonic() - started

    def release(self) -> None:
        """After a writer unit (the pipeline's loop): reads whose apply has happened go on."""
        if not self._applied or self.deferred is None:
            return
        settled = self.deferred.settled_total
        waiting, self._applied = self._applied, []
        for target, waiter in waiting:
            if target > settled:
                self._applied.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)

    async def _applied_so_far(self, timeout_s: float) -> None:
        """Until commerce has applied what committed units have noted so far."""
        deferred = self.deferred
        if deferred is None or deferred.settled_total >= deferred.noted_total:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied.append((deferred.noted_total, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), max(timeout_s, 0.0))
        except TimeoutError:
            log.warning("a read waited %.0f s for commerce's deferred apply; reading without it",
                        CAUGHT_UP_MAX_S)  # fmt: skip
