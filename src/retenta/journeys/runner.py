"""The lifecycle service that advances due runs (timers and woken runs), exactly once.

One tick: claim due runs (a lease, committed), compute each run's step on a read cursor,
queue its sends, then save the runs and their trace in one writer unit. Sends carry ids
derived from (run, node); the ledger skips an id it already holds, so a tick that
dies after queueing and before saving — SIGKILL, power — replays into the same sends when
the lease expires, and nobody gets a message twice. Runs of erased contacts stop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from retenta.core.ticking import Ticking
from retenta.journeys.engine import Run, Step, advance
from retenta.journeys.facts import ContactFacts
from retenta.journeys.sources import segment_entries
from retenta.journeys.store import JourneyStore
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.storage.base import Database

log = logging.getLogger(__name__)
Stepped = tuple[tuple[Any, ...], Run, Step | None]  # (claimed row, run, step; None: stop it)
CLAIM_SQL = """
UPDATE journey_runs SET lease_until = ?
WHERE run_id IN (
    SELECT run_id FROM journey_runs
    WHERE state = 'active' AND wake_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY wake_at LIMIT ?)
RETURNING run_id, workspace_id, journey_id, version, contact_id, node_id, node_entered_at,
          entered_at, context
"""


class JourneyRunner(Ticking):
    name = "journey-runner"

    def __init__(
        self,
        db: Database,
        store: JourneyStore,
        ledger: SendLedger,
        *,
        interval_s: float = 0.1,
        batch: int = 2_000,
        lease_s: float = 60.0,
    ) -> None:
        self.db, self.store, self.ledger = db, store, ledger
        self.interval_s, self.batch, self.lease_s = interval_s, batch, lease_s

    def busy(self, done: int) -> bool:
        return done >= self.batch

    def tick(self, now: datetime | None = None) -> int:
        """Advance the due runs once; how many were advanced."""
        moment = now or datetime.now(UTC)
        lease = moment + timedelta(seconds=self.lease_s)
        self.db.write(lambda conn: segment_entries(conn, self.store, moment))
        claimed = self.db.write(
            lambda conn: conn.execute(CLAIM_SQL, [lease, moment, moment, self.batch]).fetchall()
        )
        if not claimed:
            return 0
        steps = self._steps(claimed, moment)
        self._queue_sends(steps)
        self.db.write(lambda conn: _save(conn, steps, moment))
        return len(steps)

    def _steps(self, claimed: Sequence[tuple[Any, ...]], now: datetime
               ) -> list[Stepped]:  # fmt: skip
        out: list[Stepped] = []
        with self.db.read() as cur:
            for row in claimed:
                run_id, workspace, journey_id, version, contact, node, node_at, entered, ctx = row
                run = Run(run_id, int(contact), node, node_at, entered, orjson.loads(ctx or "{}"))
                if not _live(cur, workspace, int(contact)):
                    out.append((row, run, None))
                    continue
                journey = self.store.version(cur, workspace, journey_id, version)
                facts = ContactFacts(cur, workspace, int(contact))
                out.append((row, run, advance(journey, run, facts, now)))
        return out

    def _queue_sends(self, steps: list[Stepped]) -> None:
        wanted = [
            NewSend(
                workspace_id=row[1], contact_id=run.contact_id, message_id=action.message_id,
                cascade=action.cascade, category=action.category, campaign_id=row[2],
                data={"trigger": dict(run.context)}, send_id=action.send_id,
            )
            for row, run, step in steps if step is not None for action in step.sends
        ]  # fmt: skip
        if wanted:
            self.ledger.enqueue(wanted)  # idempotent per send id, inside one writer unit


def _live(cur: Any, workspace_id: str, contact_id: int) -> bool:
    row = cur.execute(
        "SELECT erased_at IS NULL FROM contacts WHERE workspace_id = ? AND id = ?",
        [workspace_id, contact_id],
    ).fetchone()
    return bool(row and row[0])


def _save(conn: Any, steps: list[Stepped], now: datetime) -> None:
    updates, trace = [], []
    for row, run, step in steps:
        workspace, journey_id = row[1], row[2]
        if step is None:
            updates.append(_update(run.run_id, run.node_id, run.node_entered_at, "stopped",
                                   None, None, now))  # fmt: skip
            trace.append((workspace, run.run_id, journey_id, run.contact_id, now, run.node_id,
                          "skipped", "the contact was erased"))  # fmt: skip
            continue
        state = "done" if step.finished else "active"
        updates.append(_update(run.run_id, step.node_id, step.node_entered_at, state,
                               step.wake_at, step.waiting_for, now))  # fmt: skip
        trace += [(workspace, run.run_id, journey_id, run.contact_id, now, t.node_id, t.decision,
                   t.reason) for t in step.trace]  # fmt: skip
    conn.register("_run_updates", pa.Table.from_pylist(updates))
    try:
        conn.execute(
            "UPDATE journey_runs r SET node_id = u.node_id, node_entered_at = u.node_entered_at,"
            " state = u.state, wake_at = u.wake_at, waiting_for = u.waiting_for,"
            " lease_until = NULL, finished_at = u.finished_at FROM _run_updates u"
            " WHERE r.run_id = u.run_id"
        )
    finally:
        conn.unregister("_run_updates")
    if trace:
        conn.executemany("INSERT INTO journey_trace VALUES (?, ?, ?, ?, ?, ?, ?, ?)", trace)


def _update(run_id: str, node_id: str, node_at: datetime, state: str, wake_at: datetime | None,
            waiting_for: str | None, now: datetime) -> dict[str, Any]:  # fmt: skip
    return {"run_id": run_id, "node_id": node_id, "node_entered_at": node_at, "state": state,
            "wake_at": wake_at if state == "active" else None, "waiting_for": waiting_for,
            "finished_at": now if state != "active" else None}  # fmt: skip
