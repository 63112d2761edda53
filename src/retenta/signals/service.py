"""The signal passes as one lifecycle service: the catalog pass on every tick (and at once
when the catalog changes), each workspace's daily pass once a day.

``run_once(now)`` is the whole unit and may be called directly (tests, a runner tick, the
CLI). Each pass emits through ingestion first and moves its cursor after: a crash in
between re-emits the same message ids, which ingestion drops, so no signal is lost or
doubled.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from retenta.signals.catalog import catalog_signals, changes_between
from retenta.signals.daily import daily_signals
from retenta.signals.emit import emit
from retenta.signals.settings import load_settings

if TYPE_CHECKING:
    from retenta.app import Container

log = logging.getLogger(__name__)
CATALOG = ("*", "catalog")
# A catalog change wakes the service from inside its writer unit, before COMMIT: wait this
# long before reading. (The cursor is the newest change read, never the clock: units run one
# at a time and stamp their changes while they run, so any unit still in flight stamps
# later than every change a reader can see.)
SETTLE = timedelta(milliseconds=200)


@dataclass(frozen=True)
class PassReport:
    catalog_changes: int = 0
    catalog_signals: int = 0
    daily_workspaces: int = 0
    daily_signals: int = 0


class SignalService:
    name = "signals"

    def __init__(self, db: Any, ingest: Any, *, interval_s: float = 5.0) -> None:
        self.db, self.ingest, self.interval_s = db, ingest, interval_s
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the unit --------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None, *, daily: bool = True) -> PassReport:
        moment = now or datetime.now(UTC)
        changes, emitted = await self.catalog_pass(moment)
        workspaces, daily_emitted = (await self.daily_pass(moment)) if daily else (0, 0)
        return PassReport(changes, emitted, workspaces, daily_emitted)

    async def catalog_pass(self, now: datetime) -> tuple[int, int]:
        """Price drops and restocks since the cursor, to the contacts who care."""
        since = self._position(*CATALOG) or datetime.fromtimestamp(0, UTC)
        with self.db.read() as cur:
            changes, until = changes_between(cur, since)
        if until is None:
            return 0, 0
        emitted = 0
        for workspace_id in sorted({c.workspace_id for c in changes}):
            with self.db.read() as cur:
                settings = load_settings(cur, workspace_id)
                signals = catalog_signals(cur, workspace_id, changes, settings, now)
            emitted += await emit(self.ingest, self.db, workspace_id, signals, now)
        await self._move(*CATALOG, until, now)
        return len(changes), emitted

    async def daily_pass(
        self, now: datetime, *, force: bool = False, only: str | None = None
    ) -> tuple[int, int]:
        """Each workspace (or ``only`` this one) not yet passed today, after its hour (UTC):
        replenishment, win-back and next best offer; ``force`` runs it regardless."""
        done = emitted = 0
        for workspace_id in [only] if only else self._workspaces():
            with self.db.read() as cur:
                settings = load_settings(cur, workspace_id)
            last = self._last_run(workspace_id, "daily")
            if not force and not _daily_due(last, now, settings.daily_hour_utc):
                continue
            with self.db.read() as cur:
                signals = daily_signals(cur, workspace_id, settings, now)
            emitted += await emit(self.ingest, self.db, workspace_id, signals, now)
            await self._move(workspace_id, "daily", None, now)
            done += 1
        return done, emitted

    # --- state -----------------------------------------------------------------------

    def _position(self, workspace_id: str, name: str) -> datetime | None:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT position FROM signal_state WHERE workspace_id = ? AND name = ?",
                [workspace_id, name],
            ).fetchone()
        return row[0] if row else None

    def _last_run(self, workspace_id: str, name: str) -> datetime | None:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT last_run_at FROM signal_state WHERE workspace_id = ? AND name = ?",
                [workspace_id, name],
            ).fetchone()
        return row[0] if row else None

    def _workspaces(self) -> list[str]:
        with self.db.read() as cur:
            return [
                str(r[0]) for r in cur.execute("SELECT id FROM workspaces ORDER BY id").fetchall()
            ]

    async def _move(self, workspace_id: str, name: str, position: datetime | None,
                    now: datetime) -> None:  # fmt: skip
        await self.db.awrite(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO signal_state VALUES (?, ?, ?, ?)",
                [workspace_id, name, position, now],
            )
        )

    # --- lifecycle -------------------------------------------------------------------

    def wake(self, workspace_id: str) -> None:
        """The catalog changed (called in the writer, before COMMIT): pass soon."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop closed (shutting down): never fail the catalog write
            log.debug("signal service stopped; wake for %s dropped", workspace_id)

    async def start(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._loop = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self.run_once()
            except Exception:  # logged; the cursors make the next pass redo what this missed
                log.exception("signal pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
                await asyncio.sleep(SETTLE.total_seconds())  # let the change commit
            except TimeoutError:
                pass
            self._wake.clear()


def _daily_due(last: datetime | None, now: datetime, hour: int) -> bool:
    """Once per UTC day, from ``hour`` on.

    >>> t = datetime(2026, 5, 2, 7, tzinfo=UTC)
    >>> _daily_due(None, t, 6), _daily_due(t - timedelta(hours=2), t, 6), _daily_due(None, t, 8)
    (True, False, False)
    """
    if now.hour < hour:
        return False
    return last is None or last.date() < now.date()


def for_container(c: Container) -> SignalService:
    existing: Any = getattr(c, "_signals", None)
    if existing is None:
        existing = SignalService(c.db, c.ingest)
        setattr(c, "_signals", existing)  # noqa: B010 - Container has no field for it
    assert isinstance(existing, SignalService)
    return existing


def wire(c: Container) -> None:
    """Catalog changes wake the service; it runs while the server runs."""
    service = for_container(c)
    c.commerce.catalog_listeners.append(service.wake)
    if c.settings.background_workers:
        c.lifecycle.append(service)
