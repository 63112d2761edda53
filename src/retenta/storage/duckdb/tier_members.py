"""Which contacts may have events in L0 and in L1 (or were ever merged), so that point reads
skip those tiers (or checks) for the others.

L1 holds what was flushed from L0 since the last merge into L2: the runs not yet sorted by
an L1 pass (``events_l1_runs``) and what L1 passes sorted (``events_l1``). Each run is
sorted by contact but spans every contact, so DuckDB's zone maps skip none of the runs' row
groups: a first timeline page scanned 4 of L1's 8 row groups (~2 ms of a ~7.7 ms statement
at 1M contacts / 50M events, session 19) whether the contact had events there or not (the
runs are now probed through an index instead, session 20). L0 (``events_recent``) is
scanned whole: its branch of the profile (the newest events' figures, with a JSON
extraction to plan) cost ~1 ms of a ~3 ms half.
Most contacts have nothing in either: only those active since the last L1 → L2 merge are
in L1 (22% of the bench store's), since the last flush in L0 (9%). Like the Bloom filter
an LSM tree keeps per run, a bitmap per tier over contact ids answers "certainly not
there" exactly and "maybe" otherwise.

One more bitmap, ``MERGES``, holds every contact a merge ever named (winner or loser, set
by identity's ``insert_merges``), or whose row says merged or erased (at start): for the
others a first timeline page needs no liveness rows beside it (``contacts/queries``).

Upkeep, on the writer thread (``events.append_events``, ``compaction``):

- rows entering a tier set their contacts' bits inside their unit, before its ``COMMIT``:
  a bit set early (or left by a rolled-back unit) only makes a read scan the tier for
  nothing;
- rows leaving a tier clear bits only once their unit has *committed* (``settle``, an
  outcome listener): cleared earlier, a bit would hide rows still there for a snapshot
  taken before that commit. An L1 → L2 pass step clears its contact-id range in L1; a
  flush replaces L0's bitmap by the contacts L0 still holds. The new bitmap is a copy, the
  unit's own additions are set again on it, and it replaces the old in one assignment;
- at start each bitmap is loaded from its tier.

A reader trusts a "no" only when no commit began or ended while it read
(``TierProbe.held``, counted by ``fanout.CommitCount``); otherwise it reads again from
every tier. Rows written by hand (raw SQL around ``append_events``, the tier moves and
``insert_merges``, as ``bench_lookup`` builds its store) are not seen until ``note_all`` or
the next start.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from retenta.storage.base import TierProbe
from retenta.storage.duckdb.fanout import CommitCount

L0_TIER, L1_TIER, L2_TIER = "events_recent", "events_l1", "events"
# L1's flush runs, until an L1 pass sorts them into ``events_l1``: part of L1 for the
# bitmaps (``L1_TIER``'s bits say "maybe in either table").
L1_RUNS = "events_l1_runs"
# Every event table, oldest first, and those a flush has moved events into.
EVENT_TABLES = (L2_TIER, L1_TIER, L1_RUNS, L0_TIER)
FLUSHED_TABLES = (L2_TIER, L1_TIER, L1_RUNS)
# The bitmap a table's rows are kept in.
BITMAP_OF = {L0_TIER: L0_TIER, L1_TIER: L1_TIER, L1_RUNS: L1_TIER}
# Not an event tier: the contacts a merge ever named (winner or loser), or whose row says
# merged or erased. The others are plain: their first timeline page needs no liveness
# check beside it when it holds events of the workspace asked for (``contacts/queries``).
MERGES = "merges"
KEPT = (L0_TIER, L1_TIER, MERGES)
_HOLDERS = {
    L1_TIER: f"SELECT contact_id FROM {L1_TIER} UNION SELECT contact_id FROM {L1_RUNS}",
    MERGES: "SELECT winner_id AS contact_id FROM merges UNION SELECT loser_id FROM merges"
    " UNION SELECT id FROM contacts WHERE merged_into IS NOT NULL OR erased_at IS NOT NULL",
}
_by_cursor: weakref.WeakKeyDictionary[Any, TierMembers] = weakref.WeakKeyDictionary()


# Contact ids come from a sequence, so a store's bitmaps are ~its contact count in bits
# (125 KB at 1M). Ids at or past this are never stored and always "maybe": a bitmap is at
# most 16 MiB however sparse the ids are (random 32-bit ids in a bench's stand-in resolver
# had three bitmaps grow towards 256 MiB each, the in-process pipeline 3× slower).
ID_LIMIT = 1 << 27


class ContactBits:
    """A bitmap over contact ids. Ids at or past ``limit`` are never stored and always
    "maybe".

    >>> bits = ContactBits()
    >>> bits.set(np.array([3, 8, 9]))
    >>> [i for i in range(12) if bits.maybe(i)]
    [3, 8, 9]
    >>> bits.cleared(4, 9).maybe(8), bits.maybe(8)
    (False, True)
    """

    def __init__(self, data: np.ndarray | None = None, *, limit: int = ID_LIMIT) -> None:
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
            size = min(max(need, len(data) + len(data) // 4), (self.limit + 7) >> 3)
            grown = np.zeros(size, dtype=np.uint8)
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


class TierMembers:
    """The contacts that may have events in L0 and in L1 (module doc), kept by the writer."""

    def __init__(self) -> None:
        self.bits = {tier: ContactBits() for tier in KEPT}
        self.ready = False  # until loaded, every contact is "maybe"
        self.on_stale: Callable[[], None] | None = None  # told when a probe went stale
        self._added: list[tuple[str, np.ndarray]] = []  # by the running unit
        self._leaving: list[tuple[str, Callable[[ContactBits], ContactBits]]] = []  # at commit

    def load(self, conn: Any) -> None:
        """Read the bitmaps from the tiers (at start, before any reader or unit runs)."""
        for tier in KEPT:
            bits = ContactBits()
            bits.set(_contacts_in(conn, tier))
            self.bits[tier] = bits
        self.ready = True

    def note_all(self, conn: Any) -> None:
        """Set the bit of every contact the tiers hold now (after writing them by hand)."""
        for tier in KEPT:
            self.added(tier, _contacts_in(conn, tier))

    def added(self, tier: str, contact_ids: np.ndarray) -> None:
        """Rows of these contacts enter ``tier`` in the running unit."""
        ids = np.asarray(contact_ids, dtype=np.int64)
        self.bits[tier].set(ids)
        self._added.append((tier, ids))

    def cleared(self, tier: str, lo: int, hi: int) -> None:
        """The running unit moves every row with ``lo <= contact_id < hi`` out of ``tier``."""
        self._leaving.append((tier, lambda bits: bits.cleared(lo, hi)))

    def replaced(self, tier: str, contact_ids: np.ndarray) -> None:
        """After the running unit, ``tier`` holds rows of these contacts only (and of those
        the unit adds after this)."""
        ids = np.asarray(contact_ids, dtype=np.int64)

        def only(bits: ContactBits) -> ContactBits:
            fresh = ContactBits(limit=bits.limit)
            fresh.set(ids)
            return fresh

        self._leaving.append((tier, only))

    def settle(self, committed: bool) -> None:
        """The running unit ended (``DuckDatabase.outcome_listeners``)."""
        leaving, added = self._leaving, self._added
        self._leaving, self._added = [], []
        if not committed or not leaving:
            return
        fresh: dict[str, ContactBits] = {}
        for tier, change in leaving:
            fresh[tier] = change(fresh.get(tier, self.bits[tier]))
        for tier, ids in added:
            if tier in fresh:
                fresh[tier].set(ids)
        self.bits.update(fresh)

    def probe(self, contact_ids: list[int], commits: CommitCount) -> TierProbe:
        """The tiers that hold nothing of ``contact_ids``, good while ``commits`` stays put."""
        since = commits.value
        if since % 2 or not self.ready:  # a COMMIT in flight: its rows may be anywhere
            return TierProbe()
        absent = frozenset(
            tier for tier in KEPT if not any(self.bits[tier].maybe(cid) for cid in contact_ids)
        )
        if not absent:
            return TierProbe()

        def held() -> bool:
            if commits.value == since:
                return True
            if self.on_stale is not None:
                self.on_stale()
            return False

        return TierProbe(absent, held)


def _contacts_in(conn: Any, tier: str) -> np.ndarray:
    sql = _HOLDERS.get(tier, f"SELECT DISTINCT contact_id FROM {tier}")
    found = conn.execute(f"SELECT contact_id FROM ({sql}) WHERE contact_id IS NOT NULL")
    return np.asarray(found.fetchnumpy()["contact_id"], dtype=np.int64)


def register(cursor: Any, members: TierMembers) -> None:
    """Tier moves run on ``cursor`` (a database's unit cursor) keep ``members``."""
    _by_cursor[cursor] = members


def of(conn: Any) -> TierMembers | None:
    """The members kept through ``conn``; None for a connection no database registered."""
    try:
        return _by_cursor.get(conn)
    except TypeError:  # not weakly referenceable (a test's wrapper): nothing registered
        return None
