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

import logging
import time

from retenta.ingest.deferred import DeferredApply
from retenta.ingest.journal import CAUGHT_UP_MAX_S, JournalProgress, Thresholds

log = logging.getLogger(__name__)


class ReadBarrier:
    """The reads waiting for ingestion's answers, and how long they waited (``/metrics``)."""

    def __init__(self, progress: JournalProgress, deferred: DeferredApply | None) -> None:
        self.progress = progress
        self.deferred = deferred
        self.waits = 0  # reads that waited
        self.waited_s = 0.0  # … for this long in all
        self._applied = Thresholds()  # waiting for ``deferred.settled_total``

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
            left = CAUGHT_UP_MAX_S - (time.monotonic() - started)
            if left > 0:  # else the journal's wait used it all, and said so
                await self._applied_so_far(left)
        finally:
            self.waits += 1
            self.waited_s += time.monotonic() - started

    def release(self) -> None:
        """After a writer unit (the pipeline's loop): reads whose apply has happened go on."""
        if self.deferred is not None:
            self._applied.release(self.deferred.settled_total)

    async def _applied_so_far(self, timeout_s: float) -> None:
        """Until commerce has applied what committed units have noted so far."""
        deferred = self.deferred
        if deferred is None or deferred.settled_total >= deferred.noted_total:
            return
        if not await self._applied.reached(deferred.noted_total, timeout_s):
            log.warning("a read waited %.1f s for commerce's deferred apply; reading without it",
                        timeout_s)  # fmt: skip
