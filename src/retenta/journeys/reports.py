"""A cascade's wait ends when its send's report arrives, not when its time runs out.

A cascade node waits ``within`` for the channel to be delivered (or opened). While it waits,
the run's ``waiting_for`` holds a marker, ``report:<goal>:<send id>``. Each runner tick,
:class:`ReportWakes` reads the journeys' message events of the last ``LATE`` (a delivery
report, an open, a failure) and makes the runs waiting on one of them due now, so the
cascade moves on — or on to the next channel — within a tick of the report.

The read is bounded by the wall clock, not the tick's time (tests and dry runs move the
tick's clock), and markers already woken are remembered for ``LATE``, so a report wakes its
run once. A report older than ``LATE`` when first read (a provider's late callback, or one
that came while the server was down longer than that) wakes nothing: the run still moves
on at the end of ``within``, as it did before.

Only the runner's save writes a marker, so the runner arms the poll (``arm``) when it saves
one; while armed, a read at most every ``CHECK_S`` asks whether any run still waits on a
marker, and when none does the poll reads nothing until the next ``arm`` (a new instance,
after a restart, starts armed). An idle server then reads no message events.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.journeys.steps import FAILED, marker
from retenta.storage.base import Database

LATE = timedelta(minutes=5)
GOALS = ("delivered", "opened")
_REACHES = {
    "delivered": frozenset({"delivered", "opened", "clicked"}) | FAILED,
    "opened": frozenset({"opened", "clicked"}) | FAILED,
}
_STATUSES = sorted(_REACHES["delivered"])
REPORTS_SQL = """
SELECT DISTINCT send_id, status FROM message_events
WHERE "at" > ? AND send_id LIKE 'snd_j%' AND NOT machine AND status IN (SELECT unnest(?))
"""
ANY_WAIT_SQL = """
SELECT 1 FROM journey_runs WHERE state = 'active' AND waiting_for LIKE 'report:%' LIMIT 1
"""
CHECK_S = 30.0  # while armed, how often to ask whether a run still waits on a report
WAKE_SQL = """
UPDATE journey_runs SET wake_at = ?
WHERE state = 'active' AND wake_at > ? AND waiting_for IN (SELECT unnest(?::VARCHAR[]))
"""


def markers_for(send_id: str, status: str) -> list[str]:
    """The waits a report of ``status`` ends (a click also ends a wait for the open).

    >>> markers_for("snd_j1", "opened")
    ['report:delivered:snd_j1', 'report:opened:snd_j1']
    >>> markers_for("snd_j1", "delivered")
    ['report:delivered:snd_j1']
    """
    return [marker(goal, send_id) for goal in GOALS if status in _REACHES[goal]]


class ReportWakes:
    """Wakes the runs whose cascade report came (once per marker); see the module doc."""

    def __init__(self, *, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self._woken: dict[str, datetime] = {}
        self._last = 0.0
        self._armed = True  # a run may wait on a report (unknown at start: yes)
        self._checked = float("-inf")

    def arm(self) -> None:
        """A run was saved waiting on a report: poll for reports again."""
        self._armed = True

    def poll(self, db: Database, moment: datetime) -> int:
        """Make the runs whose report came due at ``moment``; how many were woken."""
        if time.monotonic() - self._last < self.every_s:
            return 0
        self._last = time.monotonic()
        if not self._still_armed(db):
            return 0
        real = datetime.now(UTC)
        since = real - LATE
        with db.read() as cur:
            rows = cur.execute(REPORTS_SQL, [since, _STATUSES]).fetchall()
        self._woken = {m: at for m, at in self._woken.items() if at > since}
        fresh = sorted({m for send_id, status in rows for m in markers_for(send_id, status)}
                       - self._woken.keys())  # fmt: skip
        if not fresh:
            return 0
        woken = db.write(lambda conn: _wake(conn, moment, fresh))
        self._woken.update(dict.fromkeys(fresh, real))
        return woken

    def _still_armed(self, db: Database) -> bool:
        """Whether any run may wait on a report (a read at most every ``CHECK_S``)."""
        if self._armed and time.monotonic() - self._checked >= CHECK_S:
            self._checked = time.monotonic()
            with db.read() as cur:
                self._armed = cur.execute(ANY_WAIT_SQL).fetchone() is not None
        return self._armed


def _wake(conn: Any, moment: datetime, markers: list[str]) -> int:
    row = conn.execute(WAKE_SQL, [moment, moment, markers]).fetchone()
    return int(row[0]) if row is not None else 0
