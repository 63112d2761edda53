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

**Pending records and their confirmation** (SMTP's final ``.``; docs/messaging-sends.md,
"Crash safety"). A mark whose hand-over is one write that follows it (``then``) is recorded
as *pending* (``<send_id> <attempt> ?``) and made durable with the group; right before its
``then`` runs, on the same thread and without releasing the GIL, a *confirmation*
(``<send_id> <attempt> !``) is appended (page cache, no ``fdatasync``). A SIGKILL never
loses what is in the page cache; a power loss may. So, read back:

- a plain or confirmed record is a hand-over;
- a pending record without its confirmation, from a segment written **since this boot**
  (its ``# boot`` line is this machine's ``boot_id``), is not: the process died between the
  ``fdatasync`` and the write that hands the message over (the ``fdatasync`` itself, the
  wait for the GIL after it, the group's earlier ``.``), so the provider never had it and
  the send goes out again;
- the same from an earlier boot (or with no ``# boot`` line) is a hand-over: the
  confirmation may have been in a page cache that was lost, so "never twice" decides.

What remains is the gap between the confirmation's ``write`` and the ``.``'s, a few
microseconds of one thread with the GIL held: a kill inside it loses that message.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from retenta.messaging.channels.smtp_data import trace

log = logging.getLogger(__name__)
SEGMENT = re.compile(r"handover-\d{20}-\d+\.log")
_LINE = re.compile(rb"(snd_[a-z0-9]+) (\d+)(?: ([?!]))?")
_BOOT = re.compile(rb"# boot ([0-9a-f-]+)")
Record = tuple[str, int]
Then = Callable[[], None]
Pending = tuple[Sequence[Record], Then]  # records handed over by the write ``then`` makes


@runtime_checkable
class FinalWrite(Protocol):
    """A ``then`` that is one write to a descriptor (SMTP's final ``.``,
    ``channels/smtp_data.FinalDot``): the journal's thread makes that write itself, with
    libc's ``write`` right after the confirmation's, so the window between the two is two
    ctypes calls, not a Python call chain (a thread descheduled in between on a loaded
    machine widens it by milliseconds, so its length is what counts)."""

    def __call__(self) -> None: ...

    def claim(self) -> tuple[int, bytes]:
        """The descriptor and the bytes (-1: not this way, -2: do not confirm); locked until
        :meth:`wrote`."""
        ...

    def wrote(self, written: int) -> None:
        """What went out (-1: the confirmation failed, nothing may complete the message)."""
        ...


# libc's write(2) called with the GIL held (ctypes.PyDLL): nothing may run between a
# confirmation and the "." that follows it (os.write would let the GIL go after the write)
_LIBC = ctypes.PyDLL(None, use_errno=True)
_write = _LIBC.write
_write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
_write.restype = ctypes.c_ssize_t
# Given up before a group's confirmations: the thread comes back on a fresh time slice, so
# it is seldom descheduled between a confirmation and its "." (on a loaded machine that,
# not the 2 us of code, was most of the window: mean 3.9-7.3 -> 2.4-3.1 us a message).
_YIELD: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


def boot_id() -> str:
    """This machine's boot: the page cache outlives a process, never a boot ("" where the
    kernel does not say, which makes every pending record count as a hand-over)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def encode(items: Sequence[Record], mark: str = "") -> bytes:
    """One group of records as the bytes appended (``mark``: "?" pending, "!" confirmed).

    >>> encode([("snd_a1", 1), ("snd_b2", 3)]), encode([("snd_c3", 1)], "?")
    (b'snd_a1 1\\nsnd_b2 3\\n', b'snd_c3 1 ?\\n')
    """
    end = f" {mark}\n" if mark else "\n"
    return "".join(f"{send_id} {attempt}{end}" for send_id, attempt in items).encode()


def parse(data: bytes, boot: str | None = None) -> list[Record]:
    """The hand-overs a segment records; a torn last line (no newline) is not one. A pending
    record (``?``) counts only with its confirmation (``!``), unless the segment was written
    before this boot (``boot``: this machine's; None takes every pending one).

    >>> parse(b"snd_a1 1\\nsnd_b2 3\\nsnd_c")
    [('snd_a1', 1), ('snd_b2', 3)]
    >>> segment = b"# boot b1\\nsnd_a1 1 ?\\nsnd_b2 1 ?\\nsnd_a1 1 !\\nsnd_c3 2\\n"
    >>> parse(segment, "b1"), parse(segment, "b2")
    ([('snd_a1', 1), ('snd_c3', 2)], [('snd_a1', 1), ('snd_b2', 1), ('snd_c3', 2)])
    """
    lines = data.split(b"\n")[:-1]  # whatever follows the last newline was never committed
    written = None
    if lines and (header := _BOOT.fullmatch(lines[0])):
        written = header.group(1).decode()
    take_pending = boot is None or not boot or written != boot
    out: dict[Record, None] = {}  # in order, once each
    for line in lines:
        match = _LINE.fullmatch(line)
        if match and (match.group(3) != b"?" or take_pending):
            out[(match.group(1).decode(), int(match.group(2)))] = None
    return list(out)


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
        self.boot = boot_id()
        # its own thread: a mark never queues behind the default executor's other work
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="retenta-handover")
        self._open_segment()

    async def commit(self, items: Sequence[Record], after: Sequence[Pending] = ()) -> None:
        """On the journal's own thread: ``items`` and the pending records of ``after`` made
        durable together (:meth:`append`), then for each of ``after`` its confirmation and its
        ``then`` at once; returns once the records are durable."""

        def durable_then() -> None:
            self.append(items, [record for records, _ in after for record in records])
            trace(f"S {len(after)} {','.join(r[0][0] for r, _ in after)}")
            self.confirm_then(after)

        await asyncio.get_running_loop().run_in_executor(self._thread, durable_then)

    def append(self, items: Sequence[Record], pending: Sequence[Record] = ()) -> None:
        """Write the records (``pending`` ones marked so) and make them durable (blocking:
        call it from a thread)."""
        data = encode(items) + encode(pending, "?")
        with self._lock:
            self._write_all(data)
            fd = os.dup(self._fd)  # rotate() may close the segment meanwhile
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
        self.syncs += 1
        self.records += len(items) + len(pending)

    def confirm_then(self, after: Sequence[Pending]) -> None:
        """For each: its confirmation appended, then its ``then`` at once, the GIL held from
        the confirmation's ``write`` to the ``then`` (a kill in between loses that message:
        the window that remains). A :class:`FinalWrite` is written here, by the next ctypes
        call. The cyclic GC is off meanwhile (a collection could start between the two). A
        confirmation not written whole is not one, and its ``then`` is not run (the session
        then leaves its message unfinished)."""
        lines = [encode(records, "!") for records, _ in after]  # before the window opens
        finals = [then if isinstance(then, FinalWrite) else None for _, then in after]
        if any(finals):  # start the windows on a fresh time slice (see _YIELD)
            _YIELD()
        collecting = gc.isenabled()
        gc.disable()
        try:
            with self._lock:
                fd = self._fd
                for line, (_, then), final in zip(lines, after, finals, strict=True):
                    if final is not None:
                        self._confirm_and_write(fd, line, final)
                        continue
                    if self._confirm(fd, line):
                        try:
                            then()
                        except Exception:
                            log.exception("a hand-over callback failed")
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _confirm_and_write(fd: int, line: bytes, final: FinalWrite) -> None:
        target, data = final.claim()
        result = -1  # not confirmed
        try:
            if target == -2:  # its session gave up: no hand-over
                pass
            elif _write(fd, line, len(line)) == len(line):
                result = max(_write(target, data, len(data)), 0) if target >= 0 else 0
            else:
                log.error("a hand-over confirmation was not written: %s", line)
                _write(fd, b"\n", 1)  # end a torn line (it would swallow the next record)
        finally:
            final.wrote(result)

    @staticmethod
    def _confirm(fd: int, line: bytes) -> bool:
        written = _write(fd, line, len(line))
        if written == len(line):
            return True
        log.error("a hand-over confirmation was not written: %s", line)
        if written > 0:  # disk full: end a torn line (it would swallow the next record)
            _write(fd, b"\n", 1)
        return False

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def rotate(self) -> list[Path]:
        """Close the open segment, open a new one; every closed segment, oldest first."""
        with self._lock:
            self._close_segment()
            self._open_segment()
            current = self._current
        return [p for p in self.segments() if p != current]

    def segments(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if SEGMENT.fullmatch(p.name))

    def read(self, paths: Sequence[Path]) -> list[Record]:
        """The hand-overs these segments record (:func:`parse`, against this boot)."""
        records: dict[Record, None] = {}
        for path in paths:
            records.update(dict.fromkeys(parse(path.read_bytes(), self.boot)))
        return list(records)

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
        if self.boot:  # which page cache its confirmations were in (synced with the 1st group)
            self._write_all(f"# boot {self.boot}\n".encode())
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
