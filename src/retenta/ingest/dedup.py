"""Exact ``messageId`` dedup per workspace that stays fast and small at 50M stored ids.

Three layers, checked in order, all inside the writer's unit of work:

1. ``FingerprintSet`` (``fingerprints.py``) — every committed ``(workspace_id,
   message_id)`` as the top 52 bits of its 64-bit hash, 4 bytes an id (~200 MB at 50M
   ids). A miss proves the id is new; a fresh id is taken for a stored one with
   probability ~stored / 2**52, so almost every event is decided with a few numpy
   operations per group and the table below is read only for retries.
2. ``RecentIds`` — the exact ids of the last ``recent_capacity`` stored events. Retries
   arrive seconds or minutes after the original, so a hit is usually decided here.
3. The ``message_ids`` table, for a hit that is not recent (an old retry): its rows with
   the same hash, found by a join with the hashes (a scan of the ``h`` column: no index,
   see migration 0048), compared exactly.

The hash (64 bits of MD5 over ``workspace_id ␟ message_id``) is computed in Python for a
group (no query), stored beside each id in ``message_ids.h`` (DuckDB's ``md5_number_lower``
gives the same value where it hashes), and read back, sorted, when the set is rebuilt at
start-up. The set lives in process memory only; the table is the truth.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, cast

import numpy as np
import pyarrow as pa

from retenta.ingest.fingerprints import FingerprintSet

Key = tuple[str, str]


class RecentIds:
    """The exact keys of the most recently stored events: at least the last ``capacity``
    of them, at most one ``add`` more. Keys are kept in the chunks they were added in and
    the oldest chunk is dropped whole (a set difference), so no per-key Python runs to
    evict them.

    >>> r = RecentIds(2); r.add([("w", "a"), ("w", "b")]); r.add([("w", "c")])
    >>> ("w", "a") in r, ("w", "b") in r, ("w", "c") in r
    (True, True, True)
    >>> r.add([("w", "d"), ("w", "c")]); ("w", "a") in r, ("w", "c") in r, ("w", "d") in r
    (False, True, True)
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._set: set[Key] = set()
        self._chunks: deque[list[Key]] = deque()
        self._held = 0  # keys in ``_chunks`` (a discarded key is still counted there)

    def __contains__(self, key: Key) -> bool:
        return key in self._set

    def add(self, keys: Iterable[Key]) -> None:
        s = self._set
        new = list(dict.fromkeys(keys))  # in order, each once
        if not s.isdisjoint(new):
            new = [k for k in new if k not in s]
        if not new:
            return
        s.update(new)
        self._chunks.append(new)
        self._held += len(new)
        while self._held - len(self._chunks[0]) >= self.capacity:
            oldest = self._chunks.popleft()
            self._held -= len(oldest)
            s.difference_update(oldest)

    def discard(self, keys: Iterable[Key]) -> None:
        self._set.difference_update(keys)


def key_hash(key: Key) -> int:
    """64 bits of MD5 over ``workspace_id ␟ message_id``; equal to the SQL in ``HASH_SQL``.

    >>> key_hash(("ws_1", "m-1"))
    13491382685925457878
    """
    digest = hashlib.md5(f"{key[0]}\x1f{key[1]}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "little")


# DuckDB's md5_number_lower is the little-endian value of the digest's last 8 bytes.
HASH_SQL = "md5_number_lower(workspace_id || chr(31) || message_id)"


def hash_keys(keys: Sequence[Key]) -> np.ndarray:
    """The dedup hash of each key, computed in Python (no query per group): ``key_hash``
    of every key, the digests' last 8 bytes read as little-endian words in one go.

    >>> hash_keys([("ws_1", "m-1"), ("ws_1", "m-2")]).tolist() == [
    ...     key_hash(("ws_1", "m-1")), key_hash(("ws_1", "m-2"))]
    True
    """
    md5 = _FAST_MD5
    digests = b"".join([md5(f"{w}\x1f{m}".encode()).digest() for w, m in keys])
    return np.frombuffer(digests, dtype="<u8")[1::2].astype(np.uint64)


def _fast_md5() -> Callable[[bytes], Any]:
    """CPython's own MD5 (``_md5``): for keys this short it costs about half of OpenSSL's
    (0.27 against 0.59 µs a key with the join, 2026-11-28), which sets up an EVP context for
    every object. The same digest; OpenSSL's where a build leaves ``_md5`` out."""
    try:
        return cast(Callable[[bytes], Any], importlib.import_module("_md5").md5)
    except ImportError:
        return partial(hashlib.md5, usedforsecurity=False)


_FAST_MD5 = _fast_md5()


class MessageIdDedup:
    """Decides which keys of a group are new; must only be used from the writer thread."""

    def __init__(self, *, recent_capacity: int = 200_000) -> None:
        self.stored: FingerprintSet | None = None
        self.recent = RecentIds(recent_capacity)
        self.exact_lookups = 0

    @staticmethod
    def set_bytes(stored: int) -> int:
        """The fingerprint set's memory with ``stored`` ids: 4 bytes each, 8 MB of buckets.

        >>> MessageIdDedup.set_bytes(50_000_000) // 1_000_000
        208
        """
        return stored * 4 + 8 * (1 << 20) + 8

    def ensure_loaded(self, conn: Any, *, memory_limit: str | None = None) -> None:
        """Build the set from the table's stored hashes once (at start-up, or on first use).

        The hashes are read in ranges of their value, each sorted in numpy and added in
        order, so the peak is the set plus one range (``LOAD_RANGE_IDS`` 64-bit values),
        not every hash at 8 bytes or a DuckDB sort (which kept ~300 MB of its buffers at
        20M ids). With ``memory_limit`` (the database's configured limit, given by the
        server at start-up, before it takes requests: the setting is global), DuckDB's pool
        is held to ``LOAD_MEMORY_LIMIT`` while the column is read and restored afterwards:
        the 50M hashes' blocks (~400 MB) otherwise stay cached in a server whose memory
        bound is 1.5 GB. If the load fails, the transaction is aborted and no statement can
        restore the limit here: the caller sets it again in a transaction of its own."""
        if self.stored is not None:
            return
        ((stored,),) = conn.execute("SELECT count(*) FROM message_ids").fetchall()
        lean = memory_limit is not None and stored >= LOAD_RANGE_IDS
        if lean:
            conn.execute("SET memory_limit = ?", [LOAD_MEMORY_LIMIT])
        hashes = _hashes_in_order(conn, int(stored))
        self.stored = FingerprintSet.from_sorted(hashes, int(stored))
        if lean:
            conn.execute("SET memory_limit = ?", [memory_limit])

    def fresh_mask(self, conn: Any, keys: Sequence[Key], hashes: np.ndarray) -> list[bool]:
        """True for each key stored neither before nor earlier in this same group."""
        self.ensure_loaded(conn)
        assert self.stored is not None
        hits = self.stored.contains(hashes)
        if not hits.any() and len(set(keys)) == len(keys):
            return [True] * len(keys)  # the common case: all new, none repeated in the group
        maybe = hits.tolist()
        unsure = {k for k, hit in zip(keys, maybe, strict=True) if hit and k not in self.recent}
        stored = self._stored(conn, unsure) if unsure else set()
        seen: set[Key] = set()
        out: list[bool] = []
        for key, hit in zip(keys, maybe, strict=True):
            new = key not in seen and not (hit and (key in stored or key in self.recent))
            seen.add(key)
            out.append(new)
        return out

    def _stored(self, conn: Any, keys: set[Key]) -> set[Key]:
        """The keys present in ``message_ids``: its rows with the keys' hashes (one join, a
        scan of ``h``: ~47 ms at 10M ids, paid only by old retries), compared exactly."""
        self.exact_lookups += len(keys)
        wanted = sorted(keys)
        _dedup_probe = pa.table({"h": pa.array(hash_keys(wanted), pa.uint64())})  # read by SQL
        rows = conn.execute(
            "SELECT m.workspace_id, m.message_id FROM message_ids AS m"
            " JOIN _dedup_probe AS p ON m.h = p.h"
        ).fetchall()
        return {(w, m) for w, m in rows} & keys

    def remember(self, keys: Sequence[Key], hashes: np.ndarray) -> None:
        """Record keys written by the current unit (call last, just before COMMIT)."""
        assert self.stored is not None
        self.stored.add(hashes)
        self.recent.add(keys)

    def forget(self, keys: Sequence[Key]) -> None:
        """Undo ``remember`` for a unit that failed to commit (the set only over-reports)."""
        self.recent.discard(keys)


LOAD_RANGE_IDS = 4_000_000
LOAD_BATCH_ROWS = 500_000
# DuckDB's pool while the start-up load streams the column: what it fills is cached blocks
# it can drop (at 50M ids, 61 of 64 MB; 122 of 128), since no slice is materialised whole.
LOAD_MEMORY_LIMIT = "64MB"


def _hashes_in_order(conn: Any, stored: int) -> Iterator[np.ndarray]:
    """Every stored hash, ascending: ``ranges`` scans of the column, each a slice of the
    64-bit space holding ~``LOAD_RANGE_IDS`` hashes (they are uniform)."""
    ranges = max(1, -(-stored // LOAD_RANGE_IDS))
    bounds = [(1 << 64) * i // ranges for i in range(ranges)]
    for i, low in enumerate(bounds):
        if i + 1 < len(bounds):
            sql, params = "SELECT h FROM message_ids WHERE h >= ? AND h < ?", [low, bounds[i + 1]]
        else:
            sql, params = "SELECT h FROM message_ids WHERE h >= ?", [low]
        reader = conn.sql(sql, params=params).to_arrow_reader(LOAD_BATCH_ROWS)  # streamed
        parts = [b.column(0).to_numpy().astype(np.uint64, copy=False) for b in reader]
        yield np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def insert_keys(conn: Any, keys: pa.Table, hashes: np.ndarray | None = None) -> None:
    """Record stored ids: ``keys`` (workspace_id, message_id) with their ``hash_keys``, or,
    without ``hashes``, hashed by DuckDB (``HASH_SQL``, the same value)."""
    if keys.num_rows == 0:
        return
    if hashes is None:
        _ingest_keys = keys.select(["workspace_id", "message_id"])  # read by the SQL
        conn.execute(
            "INSERT INTO message_ids (workspace_id, message_id, h)"
            f" SELECT workspace_id, message_id, {HASH_SQL} FROM _ingest_keys"
        )
        return
    _ingest_keys = keys.append_column("h", pa.array(hashes, pa.uint64()))  # read by the SQL
    conn.execute(
        "INSERT INTO message_ids (workspace_id, message_id, h)"
        " SELECT workspace_id, message_id, h FROM _ingest_keys"
    )
