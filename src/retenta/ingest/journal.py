"""The intake journal: requests acknowledged once they are on disk, applied after.

With ``ingest_acknowledge = "journal"`` a ``/v1`` request is answered as soon as its
prepared unit (``wire.encode_unit``: messages, dead letters, dedup hashes, Arrow columns) is
written here and ``fdatasync``'d, one sync for all the units the event loop gathered
meanwhile; the writer resolves, stores and applies it behind the answer, and records in the
same transaction the last record it has applied (``ingest_journal.applied_seq``, migration
0051). At start every record after that one is applied again before the server takes a
request; exact ``messageId`` dedup keeps a record applied twice from storing anything twice.

A record is ``<u32 length><u64 seq><u32 crc32>`` and its payload. Segments are named by
their first record's seq; a new one starts past ``segment_bytes``, and one whose records are
all applied is deleted. A record cut short or not matching its checksum ends the scan: it
was being written when the process died, so it was never acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORD = struct.Struct("<IQI")
SEGMENT_BYTES = 64 * 1024 * 1024
# A segment whose records are all applied is closed and deleted once it is this old, even
# if it is small: the journal holds raw events (personal data) only as long as it must.
ROLL_AFTER_S = 60.0
MARK = "replaying"  # ``<seq> <crashes>`` while a start applies the journal (``read_mark``)
MAX_RECORD_BYTES = 256 * 1024 * 1024


class IntakeJournal:
    """Append-only segments ``journal-<first seq>.log`` in ``directory``."""

    def __init__(self, directory: Path | str, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.next_seq = 1
        self.syncs = 0
        self._fd = -1
        self._size = 0
        self._segments: list[tuple[int, Path]] = []  # (first seq, path), oldest first
        self._segments_lock = threading.Lock()  # the loop releases, the journal's thread rolls
        self._broken = False  # a write failed: the next one starts a new segment
        self._last_written = 0  # the last seq written to the open segment
        self._opened_at = 0.0
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="retenta-intake-journal")

    # -- start --------------------------------------------------------------------------

    def open(self, applied: int) -> list[StoredRecord]:
        """Scan the segments: where the intact records after ``applied`` are (in order), to
        apply again; each is read when it is applied (``StoredRecord.read``), so a start
        after a long outage holds one group of them at a time, not the whole journal. A
        torn tail is cut off; appends then go to a new segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found: list[StoredRecord] = []
        last = applied
        for first, path in _segments(self.directory):
            with self._segments_lock:
                self._segments.append((first, path))
            for record in _records(path):
                last = max(last, record.seq)
                if record.seq > applied:
                    found.append(record)
        self.next_seq = last + 1
        self._last_written = last
        self._start_segment()
        return found

    # -- the replay's mark: which record a start was applying when it died -------------

    def read_mark(self) -> tuple[int, int] | None:
        """``(seq, crashes)`` a previous start left while applying, or None."""
        try:
            seq, crashes = (self.directory / MARK).read_text().split()
            return int(seq), int(crashes)
        except (FileNotFoundError, ValueError):
            return None

    def write_mark(self, seq: int, crashes: int) -> None:
        """Record (durably) that record ``seq`` is being applied, ``crashes`` deaths on."""
        path = self.directory / MARK
        fresh = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{seq} {crashes}".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if fresh:
            _sync_directory(self.directory)

    def clear_mark(self) -> None:
        (self.directory / MARK).unlink(missing_ok=True)

    # -- appends (the event loop assigns seqs; the journal's thread writes) -------------

    def reserve(self, count: int) -> list[int]:
        """Seqs for the next ``count`` records, in order."""
        first = self.next_seq
        self.next_seq += count
        return list(range(first, first + count))

    async def append(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Write ``(seq, payload)`` records and make them durable (one ``fdatasync``)."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self.write, records)

    def write(self, records: Sequence[tuple[int, bytes]]) -> None:
        """``append``, blocking (from the journal's thread, or at start)."""
        if not records:
            return
        if self._fd < 0:
            raise RuntimeError("the intake journal is not open")
        if self._size >= self.segment_bytes or self._broken:
            os.close(self._fd)
            self._fd = -1
            self._start_segment(records[0][0])
        data = b"".join(RECORD.pack(len(p), seq, zlib.crc32(p)) + p for seq, p in records)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
            self._last_written = max(self._last_written, records[-1][0])
        except OSError:
            # Part of it may be on disk, and after a failed sync nobody knows what is: the
            # next write starts a new segment, so a record written after it is never behind
            # a torn one (the scan of a segment stops at the first bad record).
            self._broken = True
            raise
        self._size += len(data)
        self.syncs += 1

    def run_sync_barrier(self) -> None:
        """Wait for what the journal's thread was given so far (a roll-over, tests)."""
        self._thread.submit(lambda: None).result()

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the journal's thread (the encoding of what it is about to write)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- clean-up -----------------------------------------------------------------------

    def release(self, applied: int) -> int:
        """Delete the segments whose records are all applied; the open one, when all of its
        are and it is ``ROLL_AFTER_S`` old, is closed first (on the journal's thread, between
        writes). How many closed segments went."""
        gone = 0
        with self._segments_lock:
            while len(self._segments) > 1 and self._segments[1][0] <= applied + 1:
                _, path = self._segments.pop(0)
                path.unlink(missing_ok=True)
                gone += 1
        old_enough = time.monotonic() - self._opened_at >= ROLL_AFTER_S  # not a task a unit
        if self._fd >= 0 and self._size > 0 and old_enough:
            self._thread.submit(self._roll_if_applied, applied)
        return gone

    @property
    def open_segment_bytes(self) -> int:
        """Bytes in the segment appends go to (0: nothing written since it was opened)."""
        return self._size

    def close(self, applied: int | None = None) -> None:
        """Close the open segment; with ``applied`` covering every record written, delete
        the segments too (a clean stop leaves no raw events behind)."""
        self._thread.shutdown(wait=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if applied is not None and self._last_written <= applied:
            with self._segments_lock:
                for _, path in self._segments:
                    path.unlink(missing_ok=True)
                self._segments.clear()

    def _roll_if_applied(self, applied: int) -> None:
        if self._fd < 0 or self._size == 0 or self._last_written > applied:
            return
        if time.monotonic() - self._opened_at < ROLL_AFTER_S:
            return
        try:
            os.close(self._fd)
            self._fd = -1
            self._start_segment(self._last_written + 1)
            with self._segments_lock:
                done = [s for s in self._segments[:-1] if s[0] <= applied + 1]
                for item in done:
                    self._segments.remove(item)
                    item[1].unlink(missing_ok=True)
        except OSError:
            log.exception("could not roll the intake journal's segment over")

    def _start_segment(self, first: int | None = None) -> None:
        first = self.next_seq if first is None else first
        path = self.directory / f"journal-{first:020d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._broken = False
        self._opened_at = time.monotonic()
        with self._segments_lock:
            if not self._segments or self._segments[-1][1] != path:
                self._segments.append((first, path))
        _sync_directory(self.directory)


def _segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob("journal-*.log"):
        try:
            found.append((int(path.stem.removeprefix("journal-")), path))
        except ValueError:
            log.warning("not an intake journal segment: %s", path)
    return sorted(found)


@dataclass(frozen=True)
class StoredRecord:
    """Where an intact record's payload is in its segment."""

    seq: int
    path: Path
    offset: int
    size: int

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            payload = f.read(self.size)
        if len(payload) != self.size:
            raise OSError(f"intake journal {self.path.name}: record #{self.seq} is cut short")
        return payload


def _records(path: Path) -> list[StoredRecord]:
    """The intact records of a segment; a torn or corrupt tail is cut off the file."""
    data = path.read_bytes()
    out: list[StoredRecord] = []
    at = 0
    while at + RECORD.size <= len(data):
        size, seq, crc = RECORD.unpack_from(data, at)
        end = at + RECORD.size + size
        if size > MAX_RECORD_BYTES or end > len(data):
            break
        if zlib.crc32(memoryview(data)[at + RECORD.size : end]) != crc:
            break
        out.append(StoredRecord(seq, path, at + RECORD.size, size))
        at = end
    if at < len(data):
        log.warning("intake journal %s: %d bytes of a record never acknowledged cut off",
                    path.name, len(data) - at)  # fmt: skip
        with open(path, "r+b") as f:
            f.truncate(at)
            os.fsync(f.fileno())
    return out


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


CAUGHT_UP_MAX_S = 5.0  # how long a read waits for what was answered before it, at most


class Thresholds:
    """Reads waiting for a count that only grows (a seq, a number applied) to reach theirs."""

    def __init__(self) -> None:
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def reached(self, target: int, timeout_s: float) -> bool:
        """Wait until ``release`` passes ``target``; False after ``timeout_s``."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((target, waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), max(timeout_s, 0.0))
        except TimeoutError:
            return False
        return True

    def release(self, count: int) -> None:
        """The count is now ``count``: the reads waiting for it or less go on."""
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        for target, waiter in waiting:
            if target > count:
                self._waiting.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)


class JournalProgress:
    """Which records were answered from the journal and how far the writer has committed
    them (the event loop's bookkeeping; reads wait on it in ``caught_up``)."""

    def __init__(self) -> None:
        self.answered_seq = 0  # the last record whose requests were answered from it
        self.committed_seq = 0  # the last record the writer has committed (or set aside)
        self.answered_requests = 0
        self.held = False  # a journaled request could be neither stored nor set aside
        self._reads = Thresholds()  # waiting for ``committed_seq``

    @property
    def unapplied(self) -> int:
        """Records answered and not yet committed."""
        return max(self.answered_seq - self.committed_seq, 0)

    def answered(self, seq: int, requests: int) -> None:
        self.answered_seq = max(self.answered_seq, seq)
        self.answered_requests += requests

    def committed_through(self, seq: int) -> None:
        """Records up to ``seq`` are committed: the reads waiting for them go on."""
        if seq <= self.committed_seq:
            return
        self.committed_seq = seq
        self._reads.release(seq)

    async def caught_up(self) -> None:
        """Return once every record answered so far is committed (``CAUGHT_UP_MAX_S`` at
        the most: a read then goes on without what is still behind)."""
        target = self.answered_seq
        if target <= self.committed_seq:
            return
        if not await self._reads.reached(target, CAUGHT_UP_MAX_S):
            log.warning("a read waited %.0f s for journaled events; reading without them",
                        CAUGHT_UP_MAX_S)  # fmt: skip


def read_applied(conn: Any) -> int:
    """The last journal record the store has applied."""
    row = conn.execute("SELECT applied_seq FROM ingest_journal").fetchone()
    return int(row[0]) if row else 0


def mark_applied(conn: Any, seq: int) -> None:
    """In the unit that applied it: record ``seq`` as applied (never moves back)."""
    conn.execute(
        "UPDATE ingest_journal SET applied_seq = greatest(applied_seq, $seq)", {"seq": seq}
    )
