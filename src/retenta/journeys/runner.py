"""The lifecycle service that advances due runs (timers, entries, woken runs), exactly once.

One tick: read the due runs (``due.py``: no scan of every run, no lease write), compute each
run's step on a read cursor with the pure engine, queue its sends, then save the runs and
their trace in one writer unit. Sends carry ids derived from (run, node); the ledger skips
an id it already holds, so a tick that dies after queueing and before saving — SIGKILL,
power — replays into the same sends, and nobody gets a message twice.

The save applies to a run only while it is still where the tick read it (same node, version
and due time, still active): a run stopped, woken by its event or moved to another version
meanwhile keeps that change and is advanced again from there; its replayed sends are the
same ids. Only one runner advances a data directory (DuckDB has one writing process), and
ticks never overlap, so no lease is needed. Runs of erased contacts stop; runs of paused
journeys wait (``due.HELD``). Ingestion nudges the runner after committing an entry
(``committed``), so a run's first send does not wait for the next tick.

A tick that found nothing due sleeps until the due view next has something to look for
(``DueRuns.quiet_s``: the next sweep, every ``sweep_s``, or the earliest timer it holds;
or a schedule or date journey's next moment, ``sources.next_timed_due``),
at least ``interval_s`` and at most ``idle_max_s``; a nudge ends the sleep at once. Idle,
that is ~2 ticks a second instead of 10, and a timer still fires at its due time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from retenta.core.ticking import Ticking
from retenta.journeys.due import DueRuns, Row
from retenta.journeys.effects import apply_effects
from retenta.journeys.engine import Run, Step, TraceEntry, advance
from retenta.journeys.facts import ContactFacts
from retenta.journeys.reports import ReportWakes
from retenta.journeys.sources import next_timed_due, poll_sources
from retenta.journeys.store import JourneyStore
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.storage.base import Database

log = logging.getLogger(__name__)
RETRY_FAILED_S = 60.0  # a step that raised is tried again this much later
UPDATES = pa.schema([
    ("run_id", pa.string()), ("was_node", pa.string()), ("was_version", pa.int32()),
    ("was_wake", pa.timestamp("us", tz="UTC")), ("node_id", pa.string()),
    ("node_entered_at", pa.timestamp("us", tz="UTC")), ("state", pa.string()),
    ("wake_at", pa.timestamp("us", tz="UTC")), ("waiting_for", pa.string()),
    ("finished_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip
TRACE = pa.schema([
    ("workspace_id", pa.string()), ("run_id", pa.string()), ("journey_id", pa.string()),
    ("contact_id", pa.int64()), ("at", pa.timestamp("us", tz="UTC")), ("node_id", pa.string()),
    ("decision", pa.string()), ("reason", pa.string()),
])  # fmt: skip
SAVE_SQL = """
UPDATE journey_runs r SET node_id = u.node_id, node_entered_at = u.node_entered_at,
    state = u.state, wake_at = u.wake_at, waiting_for = u.waiting_for, lease_until = NULL,
    finished_at = u.finished_at
FROM _run_updates u
WHERE r.run_id = u.run_id AND r.state = 'active' AND r.node_id = u.was_node
  AND r.version = u.was_version AND r.wake_at IS NOT DISTINCT FROM u.was_wake
RETURNING r.run_id
"""
SMALL_TRACE = 64  # up to this many trace rows go in one VALUES statement (Arrow costs ~4 ms)


@dataclass
class Stepped:
    """One claimed run and what to do with it (``step`` None: stop it, ``note`` says why)."""

    row: Row
    run: Run
    step: Step | None
    note: str = ""

    def __iter__(self) -> Iterator[Any]:
        """``row, run, step = stepped`` (the shape effect executors unpack)."""
        return iter((self.row, self.run, self.step))

    @property
    def workspace_id(self) -> str:
        return str(self.row[1])

    @property
    def journey_id(self) -> str:
        return str(self.row[2])


class JourneyRunner(Ticking):
    name = "journey-runner"

    def __init__(
        self,
        db: Database,
        store: JourneyStore,
        ledger: SendLedger,
        *,
        interval_s: float = 0.1,
        batch: int = 5_000,
        sweep_s: float = 0.5,
        idle_max_s: float = 0.5,
    ) -> None:
        self.db, self.store, self.ledger = db, store, ledger
        self.interval_s, self.batch, self.idle_max_s = interval_s, batch, idle_max_s
        self.due = DueRuns(sweep_s=sweep_s)
        self.reports = ReportWakes()
        self._quiet_from: datetime | None = None  # the last tick's moment, if it found nothing

    def busy(self, done: int) -> bool:
        return done >= self.batch

    def sleep_s(self) -> float:
        """After a tick that found nothing: until the due view has something to look for
        (see the module doc); otherwise ``interval_s``."""
        if self._quiet_from is None:
            return self.interval_s
        quiet = self.due.quiet_s(self._quiet_from)
        timed = next_timed_due(self._quiet_from)  # a schedule or date journey's next moment
        if timed is not None:
            quiet = min(quiet, (timed - self._quiet_from).total_seconds())
        return max(self.interval_s, min(quiet, self.idle_max_s))

    def committed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        """Ingestion committed a unit (commit listener): the runs it started or woke are due
        now. Wakes coalesce, so this is at most one extra tick per unit."""
        if self.store.has_live(workspace_id):
            self.due.hurry()  # an event in it may have woken a waiting run
            self.wake()

    def tick(self, now: datetime | None = None) -> int:
        """Advance the due runs once; how many were advanced."""
        moment = now or datetime.now(UTC)
        began = time.perf_counter()
        poll_sources(self.db, self.store, moment)  # each source-triggered journey: one unit
        if self.reports.poll(self.db, moment):  # cascades whose report came: due now
            self.due.resweep()
        with self.db.read() as cur:  # committed data; a nudge comes after its unit's COMMIT
            claimed = self.due.claim(cur, moment, self.batch)
        self._quiet_from = None if claimed else moment
        if not claimed:
            return 0
        if len(claimed) >= self.batch:
            self.due.resweep()
        read = time.perf_counter()
        steps = self._steps(claimed, moment)
        stepped = time.perf_counter()
        self._queue_sends(steps)
        apply_effects(self.db, steps, moment)  # once per (run, node): journeys/effects.py
        queued = time.perf_counter()
        self.db.write(lambda conn: _save(conn, steps, moment))
        if any(s.step is not None and (s.step.waiting_for or "").startswith("report:")
               for s in steps):  # fmt: skip
            self.reports.arm()  # a cascade waits for its report (reports.py)
        log.debug("tick %s: %d runs; read %.3f s, steps %.3f s, sends+effects %.3f s, save %.3f s",
                  moment.isoformat(), len(steps), read - began, stepped - read, queued - stepped,
                  time.perf_counter() - queued)  # fmt: skip
        return len(steps)

    def _steps(self, claimed: Sequence[Row], now: datetime) -> list[Stepped]:
        with self.db.read() as cur:
            erased = _erased(cur, claimed)
            return [self._step(cur, row, now, erased) for row in claimed]

    def _step(self, cur: Any, row: Row, now: datetime, erased: set[tuple[str, int]]) -> Stepped:
        run_id, workspace, journey_id, version, contact, node, node_at, entered, ctx = row[:9]
        run = Run(run_id=run_id, contact_id=int(contact), node_id=node, node_entered_at=node_at,
                  entered_at=entered, context=orjson.loads(ctx or "{}"))  # fmt: skip
        if (workspace, int(contact)) in erased:
            return Stepped(row, run, None, "the contact was erased")
        try:
            journey = self.store.version(cur, workspace, journey_id, version)
            facts = ContactFacts(cur, workspace, run.contact_id)
            return Stepped(row, run, advance(journey, run, facts, now))
        except Exception as exc:  # one broken run must not hold back the batch behind it
            log.exception("journey run %s failed at %s", run_id, node)
            retry = now + timedelta(seconds=RETRY_FAILED_S)
            step = Step(node, node_at, wake_at=retry)
            step.trace.append(_failed(node, exc, retry))
            return Stepped(row, run, step)

    def _queue_sends(self, steps: list[Stepped]) -> None:
        wanted = [
            NewSend(
                workspace_id=s.workspace_id, contact_id=s.run.contact_id,
                message_id=action.message_id, cascade=action.cascade, category=action.category,
                campaign_id=s.journey_id, data={"trigger": dict(s.run.context)},
                send_id=action.send_id,
            )
            for s in steps if s.step is not None for action in s.step.sends
        ]  # fmt: skip
        if wanted:
            self.ledger.enqueue(wanted)  # idempotent per send id, inside one writer unit


def _erased(cur: Any, claimed: Sequence[Row]) -> set[tuple[str, int]]:
    """The claimed runs' contacts that were erased (one query a workspace)."""
    by_workspace: dict[str, set[int]] = {}
    for row in claimed:
        by_workspace.setdefault(row[1], set()).add(int(row[4]))
    gone: set[tuple[str, int]] = set()
    for workspace, contacts in by_workspace.items():
        rows = cur.execute(
            "SELECT id FROM contacts WHERE erased_at IS NOT NULL AND workspace_id = ?"
            " AND id IN (SELECT unnest(?::BIGINT[]))",
            [workspace, sorted(contacts)],
        ).fetchall()
        gone |= {(workspace, int(r[0])) for r in rows}
    return gone


def _failed(node_id: str, exc: Exception, retry: datetime) -> TraceEntry:
    reason = f"step failed ({type(exc).__name__}: {exc}); retrying at {retry:%Y-%m-%d %H:%M:%S}Z"
    return TraceEntry(node_id, "skipped", reason[:500])


def _save(conn: Any, steps: list[Stepped], now: datetime) -> int:
    """Writer-side: the runs still where they were read move on; their trace is appended."""
    updates = [_update(s, now) for s in steps]
    conn.register("_run_updates", pa.Table.from_pylist(updates, schema=UPDATES))
    try:
        saved = {r[0] for r in conn.execute(SAVE_SQL).fetchall()}
    finally:
        conn.unregister("_run_updates")
    trace = [row for s in steps if s.run.run_id in saved for row in _trace_rows(s, now)]
    append_trace(conn, trace)
    return len(saved)


def _update(s: Stepped, now: datetime) -> dict[str, Any]:
    was = {"run_id": s.run.run_id, "was_node": s.run.node_id, "was_version": int(s.row[3]),
           "was_wake": s.row[9]}  # fmt: skip
    if s.step is None:
        return {**was, "node_id": s.run.node_id, "node_entered_at": s.run.node_entered_at,
                "state": "stopped", "wake_at": None, "waiting_for": None,
                "finished_at": now}  # fmt: skip
    step, active = s.step, not s.step.finished
    return {**was, "node_id": step.node_id, "node_entered_at": step.node_entered_at,
            "state": "active" if active else "done", "wake_at": step.wake_at if active else None,
            "waiting_for": step.waiting_for, "finished_at": None if active else now}  # fmt: skip


def _trace_rows(s: Stepped, now: datetime) -> list[tuple[Any, ...]]:
    head = (s.workspace_id, s.run.run_id, s.journey_id, s.run.contact_id, now)
    if s.step is None:
        return [(*head, s.run.node_id, "skipped", s.note)]
    return [(*head, t.node_id, t.decision, t.reason) for t in s.step.trace]


def append_trace(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    """Writer-side: trace rows in one statement (a VALUES list when few, Arrow when many)."""
    if not rows:
        return
    if len(rows) <= SMALL_TRACE:
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        conn.execute(f"INSERT INTO journey_trace VALUES {values}", [v for r in rows for v in r])
        return
    columns = zip(*rows, strict=True)
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, TRACE, strict=True)]
    table = pa.Table.from_arrays(arrays, schema=TRACE)
    conn.register("_trace_rows", table)
    try:
        conn.execute("INSERT INTO journey_trace SELECT * FROM _trace_rows")
    finally:
        conn.unregister("_trace_rows")
