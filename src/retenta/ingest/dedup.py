"""Exact ``messageId`` dedup per workspace that stays fast and small at 50M stored ids.

Three layers, checked in order, all inside the writer's unit of work:

1. ``BlockedBloom`` — every committed ``(workspace_id, message_id)`` as one 64-bit hash
   in a blocked Bloom filter (one 64-bit word per id, 8 bits set in it; 16 bits per id:
   ~125 MB at 62M ids). A miss proves the id is new, so almost every fresh event is
   decided with a few numpy operations per group.
2. ``RecentIds`` — the exact ids of the last ``recent_capacity`` stored events. Retries
   arrive seconds or minutes after the original, so a filter hit is usually decided here.
3. The ``message_ids`` table, probed by the same hash (a single-column ART index,
   migration 0047) for a filter hit that is not recent: either an old retry or a false
   positive (~0.1-0.4% of fresh ids). The rows found are compared exactly.

The hash (64 bits of MD5 over ``workspace_id ␟ message_id``) is computed in Python for a
group (no query), stored beside each id in ``message_ids.h`` (DuckDB's ``md5_number_lower``
gives the same value where it hashes), and read back when the filter is rebuilt at
start-up. The filter lives in process memory only; the table is the truth.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, cast

import numpy as np
import pyarrow as pa

BITS_PER_ID = 16
MIN_CAPACITY = 1 << 20
# Hashes per probe of ``message_ids``' index: an IN list of literals is one index probe a
# value (20 in ~2.5 ms, 1,000 in ~27 ms at 10M ids, where a scan of the table took 61 ms).
PROBE_CHUNK = 1_000
_MIX = np.uint64(0x9E3779B97F4A7C15)

Key = tuple[str, str]


class BlockedBloom:
    """A blocked Bloom filter over 64-bit hashes; no false negatives, few false positives.

    >>> f = BlockedBloom(capacity=1000)
    >>> h = np.array([1, 2, 3], dtype=np.uint64)
    >>> f.add(h[:2]); f.contains(h).tolist()
    [True, True, False]
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 64)
        self.words = np.zeros(max(self.capacity * BITS_PER_ID // 64, 1), dtype=np.uint64)
        self.count = 0

    def _slots(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = hashes % np.uint64(len(self.words))
        mixed = (hashes * _MIX) >> np.uint64(16)
        mask = np.zeros(len(hashes), dtype=np.uint64)
        for j in range(8):
            bit = (mixed >> np.uint64(6 * j)) & np.uint64(63)
            mask |= np.uint64(1) << bit
        return index, mask

    def add(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        index, mask = self._slots(hashes)
        # OR the masks of equal indexes together first (sort + reduceat): ~20x faster
        # than np.bitwise_or.at, which matters when 50M ids are loaded at start-up.
        order = np.argsort(index, kind="stable")
        index, mask = index[order], mask[order]
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        self.words[index[starts]] |= np.bitwise_or.reduceat(mask, starts)
        self.count += len(hashes)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        index, mask = self._slots(hashes)
        return np.asarray((self.words[index] & mask) == mask)

    @property
    def full(self) -> bool:
        return self.count > self.capacity

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)


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
    """The filter hash of each key, computed in Python (no query per group): ``key_hash``
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


class FilterChain:
    """Blocked Bloom filters that grow without a rebuild: when the newest is full, a new one
    (half the ids so far, at least 1M) takes the adds; a key may be in any of them.

    >>> chain = FilterChain(BlockedBloom(64))
    >>> chain.add(np.arange(100, dtype=np.uint64)); chain.add(np.arange(100, 110, dtype=np.uint64))
    >>> len(chain.filters)
    2
    >>> bool(chain.contains(np.array([5], dtype=np.uint64))[0])
    True
    """

    def __init__(self, first: BlockedBloom) -> None:
        self.filters = [first]

    @property
    def count(self) -> int:
        return sum(f.count for f in self.filters)

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f in self.filters)

    def add(self, hashes: np.ndarray) -> None:
        if self.filters[-1].full:
            self.filters.append(BlockedBloom(max(MIN_CAPACITY, self.count // 2)))
        self.filters[-1].add(hashes)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        hit = self.filters[0].contains(hashes)
        for f in self.filters[1:]:
            hit |= f.contains(hashes)
        return hit


class MessageIdDedup:
    """Decides which keys of a group are new; must only be used from the writer thread."""

    def __init__(self, *, recent_capacity: int = 200_000) -> None:
        self.bloom: FilterChain | None = None
        self.recent = RecentIds(recent_capacity)
        self.exact_lookups = 0

    @staticmethod
    def capacity_for(stored: int) -> int:
        """Room for the ids stored now plus 25% (at least 1M) before the chain grows."""
        return max(MIN_CAPACITY, stored + max(stored // 4, MIN_CAPACITY))

    @staticmethod
    def filter_bytes(stored: int) -> int:
        """The filter's memory with ``stored`` ids (16 bits per id of capacity).

        >>> MessageIdDedup.filter_bytes(50_000_000) // 1_000_000
        125
        """
        return MessageIdDedup.capacity_for(stored) * BITS_PER_ID // 8

    def ensure_loaded(self, conn: Any) -> None:
        """Build the filter from the table's stored hashes once (at start-up, or on first
        use): a column read, where hashing every id again ran at ~1.3M ids/s."""
        if self.bloom is not None:
            return
        ((stored,),) = conn.execute("SELECT count(*) FROM message_ids").fetchall()
        bloom = BlockedBloom(self.capacity_for(stored))
        reader = conn.sql("SELECT h FROM message_ids").to_arrow_reader(1_000_000)
        for batch in reader:
            bloom.add(batch.column(0).to_numpy().astype(np.uint64, copy=False))
        self.bloom = FilterChain(bloom)

    def fresh_mask(self, conn: Any, keys: Sequence[Key], hashes: np.ndarray) -> list[bool]:
        """True for each key stored neither before nor earlier in this same group."""
        self.ensure_loaded(conn)
        assert self.bloom is not None
        hits = self.bloom.contains(hashes)
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
        """The keys present in ``message_ids``: its rows with the keys' hashes (index probes,
        ``PROBE_CHUNK`` a statement), compared exactly."""
        self.exact_lookups += len(keys)
        wanted = sorted(keys)
        hashes = hash_keys(wanted).tolist()
        found: set[Key] = set()
        for at in range(0, len(hashes), PROBE_CHUNK):
            # integers from numpy, so the literals are safe; literals let DuckDB probe the index
            literals = ",".join(map(str, hashes[at : at + PROBE_CHUNK]))
            rows = conn.execute(
                f"SELECT workspace_id, message_id FROM message_ids WHERE h IN ({literals})"
            ).fetchall()
            found.update((w, m) for w, m in rows)
        return found & keys

    def remember(self, keys: Sequence[Key], hashes: np.ndarray) -> None:
        """Record keys written by the current unit (call last, just before COMMIT)."""
        assert self.bloom is not None
        self.bloom.add(hashes)
        self.recent.add(keys)

    def forget(self, keys: Sequence[Key]) -> None:
        """Undo ``remember`` for a unit that failed to commit (the filter only over-reports)."""
        self.recent.discard(keys)


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
