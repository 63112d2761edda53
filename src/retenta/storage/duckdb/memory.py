"""DuckDB's buffer pool sized to what the rest of the process leaves of a memory budget.

DuckDB bounds its own buffer pool (``memory_limit``) and nothing else. The server also holds
the writer's in-memory indexes (the identity map, ~130 bytes an identifier; the messageId
fingerprints, 4 bytes an id), Python's heap and its libraries, and those grow with the store:
at 1M contacts and 50M events they came to ~900 MB, so with a 1 GB pool the ingesting server
reached 1,980 MB of RSS against issue #2's 1.5 GB (docs/ingest.md, session 14). A smaller
fixed pool would make every store pay for what only the large ones need: segments at 1M
contacts ran 1.1-1.6x slower with 512MB.

So the pool's limit follows a measurement instead. Every ``interval`` seconds the writer
reads the process's RSS and the memory DuckDB says it holds; the difference is everything
else, and the pool gets the budget less that and a headroom, between a floor and the
configured ``memory_limit``. DuckDB evicts down to a lowered limit at once and RSS follows
(a full 1 GB pool set to 400MB: 1,061 → 477 MB, this machine), so the loop settles within a
tick. A limit goes down promptly and up only by a step, so a steady process does not keep
setting it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MiB = 1 << 20
GOVERN_INTERVAL_S = 2.0
# The pool never goes below half its ceiling (and 256MiB): a writer unit pins what it needs
# (the ART index nodes it changes stay pinned until a checkpoint), and at a 256 MiB pool a
# 1M-row contacts import failed ("failed to pin block", 690k rows in); at 512MiB it passed.
POOL_FLOOR = 256 * MiB
FLOOR_SHARE = 0.5
RELIEF_S = 60.0  # after an out-of-memory error the pool stays at its ceiling this long
HEADROOM = 96 * MiB  # a unit's Arrow tables and the allocators' slack, between two ticks
SHRINK_STEP = 16 * MiB  # lower the limit once the target is this far below it
GROW_STEP = 64 * MiB  # raise it only this far at least

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|bytes)\s*")
_UNITS = {
    "bytes": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}  # fmt: skip


def size_bytes(text: str) -> int | None:
    """A size as DuckDB writes or reads one (``16.0 MiB``, ``1GB``, ``512 bytes``) in
    bytes; None when it is not one (DuckDB too wants the unit).

    >>> size_bytes("16.0 MiB"), size_bytes("1400MiB"), size_bytes("1.5GB"), size_bytes("16")
    (16777216, 1468006400, 1500000000, None)
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True, slots=True)
class Budget:
    """The RSS the process aims to stay within, and the pool's bounds inside it."""

    process: int
    pool_max: int
    pool_min: int = POOL_FLOOR
    headroom: int = HEADROOM

    @classmethod
    def within(cls, process: int, pool_max: int) -> Budget:
        """A budget whose pool never goes below half its ceiling (nor 256MiB).

        >>> Budget.within(1400 * MiB, 10**9).pool_min // MiB
        476
        """
        return cls(process, pool_max, pool_min=max(POOL_FLOOR, int(pool_max * FLOOR_SHARE)))

    def pool_for(self, rss: int, pool_used: int) -> int:
        """The pool limit that keeps the process within budget, given what it holds now.

        >>> b = Budget(process=1400 * MiB, pool_max=1024 * MiB)
        >>> b.pool_for(rss=300 * MiB, pool_used=100 * MiB) // MiB  # a small store: all of it
        1024
        >>> b.pool_for(rss=1900 * MiB, pool_used=1000 * MiB) // MiB  # 900 MB of indexes
        404
        >>> b.pool_for(rss=1500 * MiB, pool_used=0) // MiB  # more than the budget: the floor
        256
        """
        others = max(0, rss - pool_used)
        return max(self.pool_min, min(self.pool_max, self.process - self.headroom - others))


def next_limit(current: int, target: int) -> int | None:
    """The limit to set, or None to leave ``current`` as it is.

    >>> next_limit(1024 * MiB, 404 * MiB) // MiB, next_limit(400 * MiB, 410 * MiB)
    (404, None)
    >>> next_limit(400 * MiB, 500 * MiB) // MiB, next_limit(400 * MiB, 390 * MiB)
    (500, None)
    """
    if target <= current - SHRINK_STEP or target >= current + GROW_STEP:
        return target
    return None


def process_rss() -> int | None:
    """The process's resident set size now (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PoolGovernor:
    """Sets DuckDB's ``memory_limit`` from the budget (module doc); the writer thread calls
    ``govern`` between units and while idle, with its own connection."""

    def __init__(
        self,
        budget: Budget,
        *,
        interval: float = GOVERN_INTERVAL_S,
        rss: Callable[[], int | None] = process_rss,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self.interval = interval
        self._rss = rss
        self._clock = clock
        self._due = clock()
        self._warned = False

    def seconds_left(self) -> float:
        return max(0.0, self._due - self._clock())

    def relieve(self, conn: Any) -> None:
        """After an out-of-memory error: the pool back at its ceiling for ``RELIEF_S``, so
        that the unit tried again (a split ingest unit, a retried import) finds it there."""
        conn.execute(f"SET memory_limit = '{self.budget.pool_max // MiB}MiB'")
        self._due = self._clock() + RELIEF_S
        log.warning(
            "memory: DuckDB ran out of its pool; the limit is back at %d MiB for %.0f s",
            self.budget.pool_max // MiB,
            RELIEF_S,
        )

    def govern(self, conn: Any) -> int | None:
        """When due: the limit set (None if none was); the caller's connection is idle."""
        if self._clock() < self._due:
            return None
        self._due = self._clock() + self.interval
        rss = self._rss()
        if rss is None:
            return None
        ((used, setting),) = conn.execute(
            "SELECT (SELECT sum(memory_usage_bytes) FROM duckdb_memory()),"
            " current_setting('memory_limit')"
        ).fetchall()
        current = size_bytes(str(setting))
        target = self.budget.pool_for(rss, int(used or 0))
        self._warn_if_over(rss, int(used or 0), target)
        limit = None if current is None else next_limit(current, target)
        if limit is not None:
            conn.execute(f"SET memory_limit = '{limit // MiB}MiB'")
            log.debug(
                "memory: DuckDB's pool limit %d MiB (RSS %d MiB, of which the pool %d MiB)",
                limit // MiB,
                rss // MiB,
                int(used or 0) // MiB,
            )
        return limit

    def _warn_if_over(self, rss: int, used: int, target: int) -> None:
        if self._warned or target > self.budget.pool_min or rss <= self.budget.process:
            return
        self._warned = True
        log.warning(
            "memory: the process holds %d MiB besides DuckDB's pool, which leaves the pool "
            "less than its %d MiB floor of the %d MiB budget; raise storage.memory_budget "
            "(RETENTA_STORAGE__MEMORY_BUDGET)",
            (rss - used) // MiB,
            self.budget.pool_min // MiB,
            self.budget.process // MiB,
        )
