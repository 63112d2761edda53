"""The real-time loop: evaluate touched contacts as soon as a commit reports them; beside
it, a second task runs the full passes that are due (expiry, drift check), whose member
sets are read off the writer (passes.py) so rounds go on while a pass reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retenta.segments.membership.engine import MembershipEngine

log = logging.getLogger(__name__)


class RealtimeRunner:
    """Runs on the server's event loop; ``wake`` may be called from any thread."""

    def __init__(self, engine: MembershipEngine) -> None:
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._rounds(), name="segments-realtime-rounds"),
            asyncio.create_task(self._passes(), name="segments-full-passes"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def _rounds(self) -> None:
        """A round whenever commits reported contacts; otherwise wait to be woken."""
        assert self._event is not None
        while not self._stopping:
            self._event.clear()
            try:
                await self.engine.process_pending()
            except Exception:
                log.exception("real-time membership round failed")
            if self.engine.pending:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.engine.tick_s)

    async def _passes(self) -> None:
        """Every ``tick_s``, the full passes that are due, one at a time."""
        while not self._stopping:
            try:
                await self.engine.run_due_passes()
            except Exception:
                log.exception("membership full passes failed")
            await asyncio.sleep(self.engine.tick_s)
