"""A lifecycle service that calls ``tick()`` in a worker thread, over and over.

The journey and campaign runners are this: each tick does a bounded amount of durable work
and is safe to replay, so a tick that raises is logged and the next one carries on.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class Ticking(ABC):
    """Subclasses set ``name`` and ``interval_s`` and define ``tick() -> int``."""

    name = "ticking"
    interval_s = 1.0
    _task: asyncio.Task[None] | None = None

    @abstractmethod
    def tick(self) -> int:
        """One bounded, replayable unit of work; how much it did."""

    def busy(self, done: int) -> bool:
        """Whether to tick again at once (a full batch: more is due) instead of sleeping."""
        return False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                done = await asyncio.to_thread(self.tick)
            except Exception:  # logged; the next tick replays what this one did not finish
                log.exception("%s tick failed", self.name)
                done = 0
            if not self.busy(done):
                await asyncio.sleep(self.interval_s)
