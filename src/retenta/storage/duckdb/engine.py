"""DuckDB database with a single writer thread and versioned migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from retenta.storage.base import TierProbe
from retenta.storage.duckdb import tier_members
from retenta.storage.duckdb.fanout import CommitCount, ReadFanOut
from retenta.storage.duckdb.memory import Budget, PoolGovernor, size_bytes
from retenta.storage.duckdb.telemetry import WriterTelemetry

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


def abort_cause(exc: BaseException) -> BaseException:
    """The error that aborted a unit's transaction, rather than a later statement's "Current
    transaction is aborted" (a ``finally`` that unregisters an Arrow table, for one), which
    would hide it from the caller and from the out-of-memory relief.

    >>> try:
    ...     try:
    ...         raise duckdb.OutOfMemoryException("failed to pin block")
    ...     finally:
    ...         raise duckdb.TransactionException("Current transaction is aborted")
    ... except duckdb.Error as e:
    ...     type(abort_cause(e)).__name__
    'OutOfMemoryException'
    """
    seen = exc
    while (
        isinstance(seen, duckdb.TransactionException)
        and "transaction is aborted" in str(seen)
        and isinstance(seen.__context__, duckdb.Error)
    ):
        seen = seen.__context__
    return seen


class DuckDatabase:
    """All writes go through one thread fed by a queue (the Datasette model).

    A unit of work is a callable that receives the writer connection; it runs
    inside ``BEGIN … COMMIT``, so it either lands whole or not at all, and the
    future resolves only after the commit (durable acknowledgement).

    DuckDB checkpoints automatically inside the ``COMMIT`` that takes the WAL past
    ``checkpoint_threshold``, and the commits of 2.0 that touch an indexed table or update
    a row wait for any checkpoint: the unit that crossed the threshold, and every request
    in it, waited 110-400 ms for it. So the writer checkpoints itself once the WAL reaches
    ``CHECKPOINT_SHARE`` of that threshold, right *after* the unit's future resolves: the
    acknowledgement no longer waits for it, the event loop prepares the next unit
    meanwhile, and DuckDB's own checkpoint stays the backstop at the full threshold
    (a ``SET checkpoint_threshold``, as imports do, moves both).

    Checkpoints are *light* while the database is open: they write what the WAL holds but
    skip DuckDB's vacuum (``max_vacuum_tasks`` is 0, a global setting), which merges each
    table's small row groups and so rewrote the partly filled ones whole
    (``events_recent``'s up to ~120k rows, 15 columns) in every checkpoint: 90-300 ms
    instead of 30-40, and DuckDB's own checkpoint in the COMMIT of a compaction flush
    (~19 MB of WAL) held the writer 270-560 ms. The vacuum runs, in a *full* checkpoint
    (the configured value for its duration), when the writer has been idle
    ``IDLE_FULL_CHECKPOINT_S`` with something in the WAL, as every ``LIGHT_CHECKPOINTS``-th
    post-ack checkpoint, and at close (if the WAL holds anything), so a table holds a
    bounded number of small row groups more than DuckDB would leave.

    With a ``memory_budget`` the writer also sizes DuckDB's pool between units and while
    idle, to what the rest of the process leaves of the budget (``memory.PoolGovernor``);
    ``memory_limit`` is then the pool's ceiling.

    ``outcome_listeners`` are told, on the writer thread, how each unit ended (True after
    its ``COMMIT``, False after its ``ROLLBACK``), before its future resolves: the writer's
    in-memory state (identity's pending overlay) settles without asking the database.

    ``read_together`` runs independent reads side by side on two cursors and still answers
    as one snapshot (``fanout.ReadFanOut``: the writer counts its commits for it).
    ``probe_event_tiers`` tells a point read which of L0 and L1 cannot hold its contact
    (``tier_members``, kept by the appends and tier moves that run on the unit cursor).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        memory_limit: str = "1GB",
        threads: int = 2,
        checkpoint_threshold: str | None = None,
        memory_budget: str | None = None,
    ) -> None:
        self.path = str(path)
        self.memory_limit = memory_limit  # as configured (DuckDB reports it rounded)
        self._governor = _governor(memory_budget, memory_limit)
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit,
            "threads": threads,
        }
        self._conn = duckdb.connect(self.path, config=config)
        self._conn.execute("SET GLOBAL TimeZone = 'UTC'")
        if checkpoint_threshold is not None:  # DuckDB's own default (16 MiB) otherwise
            if size_bytes(checkpoint_threshold) is None:
                raise ValueError(f"checkpoint_threshold {checkpoint_threshold!r}: say 16MiB")
            self._conn.execute(f"SET GLOBAL checkpoint_threshold = '{checkpoint_threshold}'")
        self._queue: queue.Queue[Any] = queue.Queue()
        self._local = threading.local()
        self._closed = False
        self._unit_cursor = self._conn.cursor()  # the writer thread's, for every unit
        self._commits = CommitCount()
        self.telemetry = WriterTelemetry()  # /metrics (retenta.metrics)
        self._fanout = ReadFanOut(self.read, self._commits, self.telemetry.snapshot_retry)
        self._wal = None if self.path in ("", ":memory:") else self.path + ".wal"
        self._due_bytes = _due_bytes(self._conn)
        self._wal_seen = 0  # the WAL's size after the last unit
        self._vacuum_tasks = int(_setting(self._conn, "max_vacuum_tasks"))  # as configured
        self._light = 0  # light checkpoints since the last full one
        if self._wal is not None:
            self._conn.execute("SET GLOBAL max_vacuum_tasks = 0")
        self.outcome_listeners: list[Callable[[bool], None]] = []
        apply_migrations(self._conn)
        self.tier_members = tier_members.TierMembers()
        self.tier_members.on_stale = self.telemetry.stale_probe
        self.tier_members.load(self._conn)
        tier_members.register(self._unit_cursor, self.tier_members)
        self.outcome_listeners.append(self.tier_members.settle)
        self._thread = threading.Thread(target=self._run, name="retenta-writer", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> Future[T]:
        if self._closed:
            raise RuntimeError("database is closed")
        fut: Future[T] = Future()
        self._queue.put((work, fut))
        return fut

    def write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if threading.current_thread() is self._thread:  # inside a unit: part of it
            return work(self._unit_cursor)
        return self.submit(work).result()

    async def awrite(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return await asyncio.wrap_future(self.submit(work))

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for this thread; sees everything committed so far.

        The cursor is shared by everything on the thread, so a result a caller left
        half-read (``fetchone``) is completed first: DuckDB 2 refuses ``register`` and other
        work on a connection with an unfinished result. It is completed again when the block
        ends: an unfinished result keeps its transaction open on the idle cursor, and while
        one is open DuckDB refuses the writer's ``CHECKPOINT`` after a unit that updated
        checkpointed rows of an indexed table ("other write transactions active"); the
        writer then tried again after every unit, the WAL growing, until one got through.
        """
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        cur.complete()
        try:
            yield cur
        finally:
            cur.complete()

    def read_together(self, works: Sequence[Callable[[Any], T]]) -> list[T]:
        """The results of independent reads ``works`` (each given a cursor), run side by
        side, as one snapshot (``fanout``); on the writer thread, one after another in its
        unit."""
        if threading.current_thread() is self._thread:
            return [work(self._unit_cursor) for work in works]
        return self._fanout.read_together(works)

    def gauges(self) -> dict[str, float]:
        """The store's state now, for ``/metrics``: units waiting for the writer, the WAL's
        and the database file's bytes, DuckDB's buffer pool in use and its limit (one small
        read of ``duckdb_memory()``)."""
        with self.read() as cur:
            ((used, limit),) = cur.execute(
                "SELECT (SELECT sum(memory_usage_bytes) FROM duckdb_memory()),"
                " current_setting('memory_limit')"
            ).fetchall()
        on_disk = self._wal is not None and os.path.exists(self.path)
        return {
            "writer_queue_units": float(self._queue.qsize()),
            "wal_bytes": float(_wal_size(self._wal)) if self._wal is not None else 0.0,
            "database_bytes": float(os.path.getsize(self.path)) if on_disk else 0.0,
            "pool_used_bytes": float(used or 0),
            "pool_limit_bytes": float(size_bytes(str(limit)) or 0),
        }

    def probe_event_tiers(self, contact_ids: list[int]) -> TierProbe:
        """The tiers a point read of ``contact_ids`` may skip (``tier_members``)."""
        return self.tier_members.probe(contact_ids, self._commits)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fanout.close()
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        try:
            self._conn.execute(f"SET GLOBAL max_vacuum_tasks = {self._vacuum_tasks}")
            self._conn.execute("CHECKPOINT")
        except duckdb.Error:  # a reader still open elsewhere; close() checkpoints when it can
            log.debug("checkpoint at close skipped", exc_info=True)
        self._conn.close()

    def _run(self) -> None:
        cur = self._unit_cursor
        while True:
            try:
                item = self._queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                if self._light:  # idle with small row groups left: vacuum them now
                    self._vacuum_when_idle(cur)
                self._govern(cur)
                continue
            if item is _STOP:
                cur.close()
                return
            work, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            committing = False
            began = time.perf_counter()
            try:
                cur.execute("BEGIN TRANSACTION")
                result = work(cur)
                self._commits.bump()  # odd until the COMMIT has ended (fanout.CommitCount)
                committing = True
                commit_began = time.perf_counter()
                cur.execute("COMMIT")
            except BaseException as raised:  # the transaction is void; report to the caller
                self.telemetry.unit_rolled_back()
                if committing:
                    self._commits.bump()
                exc = abort_cause(raised)
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    log.debug("rollback after failed unit of work", exc_info=True)
                if isinstance(exc, duckdb.OutOfMemoryException):
                    self._relieve(cur)
                self._tell(committed=False)
                fut.set_exception(exc)
            else:
                self._commits.bump()
                ended = time.perf_counter()
                self.telemetry.unit_committed(
                    seconds=ended - began, commit_seconds=ended - commit_began
                )
                self._tell(committed=True)
                fut.set_result(result)
                self._checkpoint_if_due(cur)
                self._govern(cur)

    def _idle_timeout(self) -> float | None:
        if self._light:
            return IDLE_FULL_CHECKPOINT_S
        return None if self._governor is None else self._governor.seconds_left()

    def _relieve(self, cur: duckdb.DuckDBPyConnection) -> None:
        if self._governor is None:
            return
        try:
            self._governor.relieve(cur)
        except duckdb.Error:
            log.debug("memory limit not raised", exc_info=True)

    def _govern(self, cur: duckdb.DuckDBPyConnection) -> None:
        if self._governor is None:
            return
        try:
            self._governor.govern(cur)
        except duckdb.Error:  # pinned blocks DuckDB cannot evict yet: the next tick retries
            log.debug("memory limit left as it was", exc_info=True)

    def _checkpoint_if_due(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Checkpoint after an acknowledged unit once the WAL is ``CHECKPOINT_SHARE`` of
        DuckDB's threshold: one ``stat`` a unit; the setting is read again only when the
        WAL reaches the share of the value last read (it may have been raised, as imports
        do) or shrank without us (DuckDB checkpointed in a COMMIT: it may have been lowered).
        """
        if self._wal is None:
            return
        size = _wal_size(self._wal)
        seen, self._wal_seen = self._wal_seen, size
        if size < seen:
            self.telemetry.commit_checkpoints.inc()
            self._due_bytes = _due_bytes(cur)
        if self._due_bytes is None or size < self._due_bytes:
            return
        self._due_bytes = _due_bytes(cur)
        if self._due_bytes is None or size < self._due_bytes:
            return
        if self._checkpoint(cur, light=self._light + 1 < LIGHT_CHECKPOINTS):
            self._wal_seen = 0

    def _vacuum_when_idle(self, cur: duckdb.DuckDBPyConnection) -> None:
        """A full checkpoint while no unit waits; DuckDB skips one with an empty WAL (and
        its vacuum too), so with nothing written since, it waits for the next one due."""
        if self._wal is not None and _wal_size(self._wal) > 0 and self._checkpoint(cur):
            self._wal_seen = 0

    def _checkpoint(self, cur: duckdb.DuckDBPyConnection, *, light: bool = False) -> bool:
        """``CHECKPOINT``, light (as the setting stands) or full (the configured
        ``max_vacuum_tasks`` for it, 0 again right after); False when another transaction
        holds it off (DuckDB's own checkpoint then remains, at the threshold)."""
        full = not light and self._vacuum_tasks > 0
        began = time.perf_counter()
        try:
            if full:
                cur.execute(f"SET GLOBAL max_vacuum_tasks = {self._vacuum_tasks}")
            try:
                cur.execute("CHECKPOINT")
            finally:
                if full:
                    cur.execute("SET GLOBAL max_vacuum_tasks = 0")
        except duckdb.Error:  # the writer thread carries on either way
            log.debug("checkpoint skipped", exc_info=True)
            self.telemetry.checkpoints_refused.inc()
            return False
        self.telemetry.checkpointed(full=full, seconds=time.perf_counter() - began)
        self._light = self._light + 1 if light and self._vacuum_tasks > 0 else 0
        return True

    def _tell(self, *, committed: bool) -> None:
        for listener in self.outcome_listeners:
            try:
                listener(committed)
            except Exception:  # a listener's failure is its own; the unit's outcome stands
                log.exception("unit outcome listener %r failed", listener)


# The writer checkpoints on its own at this share of ``checkpoint_threshold``. DuckDB fires
# its own once the WAL plus its estimate of the committing unit passes the threshold, and
# it estimates a 3,000-event unit at several MB more than the unit adds to the WAL: at 3/4
# (12 MiB) it still got 4 of 5 checkpoints of a bench_ingest run, at 1/2 (8 MiB) 2 of 7. At
# 1M contacts a unit of known people on new devices (identities moved, contacts merged) is
# estimated far above what it writes: with the threshold at 32 MiB and the WAL at 0.1-4.5
# MB, DuckDB checkpointed inside 15 of ~18 such COMMITs every 30 s (~0.5 s each, a third
# of the writer; session 21). So the threshold is 8x the writer's own trigger: DuckDB's is
# a backstop for when the writer's are refused, not the rule.
CHECKPOINT_SHARE = 0.125
# Light post-ack checkpoints between two full ones (see ``DuckDatabase``), and the idle time
# after which the writer runs a full one. At c8 one is due every ~1.5-2 s: a full one every
# ~30 s under steady load, merging what 15 light ones left (~400 ms of CPU at 100k contacts).
LIGHT_CHECKPOINTS = 16
IDLE_FULL_CHECKPOINT_S = 1.0


def parse_size(text: str) -> int | None:
    """DuckDB's rendering of a size setting in bytes; None when it is not one.

    >>> parse_size("16.0 MiB"), parse_size("1.0 GiB"), parse_size("512 bytes"), parse_size("x")
    (16777216, 1073741824, 512, None)
    """
    return size_bytes(text)


def _governor(budget: str | None, memory_limit: str) -> PoolGovernor | None:
    if budget is None:
        return None
    process, ceiling = size_bytes(budget), size_bytes(memory_limit)
    if process is None or ceiling is None:
        raise ValueError(f"memory_budget {budget!r} / memory_limit {memory_limit!r}: say 1400MiB")
    return PoolGovernor(Budget.within(process, ceiling))


def _setting(conn: duckdb.DuckDBPyConnection, name: str) -> Any:
    return conn.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]


def _due_bytes(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The WAL size at which the writer checkpoints after a unit."""
    threshold = parse_size(str(_setting(conn, "checkpoint_threshold")))
    return None if threshold is None else int(threshold * CHECKPOINT_SHARE)


def _wal_size(wal: str) -> int:
    try:
        return os.stat(wal).st_size
    except OSError:  # no WAL yet (or just truncated)
        return 0


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every packaged migration, in order."""
    pkg = resources.files("retenta.storage.duckdb.migrations")
    found = []
    for entry in pkg.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def apply_migrations(conn: duckdb.DuckDBPyConnection, *, before: int | None = None) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; with ``before``,
    only those numbered below it (a store as an older release left it, for upgrade tests)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migration_files():
        if version in done or (before is not None and version >= before):
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
