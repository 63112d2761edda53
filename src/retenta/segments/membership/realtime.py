"""The real-time loop: evaluate touched contacts as soon as a commit reports them; between
rounds, run the full passes that are due (expiry, drift check)."""

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
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="segments-realtime")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

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

    async def _run(self) -> None:
        assert self._event is not None
        next_passes = 0.0
        while not self._stopping:
            self._event.clear()
            await self._round()
            loop_time = asyncio.get_running_loop().time()
            if loop_time >= next_passes:
                await self._passes()
                next_passes = loop_time + self.engine.tick_s
            if self.engine.pending:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.engine.tick_s)

    async def _round(self) -> None:
        try:
            await self.engine.process_pending()
        except Exception:
            log.exception("real-time membership round failed")

    async def _passes(self) -> None:
        """The due passes, one unit each, touched contacts evaluated between them."""
        try:
            await self.engine.run_due_passes(between=self._round_if_pending)
        except Exception:
            log.exception("membership full passes failed")

    async def _round_if_pending(self) -> None:
        if self.engine.pending:
            await self._round()
