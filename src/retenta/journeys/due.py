"""Which runs are due, without scanning every run on every tick.

DuckDB has no B-tree: its ART index is used for point lookups, not for ``ORDER BY wake_at
LIMIT n`` or a range on ``wake_at`` (measured at 1M active runs: the same 5-15 ms CPU with or
without an index on ``wake_at``), and a lookup of 2,000 runs by id costs more (20-40 ms)
than the full filtered scan. What DuckDB does skip cheaply is a row group whose zone map
cannot match. So the runner asks three cheap questions instead of one expensive one:

- **fresh** (every tick, and at once when ingestion commits an entry): runs that entered
  since the last sweep. ``entered_at`` grows with the table's insertion order, so the zone
  maps skip every older row group (~0.5-3 ms at 1M runs);
- **sweep** (every ``sweep_s``, again at once while a batch comes back full, and within
  ``hurry_gap_s`` after ingestion commits a unit): every active run due within
  ``lookahead``. Woken waits, resumed journeys and moved runs are found here (with nothing
  due, the zone maps make it ~1.4 ms at 1.2M runs);
- **upcoming** (every tick, in memory): the runs a sweep saw due soon are taken at their
  due time, so a timer fires within a tick of due, not within a sweep.

A row handed out may be stale (stopped, woken or moved since it was read): the runner's
save only applies while the run is still where it was read (``runner._save``), and every
side effect is idempotent by (run, node), so a stale step repeats nothing.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

COLUMNS = (
    "run_id, workspace_id, journey_id, version, contact_id, node_id, node_entered_at,"
    " entered_at, context, wake_at"
)
HELD = "journey_id NOT IN (SELECT id FROM journeys WHERE status <> 'live')"
FRESH_SQL = f"""
SELECT {COLUMNS} FROM journey_runs
WHERE entered_at >= ? AND state = 'active' AND wake_at <= ? AND {HELD}
ORDER BY wake_at LIMIT ?
"""
SWEEP_SQL = f"""
SELECT {COLUMNS} FROM journey_runs
WHERE state = 'active' AND wake_at <= ? AND {HELD}
ORDER BY wake_at LIMIT ?
"""
Row = tuple[Any, ...]  # COLUMNS, in order; row[0] is the run id, row[-1] its wake time


@dataclass
class DueRuns:
    """The runner's view of what is due (memory only: a restart starts with a sweep)."""

    sweep_s: float = 0.5
    lookahead_s: float = 1.0
    fresh_margin_s: float = 5.0
    hurry_gap_s: float = 0.1
    _next_sweep: datetime | None = None  # None: sweep on the next claim
    _swept_at: datetime | None = None
    _hurry: bool = False  # ingestion committed: a woken wait may be due, sweep soon
    _last_moment: datetime | None = None
    _fresh_since: datetime | None = None  # wall clock: entered_at is written with it
    _upcoming: list[tuple[datetime, str, Row]] = field(default_factory=list)
    _queued: set[str] = field(default_factory=set)

    def claim(self, conn: Any, now: datetime, limit: int) -> list[Row]:
        """Up to ``limit`` runs due at ``now``, each once, earliest first."""
        rows: dict[str, Row] = {}
        self._take_upcoming(now, limit, rows)
        if self._sweep_due(now):
            self._sweep(conn, now, limit, rows)
        elif self._fresh_since is not None and len(rows) < limit:
            fresh = conn.execute(FRESH_SQL, [self._fresh_since, now, limit]).fetchall()
            for row in fresh:
                rows.setdefault(row[0], row)
        self._last_moment = now
        return sorted(rows.values(), key=lambda r: r[-1])[:limit]

    def quiet_s(self, now: datetime) -> float:
        """Seconds from ``now`` until this view has anything to look for — the next sweep
        or the earliest upcoming run; 0 when a sweep is due or hurried. Between them a
        claim could only find fresh entries, and ingestion nudges the runner for those.

        >>> due = DueRuns(sweep_s=0.5)
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> due.quiet_s(t), DueRuns(_next_sweep=t + timedelta(seconds=0.4)).quiet_s(t)
        (0.0, 0.4)
        """
        if self._next_sweep is None or self._hurry:
            return 0.0
        until = self._next_sweep
        if self._upcoming:
            until = min(until, self._upcoming[0][0])
        return max(0.0, (until - now).total_seconds())

    def resweep(self) -> None:
        """Sweep on the next claim (a full batch came back: more may be due)."""
        self._next_sweep = None

    def hurry(self) -> None:
        """Sweep within ``hurry_gap_s`` (thread-safe): an ingest unit committed, and an event
        in it may have woken a waiting run (``entry._wake``), which only a sweep finds."""
        self._hurry = True

    def _sweep_due(self, now: datetime) -> bool:
        went_back = self._last_moment is not None and now < self._last_moment
        hurried = self._hurry and (
            self._swept_at is None or now - self._swept_at >= timedelta(seconds=self.hurry_gap_s)
        )
        return self._next_sweep is None or now >= self._next_sweep or went_back or hurried

    def _sweep(self, conn: Any, now: datetime, limit: int, rows: dict[str, Row]) -> None:
        started, self._hurry, self._swept_at = datetime.now(UTC), False, now
        horizon = now + timedelta(seconds=self.lookahead_s)
        found = conn.execute(SWEEP_SQL, [horizon, limit + len(self._upcoming)]).fetchall()
        for row in found:
            if row[-1] <= now:
                rows.setdefault(row[0], row)
            elif row[0] not in self._queued:
                self._queued.add(row[0])
                heapq.heappush(self._upcoming, (row[-1], row[0], row))
        self._next_sweep = now + timedelta(seconds=self.sweep_s)
        self._fresh_since = started - timedelta(seconds=self.fresh_margin_s)

    def _take_upcoming(self, now: datetime, limit: int, rows: dict[str, Row]) -> None:
        while self._upcoming and self._upcoming[0][0] <= now and len(rows) < limit:
            _, run_id, row = heapq.heappop(self._upcoming)
            self._queued.discard(run_id)
            rows.setdefault(run_id, row)
