"""A lifecycle service that calls ``tick()`` in a worker thread, over and over.

The journey and campaign runners are this: each tick does a bounded amount of durable work
and is safe to replay, so a tick that raises is logged and the next one carries on.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class IdleBackoff:
    """A poll interval that doubles from ``base_s`` up to ``max_s`` while rounds find nothing
    and returns to ``base_s`` after a round that did work or was woken."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s, self.max_s, self.current_s = base_s, max_s, base_s

    def after(self, *, active: bool) -> None:
        self.current_s = self.base_s if active else min(2 * self.current_s, self.max_s)


async def wait_for_wake(woken: asyncio.Event, timeout_s: float) -> bool:
    """Until ``woken`` is set or ``timeout_s`` passes; whether it was set."""
    try:
        await asyncio.wait_for(woken.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


class Ticking(ABC):
    """Subclasses set ``name`` and ``interval_s`` and define ``tick() -> int``."""

    name = "ticking"
    interval_s = 1.0
    _task: asyncio.Task[None] | None = None
    _woken: asyncio.Event | None = None
    _event_loop: asyncio.AbstractEventLoop | None = None

    @abstractmethod
    def tick(self) -> int:
        """One bounded, replayable unit of work; how much it did."""

    def busy(self, done: int) -> bool:
        """Whether to tick again at once (a full batch: more is due) instead of sleeping."""
        return False

    def sleep_s(self) -> float:
        """How long to sleep after a tick that was not busy (a wake ends it early)."""
        return self.interval_s

    def wake(self) -> None:
        """Tick now instead of after the interval (thread-safe; a no-op when not started)."""
        loop, woken = self._event_loop, self._woken
        if loop is not None and woken is not None and not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    async def start(self) -> None:
        self._event_loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            if self._woken is not None:
                self._woken.clear()  # a wake() during this tick ends the next sleep at once
            try:
                done = await asyncio.to_thread(self.tick)
            except Exception:  # logged; the next tick replays what this one did not finish
                log.exception("%s tick failed", self.name)
                done = 0
            if not self.busy(done):
                await self._sleep()

    async def _sleep(self) -> None:
        if self._woken is None:
            await asyncio.sleep(self.sleep_s())
            return
        await wait_for_wake(self._woken, self.sleep_s())
