"""Every stored id's 52-bit fingerprint, in memory: the dedup's first check (``dedup.py``).

Why not a Bloom filter: at 16 bits an id it answered "maybe" for ~0.1-0.4% of fresh ids,
and each of those had to be settled in ``message_ids``; cheap settling needed an ART index
there, and DuckDB rewrote the index's dirty buffers at every checkpoint (5,000 random ids
dirty nearly all of them: 70 ms a checkpoint at 2M ids, 329 ms at 10M) and kept it resident
(+~300 MB at 10M). Here each id costs 4 bytes (a 20-bit bucket chosen by the hash, a 32-bit
remainder sorted within it), so a fresh id is mistaken for a stored one with probability
about stored / 2**52 (~1e-8 at 50M ids) and the table is read only for real old retries.

Layout: ``rems`` holds the remainders bucket after bucket, ``starts[b]:starts[b + 1]`` is
bucket ``b``'s slice, sorted; ``delta`` is a sorted array of whole fingerprints added since
the last merge. A lookup is a binary search done for all keys at once (numpy), an add is a
sorted insert into ``delta``, and ``delta`` is merged into the buckets once it holds
``merge_at`` fingerprints (one pass over ``rems``: ~4 bytes copied an id stored).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BUCKET_BITS = 20
REM_BITS = 32
FINGERPRINT_BITS = BUCKET_BITS + REM_BITS
SHIFT = np.uint64(64 - FINGERPRINT_BITS)
_REM_MASK = np.uint64((1 << REM_BITS) - 1)
_BUCKETS = 1 << BUCKET_BITS
MERGE_AT = 1 << 20
_MERGE_BUCKETS = 1 << 14  # buckets rebuilt at once by a merge (~800k ids at 50M)


def fingerprints(hashes: np.ndarray) -> np.ndarray:
    """The top 52 bits of each 64-bit hash (sorting hashes sorts their fingerprints).

    >>> fingerprints(np.array([2**64 - 1, 4096], dtype=np.uint64)).tolist()
    [4503599627370495, 1]
    """
    return np.asarray(hashes, dtype=np.uint64) >> SHIFT


class FingerprintSet:
    """A set of 64-bit hashes kept as 52-bit fingerprints: no false negatives, and a false
    positive only between two hashes that share their top 52 bits.

    >>> s = FingerprintSet.from_sorted([np.array([10 << 12, 7 << 40], dtype=np.uint64)])
    >>> s.add(np.array([3 << 60], dtype=np.uint64))
    >>> s.contains(np.array([10 << 12, 7 << 40, 3 << 60, 11 << 12], dtype=np.uint64)).tolist()
    [True, True, True, False]
    >>> len(s)
    3
    """

    def __init__(self, merge_at: int = MERGE_AT) -> None:
        self.rems = np.zeros(0, dtype=np.uint32)
        self.starts = np.zeros(_BUCKETS + 1, dtype=np.int64)
        self.delta = np.zeros(0, dtype=np.uint64)
        self.merge_at = merge_at

    @classmethod
    def from_sorted(cls, batches: Iterable[np.ndarray], total: int | None = None) -> FingerprintSet:
        """Build from hashes that arrive in ascending order (``dedup._hashes_in_order``),
        without holding them all as 64-bit values: ~4 bytes an id at the peak, not 12."""
        out = cls()
        rems = np.zeros(total or 0, dtype=np.uint32)
        counts = np.zeros(_BUCKETS, dtype=np.int64)
        filled, last = 0, np.zeros(1, dtype=np.uint64)
        for batch in batches:
            fps = fingerprints(batch)
            if len(fps) == 0:
                continue
            if bool((np.diff(np.concatenate([last, fps])).view(np.int64) < 0).any()):
                raise ValueError("hashes must arrive in ascending order")
            last = fps[-1:]
            if filled + len(fps) > len(rems):
                rems = np.concatenate([rems[:filled], np.zeros(len(fps), dtype=np.uint32)])
            rems[filled : filled + len(fps)] = (fps & _REM_MASK).astype(np.uint32)
            counts += np.bincount((fps >> np.uint64(REM_BITS)).astype(np.int64), minlength=_BUCKETS)
            filled += len(fps)
        out.rems = rems if filled == len(rems) else rems[:filled].copy()
        out.starts[1:] = np.cumsum(counts)
        return out

    def __len__(self) -> int:
        return len(self.rems) + len(self.delta)

    @property
    def nbytes(self) -> int:
        return int(self.rems.nbytes + self.starts.nbytes + self.delta.nbytes)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether a hash with the same fingerprint was added."""
        fps = fingerprints(hashes)
        return np.asarray(self._in_buckets(fps) | _in_sorted(self.delta, fps))

    def add(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        fps = np.sort(fingerprints(hashes))
        self.delta = np.insert(self.delta, np.searchsorted(self.delta, fps), fps)
        if len(self.delta) >= self.merge_at:
            self.merge()

    def merge(self) -> None:
        """Move ``delta`` into the buckets (sorted inserts, then shifted bucket starts)."""
        if len(self.delta) == 0:
            return
        buckets, rems = _split(self.delta)
        self.rems = np.insert(self.rems, self._positions(self.delta, buckets), rems)
        self.starts[1:] += np.cumsum(np.bincount(buckets, minlength=_BUCKETS))
        self.delta = np.zeros(0, dtype=np.uint64)

    def _positions(self, fps: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        """Where each of the sorted ``fps`` goes in ``rems``: per range of buckets, the
        base's fingerprints rebuilt (a few MB) and searched in C, ~5x faster than
        ``_locate``'s steps for a million keys."""
        at = np.empty(len(fps), dtype=np.int64)
        for first in range(0, _BUCKETS, _MERGE_BUCKETS):
            last = first + _MERGE_BUCKETS
            lo, hi = np.searchsorted(buckets, [first, last])
            if lo == hi:
                continue
            begin, end = int(self.starts[first]), int(self.starts[last])
            ids = np.arange(first, last, dtype=np.uint64) << np.uint64(REM_BITS)
            base = np.repeat(ids, np.diff(self.starts[first : last + 1])) | self.rems[begin:end]
            at[lo:hi] = begin + np.searchsorted(base, fps[lo:hi])
        return at

    def _in_buckets(self, fps: np.ndarray) -> np.ndarray:
        if len(self.rems) == 0 or len(fps) == 0:
            return np.zeros(len(fps), dtype=bool)
        buckets, rems = _split(fps)
        at = self._locate(buckets, rems)
        inside = at < self.starts[buckets + 1]
        return np.asarray(inside & (self.rems[np.minimum(at, len(self.rems) - 1)] == rems))

    def _locate(self, buckets: np.ndarray, rems: np.ndarray) -> np.ndarray:
        """The leftmost position of each remainder within its bucket's sorted slice: one
        binary search for all keys (buckets hold ~stored / 2**20 ids, so a few steps)."""
        lo = self.starts[buckets]
        hi = self.starts[buckets + 1]
        open_ = np.flatnonzero(lo < hi)
        while len(open_):
            mid = (lo[open_] + hi[open_]) >> 1
            below = self.rems[mid] < rems[open_]
            lo[open_[below]] = mid[below] + 1
            hi[open_[~below]] = mid[~below]
            open_ = open_[lo[open_] < hi[open_]]
        return np.asarray(lo)


def _split(fps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (fps >> np.uint64(REM_BITS)).astype(np.int64), (fps & _REM_MASK).astype(np.uint32)


def _in_sorted(sorted_fps: np.ndarray, fps: np.ndarray) -> np.ndarray:
    if len(sorted_fps) == 0 or len(fps) == 0:
        return np.zeros(len(fps), dtype=bool)
    at = np.searchsorted(sorted_fps, fps)
    return np.asarray(sorted_fps[np.minimum(at, len(sorted_fps) - 1)] == fps)
