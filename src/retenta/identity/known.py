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

Beside the hashes a rebuild reads, it keeps the contact that held each one then (``owned``,
8 bytes more an identifier). The API's lookup by identifier takes it as a *candidate*: it
reads that contact's profile and answers with it only if the profile holds the identifier
(``ContactService.lookup``), which skips the index probe of ``identities`` (~1.2 ms at 1M
contacts) for every identifier stored when the process started. A merge, a takeover, an
unmerge or an erasure since can make a candidate stale, and the check then fails.
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
        # the sorted hashes and the contact each had at the last rebuild (-1: not known, or
        # two identifiers share the hash): one tuple, replaced whole, for reading threads
        self.owned: tuple[np.ndarray, np.ndarray] = _no_owners(np.empty(0, dtype=np.uint64))
        self.recent: set[int] = set()
        self.expected_rows: int | None = None

    @property
    def sorted(self) -> np.ndarray:
        """The stored identifiers' hashes but the ``recent`` ones, sorted, without repeats."""
        return self.owned[0]

    @sorted.setter
    def sorted(self, hashes: np.ndarray) -> None:
        self.owned = _no_owners(hashes)

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
            " AS h, coalesce(contact_id, -1)::BIGINT AS owner FROM identities ORDER BY h"
        )
        found = cur.fetchnumpy()
        hashes = np.asarray(found["h"], dtype=np.uint64)
        self.owned = distinct_owned(hashes, np.asarray(found["owner"], dtype=np.int64))
        self.recent = set()

    def owner_at_rebuild(self, key_hash: int) -> int | None:
        """The contact that held the identifier hashed ``key_hash`` at the last rebuild, if
        one did: a candidate to check, not an answer (safe from any thread)."""
        hashes, owners = self.owned
        at = int(np.searchsorted(hashes, np.uint64(key_hash)))
        if at < hashes.size and int(hashes[at]) == key_hash and owners[at] >= 0:
            return int(owners[at])
        return None

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
            self.owned = merge_sorted_owned(*self.owned, self.recent)
            self.recent = set()


def _no_owners(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return hashes, np.full(hashes.size, -1, dtype=np.int64)


def distinct_owned(hashes: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``hashes`` without repeats, with each one's owner: -1 for a hash that repeats
    (two identifiers, one hash: neither owner can be told from it). ``np.unique`` takes
    seconds on 3M hashes here.

    >>> h, o = distinct_owned(np.array([1, 4, 4, 9], dtype=np.uint64), np.array([7, 8, 9, 5]))
    >>> h.tolist(), o.tolist()
    ([1, 4, 9], [7, -1, 5])
    """
    if hashes.size == 0:
        return hashes, owners
    first = np.concatenate(([True], hashes[1:] != hashes[:-1]))
    repeats = np.concatenate((~first[1:], [False]))  # the next row has the same hash
    return hashes[first], np.where(repeats, -1, owners)[first]


def merge_sorted_owned(
    sorted_hashes: np.ndarray, owners: np.ndarray, more: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``sorted_hashes`` with ``more`` inserted in order (one pass, no re-sort of the whole),
    the new hashes' owners not known (-1).

    >>> h, o = merge_sorted_owned(np.array([2, 8], dtype=np.uint64), np.array([3, 4]), {5, 8})
    >>> h.tolist(), o.tolist()
    ([2, 5, 8], [3, -1, 4])
    """
    new = np.sort(np.fromiter(more, dtype=np.uint64, count=len(more)))
    pos = np.searchsorted(sorted_hashes, new)
    if sorted_hashes.size:
        present = sorted_hashes[np.minimum(pos, sorted_hashes.size - 1)] == new
        new, pos = new[~present], pos[~present]
    return np.insert(sorted_hashes, pos, new), np.insert(owners, pos, -1)


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
