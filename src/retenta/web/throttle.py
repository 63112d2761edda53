"""Failed-login throttling: a sliding window of failures per key, in memory.

Pure apart from the caller-supplied clock, so it is tested without sleeping.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """At most ``max_failures`` failed attempts per key within ``window_s`` seconds.

    >>> t = LoginThrottle(max_failures=2, window_s=60)
    >>> t.fail("k", now=0); t.fail("k", now=1)
    >>> t.retry_after("k", now=30)
    30
    >>> t.retry_after("k", now=61)
    0
    """

    max_failures: int = 5
    window_s: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[0] + self.window_s - now + 0.999))

    def fail(self, key: str, now: float) -> None:
        with self._lock:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            if len(self._failures) > 100_000:  # bound memory under a spray of keys
                self._failures.clear()

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
