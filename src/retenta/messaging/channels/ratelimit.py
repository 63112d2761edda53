"""A token bucket shared by a profile's connections: at most ``rate`` sends per second."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """``await limiter.acquire()`` before each send; ``rate=None`` means unlimited.

    The bucket holds up to ``burst`` tokens (default: a tenth of a second's worth, at
    least 1), so a burst never exceeds the rate by more than that.
    """

    def __init__(self, rate: float | None, *, burst: float | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("a rate must be positive (or None for no limit)")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, (rate or 0) / 10)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate is None:
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = time.monotonic()
        assert self.rate is not None
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
