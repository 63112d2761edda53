"""Which contacts may have events in L1, so that a point read skips L1 for the others.

L1 (``events_l1``) holds the runs flushed from L0 since the last merge into L2. Each run is
sorted by contact but spans every contact, so DuckDB's zone maps skip none of L1's
unconsolidated row groups: a first timeline page scanned 4 of L1's 8 row groups (~2 ms of
a ~7.7 ms statement at 1M contacts / 50M events, session 19) whether the contact had
events there or not. Most contacts have none — only those active since the last L1 → L2
merge (22% of the bench store's). Like the Bloom filter an LSM tree keeps per run, a
bitmap over contact ids answers "certainly not in L1" exactly and "maybe" otherwise.

Upkeep, on the writer thread (``compaction``, ``events.append_events``):

- rows entering L1 set their contacts' bits inside their unit, before its ``COMMIT``:
  a bit set early (or left by a rolled-back unit) only makes a read scan L1 for nothing;
- an L1 → L2 pass step clears its contact-id range once its unit has *committed*
  (``settle``, an outcome listener): cleared earlier, the bit would hide rows still in L1
  for a snapshot taken before that commit. The unit's own additions are set again on the
  cleared copy, which then replaces the bitmap in one assignment;
- at start the bitmap is loaded from L1 itself.

A reader trusts a "no" only when no commit began or ended while it read
(``TierProbe.held``, counted by ``fanout.CommitCount``); otherwise it reads again with L1.
Rows written into L1 by hand (raw SQL around the tier moves, as ``bench_lookup`` builds its
store) are not seen until ``note_all`` or the next start.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from retenta.storage.base import TierProbe
from retenta.storage.duckdb.fanout import CommitCount

L1_TIER = "events_l1"
_by_cursor: weakref.WeakKeyDictionary[Any, L1Members] = weakref.WeakKeyDictionary()


class ContactBits:
    """A bitmap over contact ids. Ids at or past ``limit`` are never stored and always
    "maybe" (contact ids come from a sequence: 2^31 of them are 256 MiB of bits).

    >>> bits = ContactBits()
    >>> bits.set(np.array([3, 8, 9]))
    >>> [i for i in range(12) if bits.maybe(i)]
    [3, 8, 9]
    >>> bits.cleared(4, 9).maybe(8), bits.maybe(8)
    (False, True)
    """

    def __init__(self, data: np.ndarray | None = None, *, limit: int = 1 << 31) -> None:
        self._bytes = np.zeros(0, dtype=np.uint8) if data is None else data
        self.limit = limit

    def maybe(self, contact_id: int) -> bool:
        if contact_id >= self.limit or contact_id < 0:
            return True
        data = self._bytes  # one read: ``set`` may swap in a grown copy meanwhile
        index = contact_id >> 3
        return index < len(data) and bool((data[index] >> (contact_id & 7)) & 1)

    def set(self, ids: np.ndarray) -> None:
        """Set the bits of ``ids`` (growing the bitmap first, as a copy swapped in)."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < self.limit)]
        if len(ids) == 0:
            return
        need = int(ids.max() >> 3) + 1
        data = self._bytes
        if need > len(data):
            grown = np.zeros(max(need, len(data) + len(data) // 4), dtype=np.uint8)
            grown[: len(data)] = data
            _or_bits(grown, ids)
            self._bytes = grown
        else:
            _or_bits(data, ids)

    def cleared(self, lo: int, hi: int) -> ContactBits:
        """A copy with the bits of ``lo <= id < hi`` cleared."""
        data = self._bytes.copy()
        lo, hi = max(lo, 0), min(hi, len(data) * 8)
        if lo < hi:
            first, last = lo >> 3, (hi - 1) >> 3
            keep_low = (1 << (lo & 7)) - 1  # bits below ``lo`` in its byte
            keep_high = 0xFF ^ ((1 << (((hi - 1) & 7) + 1)) - 1)  # bits above ``hi - 1``
            if first == last:
                data[first] &= keep_low | keep_high
            else:
                data[first] &= keep_low
                data[first + 1 : last] = 0
                data[last] &= keep_high
        return ContactBits(data, limit=self.limit)

    @property
    def nbytes(self) -> int:
        return int(self._bytes.nbytes)


def _or_bits(data: np.ndarray, ids: np.ndarray) -> None:
    np.bitwise_or.at(data, ids >> 3, np.left_shift(1, ids & 7).astype(np.uint8))


class L1Members:
    """The contacts that may have events in L1 (module doc), kept by the writer thread."""

    def __init__(self) -> None:
        self.bits = ContactBits()
        self.ready = False  # until loaded, every contact is "maybe"
        self._added: list[np.ndarray] = []  # by the running unit
        self._clears: list[tuple[int, int]] = []  # by the running unit, due at its commit

    def load(self, conn: Any) -> None:
        """Read the bitmap from L1 (at start, before any reader or unit runs)."""
        bits = ContactBits()
        bits.set(_l1_contacts(conn))
        self.bits, self.ready = bits, True

    def note_all(self, conn: Any) -> None:
        """Set the bit of every contact L1 holds now (after writing L1 by hand)."""
        self.added(_l1_contacts(conn))

    def added(self, contact_ids: np.ndarray) -> None:
        """Rows of these contacts enter L1 in the running unit."""
        ids = np.asarray(contact_ids, dtype=np.int64)
        self.bits.set(ids)
        self._added.append(ids)

    def cleared(self, lo: int, hi: int) -> None:
        """The running unit moves every L1 row with ``lo <= contact_id < hi`` out of L1."""
        self._clears.append((lo, hi))

    def settle(self, committed: bool) -> None:
        """The running unit ended (``DuckDatabase.outcome_listeners``)."""
        clears, added = self._clears, self._added
        self._clears, self._added = [], []
        if not committed or not clears:
            return
        bits = self.bits
        for lo, hi in clears:
            bits = bits.cleared(lo, hi)
        for ids in added:
            bits.set(ids)
        self.bits = bits

    def probe(self, contact_ids: list[int], commits: CommitCount) -> TierProbe:
        """What L1 cannot hold for ``contact_ids``, good while ``commits`` stays put."""
        since = commits.value
        if since % 2 or not self.ready:  # a COMMIT in flight: its rows may be anywhere
            return TierProbe()
        if any(self.bits.maybe(cid) for cid in contact_ids):
            return TierProbe()
        return TierProbe(frozenset({L1_TIER}), lambda: commits.value == since)


def _l1_contacts(conn: Any) -> np.ndarray:
    found = conn.execute(f"SELECT DISTINCT contact_id FROM {L1_TIER} WHERE contact_id IS NOT NULL")
    return np.asarray(found.fetchnumpy()["contact_id"], dtype=np.int64)


def register(cursor: Any, members: L1Members) -> None:
    """Tier moves run on ``cursor`` (a database's unit cursor) keep ``members``."""
    _by_cursor[cursor] = members


def of(conn: Any) -> L1Members | None:
    """The members kept through ``conn``; None for a connection no database registered."""
    try:
        return _by_cursor.get(conn)
    except TypeError:  # not weakly referenceable (a test's wrapper): nothing registered
        return None
