"""The membership engine: full refresh with diff, real-time evaluation of touched contacts,
time-driven passes (expiry) and the drift check. docs/segments-realtime.md explains it.

Every write is ONE writer unit (``db.write``/``awrite``): the diff against the stored
intervals and all its writes happen between BEGIN and COMMIT, so a failure leaves the
previous state whole. ``refresh`` also runs its member query inside that unit; real-time
rounds (rounds.py) and periodic passes (passes.py) read their members on a read cursor
first and leave out what changed meanwhile. Entry/exit events go to subscribers only after
COMMIT.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from retenta.segments.membership import batch, diff, passes, rounds, source
from retenta.segments.membership.evaluated import QUANTUM_S, EvaluatedSince, rounded_up
from retenta.segments.membership.model import (
    Cause,
    Clock,
    CompileFn,
    DriftReport,
    Kind,
    MembershipEvent,
    RefreshResult,
    SegmentSpec,
    SqlSegmentFn,
    Subscriber,
    utc_now,
)
from retenta.segments.membership.pending import PendingContacts
from retenta.segments.membership.timing import timing
from retenta.storage.base import Database
from retenta.storage.duckdb import event_facts

log = logging.getLogger(__name__)
DRIFT_PERIOD_S = 600.0  # full recompute of a time-free real-time segment (drift check)
BACKOFF_S = 60  # a segment whose full pass failed waits this long before the next try


class Timings:
    """The last durations of real-time rounds and full passes (ms), for benches and ops."""

    def __init__(self, keep: int = 10_000) -> None:
        self.rounds: deque[float] = deque(maxlen=keep)
        self.round_contacts: deque[int] = deque(maxlen=keep)
        self.round_units: deque[float] = deque(maxlen=keep)  # inside the writer only
        self.round_reads: deque[float] = deque(maxlen=keep)  # members read off the writer
        self.passes: deque[float] = deque(maxlen=keep)


class MembershipEngine:
    """Stored membership of segments; a ``CommitListener`` of the ingest pipeline."""

    def __init__(
        self,
        db: Database,
        compile_fn: CompileFn,
        *,
        sql_fn: SqlSegmentFn | None = None,
        clock: Clock = utc_now,
        dialect: str = "duckdb",
        drift_period_s: float = DRIFT_PERIOD_S,
        tick_s: float = 1.0,
        quantum_s: float = QUANTUM_S,
    ) -> None:
        self.db = db
        self.queries = source.MemberQueries(compile_fn, sql_fn, dialect)
        self.clock = clock
        self.drift_period_s = drift_period_s
        self.tick_s = tick_s
        self.quantum_s = quantum_s
        self.pending = PendingContacts()
        self.evaluated = EvaluatedSince()
        self.timings = Timings()
        self._subscribers: list[Subscriber] = []
        self._wake: Callable[[], None] | None = None
        self._runner: Any = None
        self._backoff: dict[tuple[str, str], float] = {}
        self._warmed: set[tuple[str, datetime]] = set()
        self._warming: set[asyncio.Task[Any]] = set()

    # -- subscribers ---------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """``callback(events)`` gets each committed batch of entries/exits (quick, no I/O
        that blocks: it runs on the engine's loop). Returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, events: list[MembershipEvent]) -> None:
        if not events:
            return
        for callback in list(self._subscribers):
            try:
                callback(events)
            except Exception:
                log.exception("membership subscriber %r failed", callback)

    # -- full passes ---------------------------------------------------------------------

    def refresh(self, workspace_id: str, segment_id: str) -> RefreshResult:
        """Full recompute + diff (cause ``refresh``, or ``definition`` after an edit)."""
        started, now = time.perf_counter(), self.clock()
        changes, size = self.db.write(
            lambda c: self._refresh_unit(c, workspace_id, segment_id, now)
        )
        self._emit(_events(workspace_id, segment_id, changes, now))
        return _result(size, changes, started)

    async def arefresh(self, workspace_id: str, segment_id: str) -> RefreshResult:
        started, now = time.perf_counter(), self.clock()
        changes, size = await self.db.awrite(
            lambda c: self._refresh_unit(c, workspace_id, segment_id, now)
        )
        self._emit(_events(workspace_id, segment_id, changes, now))
        return _result(size, changes, started)

    def _evaluation_now(self, at: datetime) -> datetime:
        """The `now` member queries see: ``at`` rounded up to the quantum (evaluated.py)."""
        return rounded_up(at, self.quantum_s)

    def _refresh_unit(
        self, conn: Any, workspace_id: str, segment_id: str, now: datetime
    ) -> tuple[diff.Changes, int]:
        spec = source.load_spec(conn, workspace_id, segment_id)
        state = source.state_of(conn, workspace_id, segment_id)
        cause: Cause = "definition" if state and state[0] != spec.revision else "refresh"
        self.evaluated.forget((workspace_id, segment_id))
        at = self._evaluation_now(now)  # a writer unit: the sync check holds for the query
        sql = self.queries.sql(conn, spec, now=at, event_facts=event_facts.in_sync(conn))
        try:
            diff.load_members(conn, diff.NEW, sql, scoped=False)
            diff.compute_diff(conn, workspace_id, segment_id, scoped=False, cause=cause)
            changes = diff.write_diff(conn, workspace_id, segment_id, now)
            size = diff.current_size(conn, workspace_id, segment_id)
            self._save_pass(conn, spec, now, size)
        finally:
            diff.drop_temp_tables(conn)
        return changes, size

    def _save_pass(self, conn: Any, spec: SegmentSpec, now: datetime, size: int) -> None:
        diff.save_state(
            conn,
            spec.revision,
            spec.workspace_id,
            spec.segment_id,
            evaluated_at=self._evaluation_now(now),
            size=size,
            next_pass_at=now + timedelta(seconds=self.pass_period_s(spec)),
        )

    def pass_period_s(self, spec: SegmentSpec) -> float:
        """Seconds between full passes: the expiry precision, or the drift-check period."""
        t = timing(spec.definition, kind=spec.kind)
        return t.period_s if t.time_dependent else self.drift_period_s

    # -- the periodic full recompute: expiry + drift ------------------------------------

    def check(self, workspace_id: str, segment_id: str) -> DriftReport | None:
        """One full pass now: time-explained changes applied as ``expiry``, anything else
        counted as drift (and repaired). None when the segment had no pass of its revision
        yet (then this is its first fill, not a check) or the pass was overtaken."""
        now, recorder = self.clock(), self.pending.start_recording()
        try:
            read = self._read_pass(workspace_id, segment_id, now)
            outcome = self.db.write(lambda c: self._apply_pass(c, read, now, recorder))
        finally:
            self.pending.stop_recording(recorder)
        return self._finish_check(read, now, outcome)

    async def acheck(self, workspace_id: str, segment_id: str) -> DriftReport | None:
        """``check`` with the member sets read in a worker thread (passes.py)."""
        now, recorder = self.clock(), self.pending.start_recording()
        try:
            read = await asyncio.to_thread(self._read_pass, workspace_id, segment_id, now)
            outcome = await self.db.awrite(lambda c: self._apply_pass(c, read, now, recorder))
        finally:
            self.pending.stop_recording(recorder)
        return self._finish_check(read, now, outcome)

    def drift(self, workspace_id: str, segment_id: str) -> int:
        """Run a full recompute now and return how many contacts the incremental state had
        wrong (0 when the engine works; time-driven changes are not drift). From a thread
        other than the running loop's (it blocks; on the loop, ``await acheck``)."""
        report = self.check(workspace_id, segment_id)
        return report.drift if report else 0

    def _read_pass(self, workspace_id: str, segment_id: str, now: datetime) -> passes.PassRead:
        """The member sets a pass needs, on a read cursor (no writer time)."""
        with self.db.read() as cur, event_facts.snapshot(cur) as facts:
            spec = source.load_spec(cur, workspace_id, segment_id)
            state = source.state_of(cur, workspace_id, segment_id)
            seen = self.evaluated.snapshot((workspace_id, segment_id))
            sql = self.queries.sql(cur, spec, now=self._evaluation_now(now), event_facts=facts)
            new = passes.member_ids(cur, sql)
            prev = None
            checking = state is not None and state[0] == spec.revision
            if checking and state and timing(spec.definition, kind=spec.kind).time_dependent:
                prev = passes.previous_members(cur, self.queries, spec, state[1], seen, new)
        return passes.PassRead(spec, state, new, prev, seen)

    def _apply_pass(
        self, conn: Any, read: passes.PassRead, now: datetime, recorder: set[int]
    ) -> tuple[diff.Changes, int] | None:
        spec = read.spec
        excluded = set(recorder) | self.pending.snapshot(spec.workspace_id)
        outcome = passes.apply_pass(
            conn,
            read,
            now,
            excluded,
            next_pass_at=now + timedelta(seconds=self.pass_period_s(spec)),
            evaluated_at=self._evaluation_now(now),
        )
        if outcome is not None:
            key = (spec.workspace_id, spec.segment_id)
            self.evaluated.forget(key, read.seen if read.is_check else None)
        return outcome

    def _finish_check(
        self, read: passes.PassRead, now: datetime, outcome: tuple[diff.Changes, int] | None
    ) -> DriftReport | None:
        """Emit the changes; record the drift (contacts committed meanwhile were left out)."""
        if outcome is None:
            return None
        changes, size = outcome
        workspace_id, segment_id = read.spec.workspace_id, read.spec.segment_id
        self._emit(_events(workspace_id, segment_id, changes, now))
        if not read.is_check:
            return None
        drifting = changes.drifting()
        expired = sum(1 for _, _, cause in changes.rows if cause == "expiry")
        self.db.write(
            lambda c: diff.record_drift(
                c,
                workspace_id,
                segment_id,
                checked_at=now,
                size=size,
                expired=expired,
                drifting=drifting,
            )
        )
        if drifting:
            log.warning("segment %s drifted by %d contacts (repaired)", segment_id, len(drifting))
        sample = tuple(drifting[: diff.DRIFT_SAMPLE])
        return DriftReport(workspace_id, segment_id, now, size, expired, len(drifting), sample)

    # -- real time -------------------------------------------------------------------------

    def committed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        """``CommitListener``: queue the contacts an ingest unit touched (after COMMIT)."""
        self.pending.add(workspace_id, contact_ids)
        if self._wake is not None:
            self._wake()

    async def process_pending(self) -> list[MembershipEvent]:
        """Evaluate every real-time segment for the contacts touched since the last round."""
        events: list[MembershipEvent] = []
        for workspace_id, contact_ids in self.pending.take().items():
            try:
                events += await self.evaluate_contacts(workspace_id, sorted(contact_ids))
            finally:
                self.pending.done(workspace_id, contact_ids)
        return events

    async def evaluate_contacts(
        self, workspace_id: str, contact_ids: Sequence[int]
    ) -> list[MembershipEvent]:
        """Re-evaluate the workspace's real-time segments for just these contacts."""
        started, now = time.perf_counter(), self.clock()
        evaluation_now = self._evaluation_now(now)
        if self._runner is None:  # called directly (tests, scripts): no worker thread needed
            queries = self._touched_queries(workspace_id, evaluation_now)
        else:
            queries = await asyncio.to_thread(self._touched_queries, workspace_id, evaluation_now)
            self._warm_next_quantum(workspace_id, evaluation_now)
        if not queries or not contact_ids:
            return []
        tagged = [(spec.segment_id, sql) for spec, sql in queries]
        merged = self.queries.merged_if_ready(tagged)
        if self._runner is None:
            read = self._read_round(workspace_id, contact_ids, tagged, merged)
        else:
            read = await asyncio.to_thread(
                self._read_round, workspace_id, contact_ids, tagged, merged
            )
        specs = [spec for spec, _ in queries]
        per_segment = await self.db.awrite(
            lambda c: self._touched_unit(c, workspace_id, read, specs, now)
        )
        self.timings.rounds.append((time.perf_counter() - started) * 1000)
        self.timings.round_contacts.append(len(contact_ids))
        events = [
            e for seg, changes in per_segment for e in _events(workspace_id, seg, changes, now)
        ]
        self._emit(events)
        return events

    def _warm_next_quantum(self, workspace_id: str, evaluation_now: datetime) -> None:
        """Compile the next quantum's queries in a worker thread ahead of time, so no round
        waits for the compiler when the quantum turns."""
        upcoming = evaluation_now + timedelta(seconds=self.quantum_s)
        key = (workspace_id, upcoming)
        if key in self._warmed:
            return
        self._warmed = {k for k in self._warmed if k[1] >= evaluation_now} | {key}
        task = asyncio.create_task(asyncio.to_thread(self._touched_queries, workspace_id, upcoming))
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    def _touched_queries(self, workspace_id: str, now: datetime) -> list[tuple[SegmentSpec, str]]:
        """Each real-time segment's member query restricted to the candidates (compiled
        outside the writer); a segment that fails to compile is skipped, logged."""
        out: list[tuple[SegmentSpec, str]] = []
        with self.db.read() as cur:
            specs, version = source.realtime_specs(cur, workspace_id)
            for spec in specs:
                try:
                    sql = self.queries.cached_sql(
                        cur, spec, now=now, candidates=diff.CANDIDATES, version=version
                    )
                except Exception:
                    log.exception("segment %s: member query failed to compile", spec.segment_id)
                    continue
                out.append((spec, sql))
        self.queries.merged([(spec.segment_id, sql) for spec, sql in out])
        return out

    def _read_round(
        self,
        workspace_id: str,
        contact_ids: Sequence[int],
        tagged: list[tuple[str, str]],
        merged: str | None,
    ) -> rounds.RoundRead:
        started = time.perf_counter()
        with self.db.read() as cur:
            read = rounds.read_round(cur, workspace_id, contact_ids, tagged, merged)
        self.timings.round_reads.append((time.perf_counter() - started) * 1000)
        return read

    def _touched_unit(
        self,
        conn: Any,
        workspace_id: str,
        read: rounds.RoundRead,
        specs: list[SegmentSpec],
        now: datetime,
    ) -> list[tuple[str, diff.Changes]]:
        """The write half of a round: the read members diffed against the intervals."""
        started = time.perf_counter()
        try:
            evaluated_at = self._evaluation_now(now)
            candidates = read.candidate_ids()
            for spec in specs:
                if timing(spec.definition, kind=spec.kind).time_dependent:
                    key = (workspace_id, spec.segment_id)
                    self.evaluated.record(key, candidates, evaluated_at)
            batch.load_round(conn, read.candidates, read.members)
            segment_ids = [spec.segment_id for spec in specs]
            rows = batch.compute_and_write(conn, workspace_id, segment_ids, now)
        finally:
            self.timings.round_units.append((time.perf_counter() - started) * 1000)
        by_segment: dict[str, list[tuple[int, str, str]]] = {}
        for segment_id, contact_id, kind in rows:
            by_segment.setdefault(segment_id, []).append((contact_id, kind, "event"))
        return [(seg, diff.Changes(changed)) for seg, changed in by_segment.items()]

    async def run_due_passes(
        self, *, between: Callable[[], Awaitable[None]] | None = None
    ) -> list[DriftReport]:
        """Full passes of the real-time segments that are due (first fill, new revision,
        expiry period or drift period elapsed); ``between`` runs after each (latency)."""
        with self.db.read() as cur:
            due = source.due_realtime(cur, self.clock())
        reports: list[DriftReport] = []
        for key in due:
            if self._backoff.get(key, 0.0) > time.monotonic():
                continue
            started = time.perf_counter()
            try:
                report = await self.acheck(*key)
            except Exception:
                log.exception("segment %s: full pass failed; retried in %d s", key[1], BACKOFF_S)
                self._backoff[key] = time.monotonic() + BACKOFF_S
                continue
            self._backoff.pop(key, None)
            self.timings.passes.append((time.perf_counter() - started) * 1000)
            if report is not None:
                reports.append(report)
            if between is not None:
                await between()
        return reports

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        from retenta.segments.membership.realtime import RealtimeRunner

        if self._runner is None:
            self._runner = RealtimeRunner(self)
            self._wake = self._runner.wake
            await self._runner.start()

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner, self._wake = self._runner, None, None
            await runner.stop()
        await asyncio.gather(*self._warming, return_exceptions=True)


def _events(
    workspace_id: str, segment_id: str, changes: diff.Changes, at: datetime
) -> list[MembershipEvent]:
    return [
        MembershipEvent(workspace_id, segment_id, cid, _kind(kind), at, _cause(cause))
        for cid, kind, cause in changes.rows
    ]


def _kind(value: str) -> Kind:
    return "entered" if value == "entered" else "exited"


def _cause(value: str) -> Cause:
    causes: dict[str, Cause] = {
        "event": "event",
        "expiry": "expiry",
        "refresh": "refresh",
        "definition": "definition",
    }
    return causes[value]


def _result(size: int, changes: diff.Changes, started: float) -> RefreshResult:
    elapsed = (time.perf_counter() - started) * 1000
    return RefreshResult(size, changes.entered, changes.exited, round(elapsed, 1))
