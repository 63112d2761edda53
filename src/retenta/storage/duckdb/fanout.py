"""Independent reads run at once, on two cores, and still answer as one snapshot.

A point read is mostly DuckDB planning its statement (binding and optimizing ~2–4 ms of
CPU for the profile's seven branches, against well under a millisecond of reading), and a
statement is planned on one thread. Split into two statements on two cursors, the halves
plan and run side by side (DuckDB releases the GIL meanwhile): the profile fell from
4.7 to 2.9 ms at p50 in process at 1M contacts (session 18).

Two cursors are two transactions, so two snapshots. The writer counts its commits (odd
while one is in flight, ``CommitCount``); when the count moved while the reads ran, a unit
committed between their snapshots (compaction moving events from one tier to the next,
for one) and they run again, one after another, inside one read transaction on the
caller's cursor: what the caller gets is always one snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")
# Threads that take a half off the caller's. Two cores here: one more than that would
# only queue, and a read that finds none free runs its halves itself.
FANOUT_THREADS = 2


class CommitCount:
    """The writer's commits, counted twice each: before its ``COMMIT`` and after it ends
    (committed or not), so the count is odd while one is in flight. Written by the writer
    thread only; an ``int`` read is atomic under the GIL."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


class ReadFanOut:
    """``read_together`` for a database whose ``read()`` gives each thread its cursor."""

    def __init__(
        self,
        read: Callable[[], AbstractContextManager[Any]],
        commits: CommitCount,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self._read = read
        self._commits = commits
        self._on_retry = on_retry  # told of each retry (the writer's telemetry)
        self._free = threading.Semaphore(FANOUT_THREADS)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.retried = 0  # reads run again because a unit committed meanwhile

    def read_together(self, works: Sequence[Callable[[Any], T]]) -> list[T]:
        """The results of ``works`` (each given a cursor), as if read in one snapshot."""
        if not works:
            return []
        before = self._commits.value
        if before % 2 == 0:
            results = self._at_once(works)
            if self._commits.value == before:
                return results
        self.retried += 1
        if self._on_retry is not None:
            self._on_retry()
        return self._in_one_transaction(works)

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True)

    def _at_once(self, works: Sequence[Callable[[Any], T]]) -> list[T]:
        first, *rest = works
        fanned: list[tuple[int, Future[T]]] = []
        here: list[int] = []
        for index, work in enumerate(rest, start=1):
            if not self._free.acquire(blocking=False):
                here.append(index)
                continue
            try:
                fanned.append((index, self._executor().submit(self._fanned, work)))
            except RuntimeError:  # the pool is shutting down (the database closing)
                self._free.release()
                here.append(index)
        results: list[Any] = [None] * len(works)
        try:
            with self._read() as cur:
                results[0] = first(cur)
                for index in here:
                    results[index] = works[index](cur)
        finally:  # a half still running holds its cursor: let it end before anything raises
            wait([future for _, future in fanned])
        for index, future in fanned:
            results[index] = future.result()  # raises the half's own error
        return results

    def _fanned(self, work: Callable[[Any], T]) -> T:
        try:
            with self._read() as cur:
                return work(cur)
        finally:
            self._free.release()

    def _in_one_transaction(self, works: Sequence[Callable[[Any], T]]) -> list[T]:
        with self._read() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                results = [work(cur) for work in works]
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            return results

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the database is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(FANOUT_THREADS, thread_name_prefix="retenta-fanout")
            return self._pool
