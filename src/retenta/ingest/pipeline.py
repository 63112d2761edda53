"""Group-commit ingestion: many requests, one writer transaction, durable acknowledgement.

Requests put their messages on a waiting list and wait on a future. While the writer runs
one unit, the event loop keeps taking what arrives, in chunks of ``PREPARE_CHUNK_EVENTS``,
and prepares it outside the writer (dedup hashes, the Arrow columns of the events). When
the writer is free, everything prepared becomes the next unit (up to
``MAX_GROUP_EVENTS``): the group grows while the writer is busy, so the fixed cost of a
unit is spread over more events exactly when load is high, and a lone request at low load
is written at once. The unit runs in the writer: dedup → resolve → append → apply. Each
future resolves only after COMMIT. When a unit fails, the group is split in halves and
retried, so only the request(s) that make it fail get the error.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.core.pipeline import Applier, CommitListener, Resolver
from retenta.errors import ApiError
from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from retenta.ingest.dedup import MessageIdDedup, insert_keys
from retenta.ingest.deferred import DeferredApply, stored_message
from retenta.ingest.journal import (
    ROLL_AFTER_S,
    IntakeJournal,
    JournalProgress,
    StoredRecord,
    mark_applied,
    read_applied,
)
from retenta.ingest.lead import WriterPace
from retenta.ingest.readable import ReadBarrier
from retenta.ingest.stats import IngestStats
from retenta.ingest.telemetry import IngestTelemetry
from retenta.ingest.units import (
    JOURNALED,
    MAX_GROUP_EVENTS,
    IngestOutcome,
    PendingRequest,
    Unit,
    contact_ids_of,
    count_outcomes,
    encode_units,
    journal_letter,
    journaled_unit,
    outcome_of,
    prepare,
    prepare_or_fail,
    prepared_unit,
    settle_now,
    settle_request,
    take_units,
    take_units_or_one,
    touched_contacts,
)
from retenta.settings import Settings
from retenta.storage.base import Database
from retenta.storage.duckdb.events import append_events, messages_to_base, with_contacts

log = logging.getLogger(__name__)
_CONTACT_ID = attrgetter("contact_id")
_DROPPED = attrgetter("dropped")
# Events accepted but not yet handed to the writer. Past it a request is refused with a 503
# and Retry-After (both official clients retry it; exact dedup makes the retry harmless)
# instead of queueing without bound: at ~10,000 events/s this keeps an accepted request's
# wait under ~5 s plus its unit, and the queue's memory bounded.
MAX_BACKLOG_EVENTS = 50_000
RETRY_AFTER_S = 1
PREPARE_CHUNK_EVENTS = 256
REGATHER_MAX_S = 0.02
# A unit of this many requests or more (concurrent clients) notes its appliers' work for a
# batched apply behind the acknowledgement (``ingest/deferred.py``); a smaller one applies
# its own, after what was noted before it, so a quiet client reads its own writes.
DEFER_FROM_REQUESTS = 8
# … and holds fewer events than this: a bigger unit already spreads commerce's fixed cost
# (32 ms of CPU at 250 events, 51 at 2,500) over enough events to apply its own.
DEFER_BELOW_EVENTS = 2_000
REGATHER_STEP_S = 0.001
GIL_SWITCH_INTERVAL_S = 0.0005
# A journal record the server died applying this many times at start is set aside.
MAX_REPLAY_CRASHES = 3
# The collector's young generation in a serving process (Python's default is 700): a
# single-event request allocates a few hundred objects, so at 700 the young generation was
# collected every few requests, and every tenth of those scanned the middle one.
GC_YOUNG_THRESHOLD = 50_000


class OverloadedError(ApiError):
    """The writer is behind by more than ``MAX_BACKLOG_EVENTS``: retry later (a 503)."""

    def __init__(self, backlog: int) -> None:
        super().__init__(
            503,
            "overloaded",
            f"ingestion is {backlog} events behind (the limit is {MAX_BACKLOG_EVENTS});"
            f" nothing in this request was stored, retry in {RETRY_AFTER_S} s",
        )
        self.retry_after_s = RETRY_AFTER_S


def _set_memory_limit(conn: Any, *, limit: str) -> None:
    conn.execute("SET memory_limit = ?", [limit])


def settle_heap() -> None:
    """Once a server process has built its start-up heap: freeze it out of the collector's
    reach and collect the young generation less often.

    Start-up leaves millions of long-lived objects (the identity map's warm entries, the
    modules, the app), and the collector's full passes walked all of them: about 130 ms of
    CPU each, ten of them in a 20 s single-event run, and 14% of the server's CPU samples
    (perf) were the collector. ``gc.freeze`` moves what exists now to the permanent
    generation: it is still freed by reference counting, only its cycles are never
    collected, which for objects that live as long as the process costs nothing. Not for
    tests or scripts, which build and drop many containers in one process: their cycles
    would be kept to the end.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def _warm_arrow() -> None:
    """Arrow imports pandas on its first conversion of a timestamp column (about 1 s): in a
    server that happens at start-up, not in the first request's answer."""
    at = datetime.now(UTC)
    messages_to_base([Message("warm", "warm", "track", at, at, event="warm")])


class IngestPipeline:
    def __init__(
        self, *, db: Database, resolver: Resolver, appliers: Sequence[Applier], settings: Settings
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.appliers = list(appliers)
        self.settings = settings
        # The appliers' work behind the acknowledgement while clients are many (deferred.py);
        # only where the writer reports each unit's outcome, which keeps the notes exact.
        self.deferred: DeferredApply | None = None
        if settings.ingest_defer_apply and hasattr(db, "outcome_listeners"):
            self.deferred = DeferredApply(self._apply)
            db.outcome_listeners.append(self.deferred.settle)
        self._applied_at = 0.0
        self.dedup = MessageIdDedup()
        self.stats = IngestStats()
        self.telemetry = IngestTelemetry()  # the /v1 answers (router.answer; retenta.metrics)
        self.store = not settings.ingest_skip_storage
        self._waiting: list[PendingRequest] = []
        self._waiting_events = 0
        self._backlog = 0  # events accepted, not yet handed to the writer (waiting + prepared)
        self._ready: list[Unit] = []  # prepared (here or by an ingest worker), not yet written
        # the intake journal (``ingest_acknowledge = "journal"``), opened by ``start``
        self.journal: IntakeJournal | None = None
        self._journaling: list[Unit] = []  # prepared units of early requests, to journal
        self._inflight_events = 0  # events of the unit the writer has
        self.pace = WriterPace()  # the writer's rate: the journal's lead (``lead.py``)
        self.progress = JournalProgress()  # what was answered from it, what is committed
        self.reads = ReadBarrier(self.progress, self.deferred)  # ``caught_up`` (readable.py)
        self._roll_timer: asyncio.TimerHandle | None = None  # an idle journal's clean-up
        self._arrivals = 0  # requests taken so far (the linger watches it grow)
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.listeners: list[CommitListener] = []
        self.settle_heap_at_start = False  # ``retenta serve`` sets it (see ``settle_heap``)

    @property
    def backlog(self) -> int:
        """Events accepted and not yet handed to the writer (waiting and prepared)."""
        return self._backlog

    def journal_state(self) -> dict[str, float]:
        """The intake journal's figures for ``/metrics`` (zeros without it)."""
        journal, progress = self.journal, self.progress
        return {
            "lag_events": self._lag(),
            "lead_events": self.pace.lead_events() if journal is not None else 0,
            "read_waits": self.reads.waits,
            "read_wait_seconds": self.reads.waited_s,
            "unapplied_records": progress.unapplied,
            "answered_requests": progress.answered_requests,
            "syncs": journal.syncs if journal is not None else 0,
            "held": int(progress.held),
        }

    def add_listener(self, listener: CommitListener) -> None:
        """Tell ``listener`` which contacts each unit touched, after its COMMIT."""
        self.listeners.append(listener)

    def notify_changed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        """Tell every listener these contacts changed (call after COMMIT). The pipeline calls
        it per unit; code that changes contacts outside it (profile edits, consent, erase)
        calls it too, so listeners hear of those as of any ingested event."""
        for listener in self.listeners:
            try:
                listener.committed(workspace_id, list(contact_ids))
            except Exception:
                log.exception("commit listener %r failed", listener)

    async def start(self) -> None:
        """Load the messageId fingerprints (before the server takes requests), start the loop."""
        # The writer thread releases the GIL for every DuckDB statement and must win it back
        # from the busy event loop; at the default 5 ms switch interval that wait dominated
        # small units (alternating A/B runs, this machine under load: median /v1/batch
        # 7,680 events/s at 0.5 ms against 3,220 at 5 ms).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        if self.store:
            limit = getattr(self.db, "memory_limit", None)  # the pool, lean while it loads
            try:
                await self.db.awrite(partial(self.dedup.ensure_loaded, memory_limit=limit))
            except BaseException:
                if limit is not None:  # DuckDB settings outlive the aborted transaction
                    await self.db.awrite(partial(_set_memory_limit, limit=limit))
                raise
            if self.deferred is not None:
                left = await self.db.awrite(self.deferred.recover)
                if left:
                    log.warning("applying %d events a previous process stored but did not", left)
            if self.settings.ingest_acknowledge == "journal" and self.journal is None:
                await self._open_journal()
        if self.settle_heap_at_start:
            _warm_arrow()
            settle_heap()
        if self._task is None:
            self._wake, self._stopping = asyncio.Event(), False
            self._task = asyncio.create_task(self._run(), name="ingest-group-commit")

    async def stop(self) -> None:
        """Flush everything waiting, then stop."""
        if self._task is None or self._wake is None:
            return
        self._stopping = True
        self._wake.set()
        await self._task
        self._task = None
        self._wake = None
        if self._roll_timer is not None:
            self._roll_timer.cancel()
            self._roll_timer = None
        if self.journal is not None:
            progress = self.progress
            self.journal.close(applied=None if progress.held else progress.committed_seq)
            self.journal = None
        self.progress.committed_through(self.progress.answered_seq)
        self._write_stats()

    async def _open_journal(self) -> None:
        """Open the intake journal and apply what it holds after the store's last applied
        record, before any request (``ingest/journal.py``). If the last start died while
        applying, one record a unit, and a record it died on ``MAX_REPLAY_CRASHES`` times
        is set aside as dead letters instead: one bad record must not keep the server down.
        """
        journal = IntakeJournal(self.settings.data_dir / "ingest-journal")
        with self.db.read() as cur:
            applied = read_applied(cur)
        records = journal.open(applied)
        self.journal = journal
        if records:
            log.warning("applying %d intake-journal records after #%d", len(records), applied)
            mark = journal.read_mark()
            units = _replayed(records)
            if mark is None:
                journal.write_mark(records[0].seq, crashes=0)
                await self._replay_in_groups(units)
            else:
                await self._replay_one_by_one(units, mark)
        journal.clear_mark()
        if not self.progress.held:
            with self.db.read() as cur:
                journal.release(read_applied(cur))

    async def _replay_in_groups(self, units: Iterator[Unit]) -> None:
        """Journal records applied as the writer's usual groups, read as they are needed."""
        ready: list[Unit] = []
        events = 0
        for unit in units:
            ready.append(unit)
            events += unit.events
            if events >= MAX_GROUP_EVENTS:
                group, ready = take_units(ready)
                events -= group.events
                await self._commit(group)
        while ready:
            group, ready = take_units(ready)
            await self._commit(group)

    async def _replay_one_by_one(self, units: Iterator[Unit], mark: tuple[int, int]) -> None:
        journal = self.journal
        assert journal is not None
        died_on, crashes = mark
        for unit in units:
            seq = unit.journal_seq
            times = crashes + 1 if seq == died_on else 0
            if times >= MAX_REPLAY_CRASHES:
                log.error("intake-journal record #%d took the server down %d times; set aside"
                          " as dead letters", seq, times)  # fmt: skip
                failure = RuntimeError(f"the server died applying it {times} times")
                for req in unit.requests:
                    await self._set_aside(req, failure, seq)
                self._release_journal(seq)
                continue
            journal.write_mark(seq, crashes=times)
            await self._commit(unit)

    def _write_stats(self) -> None:
        """Leave the run's per-phase timings in the data directory (read by bench_ingest)."""
        path = self.settings.data_dir / "ingest-stats.json"
        try:
            path.write_bytes(orjson.dumps(self.stats.as_dict(), option=orjson.OPT_INDENT_2))
        except OSError:
            log.warning("could not write %s", path, exc_info=True)

    async def ingest(
        self,
        messages: Sequence[Message],
        dead_letters: Sequence[DeadLetter] = (),
        *,
        early: bool = False,
    ) -> IngestOutcome:
        """Store messages durably (deduplicated, resolved, applied); returns after COMMIT.
        ``early`` (the ``/v1`` endpoints): with the intake journal, returns ``JOURNALED``
        once they are journaled, while the writer is less than its lead behind
        (``lead.WriterPace``)."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        if self._wake is None or self._stopping:  # not started (tests, scripts): one unit
            unit = prepare([PendingRequest(messages, dead_letters)])
            await self._write_or_forget(unit)
            return outcome_of(unit)
        if self._backlog > 0 and self._backlog + len(messages) > MAX_BACKLOG_EVENTS:
            raise OverloadedError(self._backlog)
        waiter: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        early = early and self._answer_early()
        self._waiting.append(PendingRequest(messages, dead_letters, waiter, early=early))
        self._arrivals += 1
        self._waiting_events += len(messages)
        self._backlog += len(messages)
        self._wake.set()
        return await waiter

    def submit(
        self,
        requests: Sequence[tuple[Sequence[Message], Sequence[DeadLetter]]],
        hashes: np.ndarray,
        base: pa.Table,
        encoded: bytes | None = None,
    ) -> list[asyncio.Future[IngestOutcome]]:
        """Queue requests prepared elsewhere (an ingest worker process did ``prepare``'s
        work: ``base`` and ``hashes`` cover their messages in order; ``encoded``, their
        ``wire.encode_unit`` as it came, is journaled as it is); one future each, resolved
        after COMMIT, or once journaled as ``ingest(early=True)`` resolves. The
        backlog rule is ``ingest``'s: the first request that would pass it, and every one
        after it, gets ``OverloadedError`` and is not queued."""
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in requests]
        early = self._answer_early()
        reqs = [
            PendingRequest(m, d, w, early=early)
            for (m, d), w in zip(requests, waiters, strict=True)
        ]
        if not self.store or self._wake is None or self._stopping:
            for req in reqs:
                settle_now(req, self.store)
            return waiters
        taken = self._admit(reqs)
        if taken:
            rows = sum(len(r.messages) for r in reqs[:taken])
            unit = prepared_unit(reqs[:taken], hashes[:rows], base.slice(0, rows))
            unit.encoded = encoded if taken == len(reqs) else None
            self._route([unit])
            self._backlog += rows
            self._arrivals += taken
            self._wake.set()
        return waiters

    def _admit(self, reqs: list[PendingRequest]) -> int:
        """How many leading requests fit under the backlog limit; the rest are refused."""
        backlog = self._backlog
        for i, req in enumerate(reqs):
            if backlog > 0 and backlog + len(req.messages) > MAX_BACKLOG_EVENTS:
                for refused in reqs[i:]:
                    settle_request(refused, OverloadedError(backlog))
                return i
            backlog += len(req.messages)
        return len(reqs)

    def ingest_sync(
        self, messages: Sequence[Message], dead_letters: Sequence[DeadLetter] = ()
    ) -> IngestOutcome:
        """The same from a non-async thread (imports, the demo trickle, the CLI)."""
        if not self.store:
            return IngestOutcome(stored=len(messages), duplicates=0, dropped=0)
        unit = prepare([PendingRequest(messages, dead_letters)])
        try:
            self.db.write(lambda c: self._write_unit(c, unit))
        except BaseException:
            self._forget(unit)
            raise
        self.stats.count(**unit.totals)
        self._notify(unit)
        return outcome_of(unit)

    async def _write_or_forget(self, unit: Unit) -> None:
        try:
            await self.db.awrite(lambda c: self._write_unit(c, unit))
        except BaseException:
            self._forget(unit)
            raise
        self.stats.count(**unit.totals)
        self._notify(unit)

    def _notify(self, unit: Unit) -> None:
        """After COMMIT: each listener gets the touched contacts per workspace (it only queues)."""
        if not self.listeners:
            return
        for workspace_id, contact_ids in touched_contacts(unit.messages).items():
            self.notify_changed(workspace_id, contact_ids)

    # -- the group-commit loop (event loop) ------------------------------------------

    async def _run(self) -> None:
        """Prepare what arrives while the writer is busy; hand it all over when it is free."""
        assert self._wake is not None
        inflight: asyncio.Task[None] | None = None
        journaling: asyncio.Task[None] | None = None
        while True:
            self.reads.release()
            if inflight is not None and inflight.done():
                inflight = None
            if journaling is not None and journaling.done():
                journaling = None
            if self._waiting and (
                inflight is None or self._should_prepare_early() or self.journal is not None
            ):
                self._route(self._prepare_waiting())
            if journaling is None and self._journaling:
                units, self._journaling = self._journaling, []
                journaling = asyncio.create_task(self._journal_units(units))
                journaling.add_done_callback(lambda _: self._wake_up())
            if inflight is None and self._apply_due():
                inflight = asyncio.create_task(self._apply_deferred())
                inflight.add_done_callback(lambda _: self._wake_up())
                continue
            if inflight is None and self._ready:
                unit, self._ready = take_units_or_one(self._ready)
                unit.defer = self.deferred is not None and _busy_and_small(unit)
                self._backlog -= unit.events
                inflight = asyncio.create_task(self._commit_then_gather(unit))
                inflight.add_done_callback(lambda _: self._wake_up())
                continue
            idle = inflight is None and journaling is None and not self._journaling
            if idle and self._stopping and not self._waiting:
                return
            await self._wake.wait()
            self._wake.clear()

    def apply_noted(self, conn: Any) -> None:
        """Inside a writer unit: apply every noted message now. Erasure calls it before it
        deletes a person, so no order or cart is made from their events after it."""
        if self.deferred is not None and self.deferred.pending:
            self.deferred.apply_with(conn, [])

    async def reapply(
        self, workspace_id: str, message_id: str, then: Callable[[Any], None]
    ) -> Message | None:
        """The appliers' work for a stored event, again, and ``then`` in the same unit: the
        replay of a dead letter its apply left (``deferred.py``), marked replayed only with
        it. None when the event is no longer stored; an error (an applier's, or ``then``'s)
        is raised, and its unit leaves nothing."""

        def work(conn: Any) -> Message | None:
            found = stored_message(conn, workspace_id, message_id)
            if found is not None:
                self._apply(conn, [found])
                then(conn)
            return found

        found = await self.db.awrite(work)
        if found is not None and found.contact_id is not None:
            self.notify_changed(workspace_id, [found.contact_id])
        return found

    def _apply_due(self) -> bool:
        """Whether the noted messages are to be applied now: nothing waits, the server stops,
        or the oldest apply is ``every_s`` old."""
        deferred = self.deferred
        if deferred is None or not deferred.pending:
            return False
        idle = not self._ready and not self._waiting
        late = time.monotonic() - self._applied_at >= deferred.every_s
        return idle or late or self._stopping

    async def _apply_deferred(self, count: int | None = None) -> None:
        """One unit applying the ``count`` oldest noted messages (all); on failure, halves,
        and a single message that fails alone becomes a dead letter (``deferred.py``)."""
        deferred = self.deferred
        assert deferred is not None
        self._applied_at = time.monotonic()
        n = len(deferred.pending) if count is None else count
        if n == 0:
            return

        def work(conn: Any) -> list[Message]:
            lap = self.stats.clock()
            batch = deferred.apply_first(conn, n)
            lap("apply")
            return batch

        try:
            batch = await self.db.awrite(work)
        except Exception as exc:
            if n == 1:
                try:
                    await self.db.awrite(partial(deferred.drop_first, error=exc))
                except Exception:  # kept noted: the next apply tries it again
                    log.exception("could not set aside an event commerce refused")
                return
            await self._apply_deferred(n // 2)
            await self._apply_deferred(n - n // 2)
            return
        for workspace_id, contact_ids in touched_contacts(batch).items():
            self.notify_changed(workspace_id, contact_ids)

    def _should_prepare_early(self) -> bool:
        return self._waiting_events >= PREPARE_CHUNK_EVENTS or self._stopping

    def _prepare_waiting(self) -> list[Unit]:
        """The waiting requests, prepared; a request that cannot be prepared fails alone
        (the loop itself must never die: every later request would wait forever)."""
        lap = self.stats.clock()
        requests, self._waiting, self._waiting_events = self._waiting, [], 0
        try:
            units = [prepare(requests)]
        except Exception:
            units = [u for u in map(prepare_or_fail, requests) if u is not None]
            unprepared = sum(len(r.messages) for r in requests) - sum(u.events for u in units)
            self._backlog -= unprepared  # those requests were answered with their error
        lap("prepare")
        return units

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the intake journal (``ingest_acknowledge = "journal"``) ----------------------

    async def caught_up(self) -> None:
        """Return once what ingestion answered so far is readable (``readable.py``): the
        management API reads after it (``web/after_journal.py``)."""
        if self._task is not None:
            await self.reads.wait()

    def _answer_early(self) -> bool:
        """Whether a request arriving now is answered once journaled (module doc)."""
        return self.journal is not None and self._lag() < self.pace.lead_events()

    def _lag(self) -> int:
        """Events accepted and not yet committed (waiting, prepared, in the writer)."""
        return self._backlog + self._inflight_events

    def _route(self, units: list[Unit]) -> None:
        """Prepared units: to the journal when one of their requests is answered from
        there, else straight to the writer."""
        for unit in units:
            if any(r.early for r in unit.requests):
                self._journaling.append(unit)
            else:
                self._ready.append(unit)

    async def _journal_units(self, units: list[Unit]) -> None:
        """Journal the units (encoded and written on the journal's thread, one sync),
        answer their early requests, and hand the units to the writer. If the journal
        cannot take them, their requests are answered after their COMMIT instead."""
        journal = self.journal
        assert journal is not None
        seqs = journal.reserve(len(units))
        try:
            payloads = await journal.run(encode_units, units)
            await journal.append(list(zip(seqs, payloads, strict=True)))
        except Exception:
            log.exception("could not journal %d units; answering them after COMMIT", len(units))
            for req in (r for u in units for r in u.requests):
                req.early = False
        else:
            for unit, seq in zip(units, seqs, strict=True):
                unit.journal_seq = seq
                for req in unit.requests:
                    if req.early:
                        req.outcome = JOURNALED
                        settle_request(req, None)
            self.progress.answered(seqs[-1], sum(r.early for u in units for r in u.requests))
        self._ready += units

    async def _set_aside(self, req: PendingRequest, exc: BaseException, seq: int = 0) -> None:
        """A journaled request the writer could not store alone: its events become dead
        letters (replayable once the cause is fixed), with ``seq`` marked applied. If even
        that fails, no later unit marks a record applied, so the next start applies the
        journal from here again."""
        log.error("a journaled request of %d events could not be stored: %s (dead letters)",
                  len(req.messages), exc)  # fmt: skip
        letters = [*req.dead_letters, *(journal_letter(m, exc) for m in req.messages)]

        def work(conn: Any) -> None:
            insert_dead_letters(conn, letters)
            if seq and not self.progress.held:
                mark_applied(conn, seq)

        try:
            await self.db.awrite(work)
        except Exception:
            log.exception("could not set aside a journaled request; the journal is kept")
            self.progress.held = True

    async def _mark_applied(self, seq: int) -> None:
        if self.progress.held:
            return
        try:
            await self.db.awrite(partial(mark_applied, seq=seq))
        except Exception:
            log.exception("could not mark intake-journal record #%d applied", seq)
            self.progress.held = True

    def _release_journal(self, seq: int) -> None:
        """Record ``seq`` committed: reads waiting for it go on, and the segments whose
        records are all applied are deleted."""
        self.progress.committed_through(seq)
        if self.journal is not None and seq and not self.progress.held:
            self.journal.release(seq)
            if self._roll_timer is None:  # once ingestion stops, its raw events still go
                loop = asyncio.get_running_loop()
                self._roll_timer = loop.call_later(ROLL_AFTER_S + 1, self._release_idle)

    def _release_idle(self) -> None:
        """Until the open segment is empty: release (and roll) it every ``ROLL_AFTER_S``."""
        self._roll_timer = None
        journal = self.journal
        if journal is None or self.progress.held:
            return
        journal.release(self.progress.committed_seq)
        if journal.open_segment_bytes:
            loop = asyncio.get_running_loop()
            self._roll_timer = loop.call_later(ROLL_AFTER_S + 1, self._release_idle)

    async def _commit_then_gather(self, unit: Unit) -> None:
        """Commit; after a busy unit, let the callers just answered send their next requests
        (they join the next unit instead of forming a half-size one after it)."""
        self._inflight_events = unit.events
        taken = time.monotonic()
        try:
            await self._commit(unit)
        finally:
            self._inflight_events = 0
        self.pace.unit(unit.events, time.monotonic() - taken)
        answered = any(r.early for r in unit.requests)  # its callers are not waiting on it
        if len(unit.requests) > 1 and not self._stopping and not answered:
            await self._gather_arrivals()

    async def _gather_arrivals(self) -> None:
        """Linger while requests keep arriving, at most ``REGATHER_MAX_S``."""
        deadline = time.monotonic() + REGATHER_MAX_S
        seen = -1
        while self._arrivals != seen and time.monotonic() < deadline:
            seen = self._arrivals
            await asyncio.sleep(REGATHER_STEP_S)

    async def _commit(self, unit: Unit) -> None:
        """One unit for the group; on failure, halves retried so only culprits fail."""
        try:
            await self._write_or_forget(unit)
        except Exception as exc:
            if self.deferred is not None and self.deferred.pending:
                await self._apply_deferred()  # isolated: what was noted is not this unit's fault
            if len(unit.requests) == 1:
                req = unit.requests[0]
                if req.early:  # answered already: nothing it carried may be lost
                    await self._set_aside(req, exc, unit.journal_seq)
                    self._release_journal(unit.journal_seq)
                settle_request(req, exc)
                return
            log.warning(
                "ingest group of %d failed (%s); retrying in halves", len(unit.requests), exc
            )
            half = len(unit.requests) // 2
            await self._commit(prepare(unit.requests[:half]))
            await self._commit(prepare(unit.requests[half:]))
            if unit.journal_seq:
                await self._mark_applied(unit.journal_seq)
                self._release_journal(unit.journal_seq)
            return
        self._release_journal(unit.journal_seq)
        for req in unit.requests:
            settle_request(req, None)

    def _forget(self, unit: Unit) -> None:
        self.dedup.forget(unit.keys)

    # -- the unit of work (writer thread) --------------------------------------------

    def _write_unit(self, conn: Any, unit: Unit) -> None:
        lap = self.stats.clock()
        letters = [d for req in unit.requests for d in req.dead_letters]
        insert_dead_letters(conn, letters)
        if unit.journal_seq and not self.progress.held:
            mark_applied(conn, unit.journal_seq)
        lap("dead_letters")
        if not unit.messages:
            unit.totals = {**count_outcomes(unit.requests, [], []), "dead_letters": len(letters)}
            return
        messages = unit.messages
        fresh_mask = self._dedup(conn, unit)
        all_fresh = all(fresh_mask)
        lap("dedup")
        fresh = messages if all_fresh else list(compress(messages, fresh_mask))
        if fresh:
            self.resolver.resolve(conn, fresh)
            _close_results(conn)
        lap("resolve")
        drops = list(map(_DROPPED, messages))
        if all_fresh and drops.count(None) == len(drops):  # the common case: keep every row
            keep: list[bool] | None = None
            stored = messages
        else:
            keep = [new and d is None for new, d in zip(fresh_mask, drops, strict=True)]
            stored = list(compress(messages, keep))
        append_events(conn, with_contacts(unit.base, keep, contact_ids_of(stored)))
        keys = unit.base.select(["workspace_id", "message_id"])
        if all_fresh:
            insert_keys(conn, keys, unit.hashes)
        else:
            mask = np.asarray(fresh_mask, dtype=bool)
            insert_keys(conn, keys.filter(pa.array(mask)), unit.hashes[mask])
        lap("append")
        if self.deferred is None:
            self._apply(conn, stored)
        elif unit.defer:
            self.deferred.note(conn, stored)
        else:
            self.deferred.apply_with(conn, stored)
        lap("apply")
        totals = count_outcomes(unit.requests, fresh_mask, drops)
        unit.totals = {**totals, "dead_letters": len(letters)}
        if all_fresh:
            self.dedup.remember(unit.keys, unit.hashes)
        else:
            fresh_keys = list(compress(unit.keys, fresh_mask))
            self.dedup.remember(fresh_keys, unit.hashes[np.asarray(fresh_mask, dtype=bool)])

    def _dedup(self, conn: Any, unit: Unit) -> list[bool]:
        messages = unit.messages
        unset = len(messages)
        if (
            list(map(_CONTACT_ID, messages)).count(None) != unset
            or list(map(_DROPPED, messages)).count(None) != unset
        ):
            for m in messages:
                m.contact_id, m.dropped = None, None  # a retried unit starts afresh
        return self.dedup.fresh_mask(conn, unit.keys, unit.hashes)

    def _apply(self, conn: Any, stored: list[Message]) -> None:
        if not stored:
            return
        for applier in self.appliers:
            applier.apply(conn, stored)
            _close_results(conn)


def _replayed(records: Sequence[StoredRecord]) -> Iterator[Unit]:
    """The journal's records as units, each read from its segment when it is taken."""
    for record in records:
        unit = journaled_unit(record.seq, record.read())
        if unit is not None:
            yield unit


def _busy_and_small(unit: Unit) -> bool:
    return len(unit.requests) >= DEFER_FROM_REQUESTS and unit.events < DEFER_BELOW_EVENTS


def _close_results(conn: Any) -> None:
    """Finish any result a resolver or applier left half-read (``fetchone``): DuckDB 2
    refuses ``register`` on a connection with an open result until it is completed."""
    conn.complete()
