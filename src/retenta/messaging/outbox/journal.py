"""The durable hand-over log: an append-only, fdatasync'd file of "about to hand over" records.

Each record is one line ``<send_id> <attempt>\\n``. A group of records is written with one
``write`` and made durable with one ``fdatasync`` (~0.15 ms on this machine) before any of
their messages goes on the wire. That is the guarantee the DuckDB ``send_handovers`` row gave
(a writer unit, ~1.1 ms, queued behind claims, settles and campaign enqueues), at a fraction
of the cost and off the single writer.

The file is a journal, not the record of truth for reading: :meth:`HandoverJournal.rotate`
closes the current segment and opens a new one, and the ledger copies closed segments into
``send_handovers`` (one Arrow insert) before it looks for orphans, then deletes them
(``SendLedger.absorb_journal``). A crash between the copy and the delete copies a segment
twice, which changes nothing (the lookup is ``EXISTS``).

A line torn by a crash (no newline yet) was never acknowledged, so no message went out for
it: :func:`parse` skips it. Every process opens a fresh segment, so a torn line can only be
a segment's last.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)
SEGMENT = re.compile(r"handover-\d{20}-\d+\.log")
_LINE = re.compile(rb"(snd_[a-z0-9]+) (\d+)")


def encode(items: Sequence[tuple[str, int]]) -> bytes:
    """One group of records as the bytes appended.

    >>> encode([("snd_a1", 1), ("snd_b2", 3)])
    b'snd_a1 1\\nsnd_b2 3\\n'
    """
    return "".join(f"{send_id} {attempt}\n" for send_id, attempt in items).encode()


def parse(data: bytes) -> list[tuple[str, int]]:
    """The complete records of a segment; a torn last line (no newline) is not one.

    >>> parse(b"snd_a1 1\\nsnd_b2 3\\nsnd_c")
    [('snd_a1', 1), ('snd_b2', 3)]
    """
    lines = data.split(b"\n")[:-1]  # whatever follows the last newline was never committed
    out = []
    for line in lines:
        match = _LINE.fullmatch(line)
        if match:
            out.append((match.group(1).decode(), int(match.group(2))))
    return out


HANDOVERS = pa.schema([("send_id", pa.string()), ("attempt", pa.int32())])
SMALL = 256  # up to this many records go in one VALUES statement


def insert_handovers(conn: Any, records: Sequence[tuple[str, int]], at: datetime) -> None:
    """Writer-side: records into ``send_handovers`` (the journal's copy, or the records
    themselves where a ledger has no journal)."""
    if len(records) <= SMALL:
        # One VALUES statement: registering an Arrow table costs ~4 ms a unit.
        rows = ", ".join(["(?, ?, ?)"] * len(records))
        params = [value for send_id, attempt in records for value in (send_id, attempt, at)]
        conn.execute(f'INSERT INTO send_handovers (send_id, attempt, "at") VALUES {rows}', params)
        return
    table = pa.table(
        {"send_id": [s for s, _ in records], "attempt": [a for _, a in records]},
        schema=HANDOVERS,
    )
    conn.register("_handovers", table)
    try:
        conn.execute(
            'INSERT INTO send_handovers (send_id, attempt, "at")'
            " SELECT send_id, attempt, ? FROM _handovers",
            [at],
        )
    finally:
        conn.unregister("_handovers")


def run_all(callbacks: Sequence[Callable[[], None]]) -> None:
    """Each callback once; one that raises is logged and does not stop the others."""
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("a hand-over callback failed")


class HandoverJournal:
    """Segments ``handover-<ns>-<pid>.log`` in ``directory``; one is open for appending."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = -1
        self._current: Path | None = None
        self.syncs = 0  # fdatasync calls so far (benchmarks)
        self.records = 0
        # its own thread: a mark never queues behind the default executor's other work
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="retenta-handover")
        self._open_segment()

    async def commit(
        self, items: Sequence[tuple[str, int]], after: Sequence[Callable[[], None]] = ()
    ) -> None:
        """:meth:`append` on the journal's own thread, then each of ``after`` on that thread
        at once; returns once the records are durable."""

        def durable_then() -> None:
            self.append(items)
            run_all(after)

        await asyncio.get_running_loop().run_in_executor(self._thread, durable_then)

    def append(self, items: Sequence[tuple[str, int]]) -> None:
        """Write the records and make them durable (blocking: call it from a thread)."""
        data = encode(items)
        with self._lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
            self.syncs += 1
            self.records += len(items)

    def rotate(self) -> list[Path]:
        """Close the open segment, open a new one; every closed segment, oldest first."""
        with self._lock:
            self._close_segment()
            self._open_segment()
            current = self._current
        return [p for p in self.segments() if p != current]

    def segments(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if SEGMENT.fullmatch(p.name))

    @staticmethod
    def read(paths: Sequence[Path]) -> list[tuple[str, int]]:
        return [record for path in paths for record in parse(path.read_bytes())]

    def discard(self, paths: Sequence[Path]) -> None:
        """Delete segments whose records are in the database now."""
        for path in paths:
            path.unlink(missing_ok=True)
        self._sync_directory()

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        with self._lock:
            self._close_segment()

    def _open_segment(self) -> None:
        name = f"handover-{time.time_ns():020d}-{os.getpid()}.log"
        self._current = self.directory / name
        self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sync_directory()  # the new file's name is durable before a record is in it

    def _close_segment(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
