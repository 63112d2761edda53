"""Every stored identifier as a 64-bit hash: "definitely new" needs no database scan.

DuckDB answers "who holds these identifiers" with a scan of ``identities`` (its ART index
is not used for such lookups), which at millions of identifiers costs tens of
milliseconds — too much to pay on every batch that brings a new visitor. ``KnownIdentifiers``
keeps the hashes of all stored identifiers (8 bytes each: 24 MB for 3M identifiers) in a
sorted numpy array plus a set of recent additions. An identifier whose hash is absent is
certainly new; a present hash (or, rarely, a collision) is looked up for real.

It stays complete because identity resolution inserts identifiers itself; rows inserted
by anyone else (a bulk demo load) are noticed by the table's row count growing, and the
hashes are rebuilt. Deletions only leave stale hashes: harmless false positives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

Key = tuple[str, str, str]
MERGE_RECENT_AT = 200_000
HASH_IN_DATABASE_FROM = 2_000  # keys; fewer are hashed here (a statement costs ~0.5 ms)


class KnownIdentifiers:
    def __init__(self) -> None:
        self.sorted = np.empty(0, dtype=np.uint64)
        self.recent: set[int] = set()
        self.expected_rows: int | None = None

    def __len__(self) -> int:
        return int(self.sorted.size) + len(self.recent)

    def sync(self, cur: Any, rows: int) -> None:
        """Rebuild if ``identities`` holds rows that identity resolution did not write."""
        if self.expected_rows is None or rows > self.expected_rows:
            self.rebuild(cur)
        self.expected_rows = rows

    def rebuild(self, cur: Any) -> None:
        cur.execute(
            "SELECT md5_number_lower(concat_ws(chr(31), workspace_id, type, value))::UBIGINT"
            " AS h FROM identities ORDER BY h"
        )
        self.sorted = distinct_sorted(np.asarray(cur.fetchnumpy()["h"], dtype=np.uint64))
        self.recent = set()

    def maybe_stored(self, hashes: Sequence[int]) -> list[bool]:
        """False means certainly not stored."""
        if not hashes:
            return []
        arr = np.asarray(hashes, dtype=np.uint64)
        pos = np.searchsorted(self.sorted, arr)
        pos[pos >= self.sorted.size] = 0
        hit = (self.sorted[pos] == arr) if self.sorted.size else np.zeros(arr.size, dtype=bool)
        return [bool(h) or int(x) in self.recent for h, x in zip(hit, arr, strict=True)]

    def added(self, hashes: Sequence[int]) -> None:
        """Identifiers just inserted by identity resolution."""
        self.recent.update(hashes)
        if self.expected_rows is not None:
            self.expected_rows += len(hashes)
        if len(self.recent) >= MERGE_RECENT_AT:
            self.sorted = merge_sorted(self.sorted, self.recent)
            self.recent = set()


def distinct_sorted(hashes: np.ndarray) -> np.ndarray:
    """Sorted hashes without repeats (``np.unique`` takes seconds on 3M of them here).

    >>> distinct_sorted(np.array([1, 1, 4, 9, 9], dtype=np.uint64)).tolist()
    [1, 4, 9]
    """
    if hashes.size == 0:
        return hashes
    return hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))]


def merge_sorted(sorted_hashes: np.ndarray, more: set[int]) -> np.ndarray:
    """``sorted_hashes`` with ``more`` inserted in order: one pass, no re-sort of the whole.

    >>> merge_sorted(np.array([2, 8], dtype=np.uint64), {5, 8, 1}).tolist()
    [1, 2, 5, 8]
    """
    new = np.sort(np.fromiter(more, dtype=np.uint64, count=len(more)))
    pos = np.searchsorted(sorted_hashes, new)
    if sorted_hashes.size:
        present = sorted_hashes[np.minimum(pos, sorted_hashes.size - 1)] == new
        new, pos = new[~present], pos[~present]
    return np.insert(sorted_hashes, pos, new)


def key_hash(key: Key) -> int:
    """The low 64 bits of MD5 over the key, as DuckDB's ``md5_number_lower`` computes them.

    >>> key_hash(("ws_1", "email", "ann@x.io"))
    6903420344271754560
    """
    text = "\x1f".join(key).encode("utf-8")
    return int.from_bytes(hashlib.md5(text, usedforsecurity=False).digest()[8:], "little")


def key_hashes(cur: Any, keys: Sequence[Key]) -> list[int]:
    """``key_hash`` of many keys: a bulk load's thousands in one vectorized DuckDB statement
    (MD5 in Python costs ~1.5 µs a key), a few here."""
    if len(keys) < HASH_IN_DATABASE_FROM:
        return [key_hash(k) for k in keys]
    ws, types, values = (list(c) for c in zip(*keys, strict=True))
    _id_keys = pa.table({"ws": ws, "type": types, "value": values})
    sql = "SELECT md5_number_lower(concat_ws(chr(31), ws, type, value))::UBIGINT AS h"
    hashes: list[int] = cur.execute(f"{sql} FROM _id_keys").fetchnumpy()["h"].tolist()
    return hashes
