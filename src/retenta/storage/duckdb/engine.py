"""DuckDB database with a single writer thread and versioned migrations."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


class DuckDatabase:
    """All writes go through one thread fed by a queue (the Datasette model).

    A unit of work is a callable that receives the writer connection; it runs
    inside ``BEGIN … COMMIT``, so it either lands whole or not at all, and the
    future resolves only after the commit (durable acknowledgement).

    ``outcome_listeners`` are told, on the writer thread, how each unit ended (True after
    its ``COMMIT``, False after its ``ROLLBACK``), before its future resolves: the writer's
    in-memory state (identity's pending overlay) settles without asking the database.
    """

    def __init__(self, path: Path | str, *, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.path = str(path)
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit,
            "threads": threads,
        }
        self._conn = duckdb.connect(self.path, config=config)
        self._conn.execute("SET GLOBAL TimeZone = 'UTC'")
        self._queue: queue.Queue[Any] = queue.Queue()
        self._local = threading.local()
        self._closed = False
        self.outcome_listeners: list[Callable[[bool], None]] = []
        apply_migrations(self._conn)
        self._thread = threading.Thread(target=self._run, name="retenta-writer", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> Future[T]:
        if self._closed:
            raise RuntimeError("database is closed")
        fut: Future[T] = Future()
        self._queue.put((work, fut))
        return fut

    def write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if threading.current_thread() is self._thread:
            return work(self._conn)
        return self.submit(work).result()

    async def awrite(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return await asyncio.wrap_future(self.submit(work))

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for this thread; sees everything committed so far.

        The cursor is shared by everything on the thread, so a result a caller left
        half-read (``fetchone``) is completed first: DuckDB 2 refuses ``register`` and other
        work on a connection with an unfinished result.
        """
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        cur.complete()
        yield cur

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        try:
            self._conn.execute("CHECKPOINT")
        except duckdb.Error:  # a reader still open elsewhere; close() checkpoints when it can
            log.debug("checkpoint at close skipped", exc_info=True)
        self._conn.close()

    def _run(self) -> None:
        cur = self._conn.cursor()
        while True:
            item = self._queue.get()
            if item is _STOP:
                cur.close()
                return
            work, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                cur.execute("BEGIN TRANSACTION")
                result = work(cur)
                cur.execute("COMMIT")
            except BaseException as exc:  # the transaction is void; report to the caller
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    log.debug("rollback after failed unit of work", exc_info=True)
                self._tell(committed=False)
                fut.set_exception(exc)
            else:
                self._tell(committed=True)
                fut.set_result(result)

    def _tell(self, *, committed: bool) -> None:
        for listener in self.outcome_listeners:
            try:
                listener(committed)
            except Exception:  # a listener's failure is its own; the unit's outcome stands
                log.exception("unit outcome listener %r failed", listener)


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every packaged migration, in order."""
    pkg = resources.files("retenta.storage.duckdb.migrations")
    found = []
    for entry in pkg.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def apply_migrations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
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
