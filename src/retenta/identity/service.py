"""Identity resolution: identifiers → one contact, merges, unmerges, profile traits.

``resolve`` runs inside the single writer's transaction (the ingestion pipeline's unit of
work); everything else here either reads (``lookup``, ``merges``) or submits its own unit of
work (``unmerge``). The in-memory identifier map is touched only from the writer thread.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.identity import store
from retenta.identity.cache import Key, OwnerCache, Pending
from retenta.identity.known import KnownIdentifiers, key_hash
from retenta.identity.normalize import Identifier, Normalizer, is_known_type, normalize
from retenta.identity.profile import Policies
from retenta.identity.resolver import BatchResolver
from retenta.identity.rules import RuleSettings
from retenta.identity.state import ContactState, from_snapshot
from retenta.settings import IdentitySettings
from retenta.storage.base import Database

# Identities' last-seen times pending in memory that force a flush before its interval.
IDENTITY_FLUSH_ROWS = 200_000
# Owners put in the identifier map at start-up, the most recently seen first (~130 MB):
# without them every known person's first event after a restart costs a lookup.
WARM_CACHE_ENTRIES = 1_000_000


@runtime_checkable
class ReportsOutcomes(Protocol):
    """A database that tells, on its writer thread, how each unit of work ended."""

    outcome_listeners: list[Callable[[bool], None]]


@dataclass
class MapMisses:
    """Identifiers of resolved units that the identifier map did not hold, by what became of
    them: ruled out as new by their hash (no read), or read from the store (and how many of
    those were found: people the map had not met since the start, or had evicted). Kept by
    the writer thread; read as a best-effort snapshot."""

    ruled_new: int = 0
    read: int = 0
    found: int = 0


class IdentityService:
    def __init__(self, *, db: Database, settings: IdentitySettings) -> None:
        self.db = db
        self.settings = settings
        self.normalizer = Normalizer(settings)
        self.rule_settings = RuleSettings.from_settings(settings)
        self.policies = Policies(
            dict(settings.field_policies),
            settings.default_field_policy,
            tuple(settings.source_priority),
        )
        self.cache = OwnerCache(settings.cache_entries)
        self.known = KnownIdentifiers()
        self.misses = MapMisses()  # /metrics: how warm the identifier map is
        self.pending: Pending | None = None
        self._txid: int | None = None
        self._ids: list[int] = []
        self._suppressed: dict[str, set[tuple[str, str]]] = {}
        self._seen_contacts: dict[int, datetime] = {}
        self._seen_identities: dict[Key, datetime] = {}
        self._last_flush = self._last_identity_flush = time.monotonic()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._forgotten: list[tuple[str, list[int]]] = []
        self._stale_profiles: list[int] = []
        self.reported_rejections: set[tuple[int, str, str]] = set()
        self._lock = threading.Lock()
        self._writer: int | None = None  # the writer thread, once a unit reported its outcome
        self._resolved = False  # identity resolved in the writer unit now running
        self._counted = False  # ``known.expected_rows`` is the count of stored identities
        if isinstance(db, ReportsOutcomes):
            db.outcome_listeners.append(self._settle)
        db.write(self._start)

    def _start(self, conn: Any) -> None:
        """Repair last-seen times, hash every stored identifier now rather than in the first
        batch that meets a new one (1.7 s at 3M identifiers), and load the owners of the
        most recently seen identifiers into the map."""
        store.repair_last_seen(conn)
        self.known.sync(conn, store.identity_count(conn))
        limit = min(WARM_CACHE_ENTRIES, self.cache.max_entries)
        self.cache.warm(store.recent_owners(conn, limit))

    # --- the ingestion hot path --------------------------------------------------------

    def resolve(self, conn: Any, messages: Sequence[Message]) -> None:
        """Set ``contact_id`` (or ``dropped``) on every message, inside the writer's transaction."""
        if not messages:
            return
        self._drain_forgotten()
        self._resolved = True
        batch = BatchResolver(self, conn, self._new_stamp())
        collecting = gc.isenabled()
        gc.disable()  # a batch allocates many short-lived objects; collections cost 30-40 %
        try:
            batch.run(messages)
        finally:
            if collecting:
                gc.enable()
        if batch.has_changes():
            self._keep_pending(conn, batch)
        now = time.monotonic()
        if now - self._last_flush >= self.settings.last_seen_flush_s:
            identities = (
                now - self._last_identity_flush >= self.settings.identity_last_seen_flush_s
                or len(self._seen_identities) >= IDENTITY_FLUSH_ROWS
            )
            self.flush(conn, identities=identities)

    def flush(self, conn: Any, *, identities: bool = True) -> None:
        """Write the collected last-seen times (a writer unit of work, or inside one):
        contacts' always, identities' only when ``identities``."""
        contacts, self._seen_contacts = self._seen_contacts, {}
        self._last_flush = time.monotonic()
        seen: dict[Key, datetime] = {}
        if identities:
            seen, self._seen_identities = self._seen_identities, {}
            self._last_identity_flush = self._last_flush
        store.flush_last_seen(conn, contacts, seen)

    def _new_stamp(self) -> datetime:
        """``updated_at`` of this batch's changes: unique, so it can prove a commit later."""
        now = datetime.now(UTC)
        self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
        return self._last_stamp

    def begin(self, conn: Any) -> int | None:
        """Settle the previous transaction's changes (one statement, only if there are any).

        Runs before the batch reads the cache, so that the cache does not change under it.
        Returns the number of stored identities when the statement ran.
        """
        pending, self._txid = self.pending, None
        if pending is None:
            return None
        if pending.writer is not None and pending.writer == threading.get_ident():
            return None  # this unit's own changes: ``_settle`` applies them after it ends
        txid, committed, rows = store.status(conn, pending.probe)
        self._txid = txid
        if txid == pending.txid:
            return rows
        if pending.probe is None or committed:
            pending.apply_to(self.cache)  # before dropping it: `lookup` reads both, unlocked
        else:
            self.cache.clear()  # that unit of work rolled back: what we learnt in it is void
        self.pending = None
        return rows

    def _settle(self, committed: bool) -> None:
        """A writer unit ended (outcome listener, on the writer thread): apply or drop the
        pending overlay it made, so that the next ``begin`` needs no statement."""
        self._writer = threading.get_ident()
        if not (committed and self._resolved):
            # a unit identity did not resolve in (a bulk load, an erasure) may have written
            # identities behind ``known``, and a rolled-back one undid what it added
            self._counted = False
        self._resolved = False
        pending = self.pending
        if pending is None or pending.writer != self._writer:
            return
        try:
            if committed:
                pending.apply_to(self.cache)  # before dropping it: `lookup` reads both
            else:
                self.cache.clear()  # that unit rolled back: what we learnt in it is void
        except BaseException:
            self.cache.clear()
            raise
        finally:
            self.pending = None

    def reports_outcomes(self) -> bool:
        """Whether this thread's units report their outcome (``_settle``): then the unit's
        pending changes need no commit probe."""
        return self._writer is not None and self._writer == threading.get_ident()

    def identity_count(self, conn: Any) -> int:
        """The number of stored identities, for ``KnownIdentifiers.sync``. Where the writer
        reports outcomes it is counted once and then kept by ``known.added`` for as long as
        every unit that ends is one that identity resolved in and that committed (identity
        writes its identities itself, imports tell ``known`` of theirs); any other unit
        makes the next batch count again. Otherwise it is counted in every batch that
        meets an identifier the map lacks. (A stored identifier ``known`` missed would
        violate the primary key: that unit fails and the retry rebuilds the hashes.)"""
        reports = self.reports_outcomes()
        expected = self.known.expected_rows
        if reports and self._counted and expected is not None:
            return expected
        rows = store.identity_count(conn)
        self._counted = reports
        return rows

    def _keep_pending(self, conn: Any, batch: BatchResolver) -> None:
        if self.pending is None:
            writer = threading.get_ident()
            if writer == self._writer:  # its unit reports its outcome: no transaction id
                self.pending = Pending(-1, writer=writer)
            else:
                txid = self._txid if self._txid is not None else store.transaction_id(conn)
                self.pending = Pending(txid)
        pending = self.pending
        pending.owners.update(batch.changed_owners)
        pending.fingerprints.update(batch.fingerprints)
        pending.probe = batch.probe() or pending.probe

    def next_contact_id(self, conn: Any) -> int:
        """Contact ids come from ``contact_id_seq`` in blocks (never reused, even on rollback)."""
        if not self._ids:
            self._ids = store.allocate_contact_ids(conn, self.settings.contact_id_block)[::-1]
        return self._ids.pop()

    def suppressed_hashes(self, conn: Any, workspace_id: str) -> set[tuple[str, str]]:
        found = self._suppressed.get(workspace_id)
        if found is None:
            found = self._suppressed[workspace_id] = store.suppressed(conn, workspace_id)
        return found

    # --- last seen, written behind -----------------------------------------------------

    def seen_maps(self) -> tuple[dict[int, datetime], dict[Key, datetime]]:
        """The last-seen times not yet written, by contact and by identifier (the quick
        path updates them inline)."""
        return self._seen_contacts, self._seen_identities

    def note_seen(self, cid: int, ws: str, idents: Sequence[Identifier], at: datetime) -> None:
        seen = self._seen_contacts
        if (prev := seen.get(cid)) is None or at > prev:
            seen[cid] = at
        for t, v in idents:
            self.note_identity_seen((ws, t, v), at)

    def note_contact_seen(self, cid: int, at: datetime) -> None:
        seen = self._seen_contacts
        if (prev := seen.get(cid)) is None or at > prev:
            seen[cid] = at

    def note_seen_keys(self, cid: int, keys: Sequence[Key], at: datetime) -> None:
        seen = self._seen_contacts
        if (prev := seen.get(cid)) is None or at > prev:
            seen[cid] = at
        seen_ids = self._seen_identities
        for key in keys:
            if (prev := seen_ids.get(key)) is None or at > prev:
                seen_ids[key] = at

    def note_identity_seen(self, key: Key, at: datetime) -> None:
        seen = self._seen_identities
        if (prev := seen.get(key)) is None or at > prev:
            seen[key] = at

    def fold_seen(self, state: ContactState) -> None:
        """Give a freshly loaded contact the last-seen times not yet written."""
        at = self._seen_contacts.pop(state.id, None)
        if at is not None:
            state.seen(at)
        self.fold_seen_identities(state)

    def fold_seen_identities(self, state: ContactState) -> None:
        for (t, v), row in state.identities.items():
            at = self._seen_identities.pop((state.workspace_id, t, v), None)
            if at is not None and at > row.last_seen:
                row.last_seen = at
                self._seen_identities[(state.workspace_id, t, v)] = at

    # --- reads ---------------------------------------------------------------------------

    def lookup(self, *, workspace_id: str, id_type: str, value: str) -> int | None:
        """The live (not merged-away) contact holding an identifier, after normalization."""
        if not is_known_type(id_type):
            return None
        normalized = normalize(id_type, value, self.settings)
        if normalized is None:
            return None
        cached = self.committed_owner(workspace_id, id_type, normalized)
        if cached is not None:
            return cached
        with self.db.read() as cur:
            return store.live_owner(cur, workspace_id, id_type, normalized)

    def owner_at_start(self, workspace_id: str, id_type: str, normalized: str) -> int | None:
        """The contact that held a normalized identifier when the stored identifiers were
        last read whole (``KnownIdentifiers.owned``): a candidate that the caller must check,
        since merges, takeovers, unmerges and erasures may have moved the identifier since."""
        return self.known.owner_at_rebuild(key_hash((workspace_id, id_type, normalized)))

    def committed_owner(self, workspace_id: str, id_type: str, normalized: str) -> int | None:
        """The live contact holding a normalized identifier, from the writer's map: None
        when the map does not hold it or cannot vouch that it is committed and current.

        Called from request threads: the cache holds only committed facts; an identifier
        that the last unit of work changed (still pending) or whose contact was just
        erased (forget not yet applied) is answered by the database instead.
        """
        key = (workspace_id, id_type, normalized)
        pending = self.pending
        if pending is not None and key in pending.owners:
            return None
        cid = self.cache.owners.get(key)
        if cid is None:
            return None
        with self._lock:
            if any(cid in ids for _, ids in self._forgotten):
                return None
        return cid

    def timeline_contact_ids(self, cur: Any, workspace_id: str, contact_id: int) -> list[int]:
        """The contact and every contact merged into it: its timeline is their events."""
        return store.merged_descendants(cur, workspace_id, contact_id)

    def merges(self, *, workspace_id: str, contact_id: int) -> list[dict[str, Any]]:
        """Merge history of a contact (as winner or loser), newest first."""
        with self.db.read() as cur:
            if not store.contact_exists(cur, workspace_id, contact_id):
                raise ApiError(404, "not_found", "contact not found")
            return store.merge_history(cur, workspace_id, contact_id)

    # --- invalidation --------------------------------------------------------------------

    def forget(self, workspace_id: str, contact_ids: Collection[int]) -> None:
        """Drop what the writer remembers about these contacts (after an erase)."""
        with self._lock:
            self._forgotten.append((workspace_id, list(contact_ids)))

    def forget_profiles(self, workspace_id: str, contact_ids: Collection[int]) -> None:
        """Drop what the writer remembers about these contacts' profiles, keeping their
        identifiers mapped: for traits changed behind identity's back (a journey's
        ``update_contact`` node). O(contacts), where ``forget`` scans the whole map (0.35 s
        of CPU at 3M identifiers, load 3.6)."""
        del workspace_id  # fingerprints are keyed by contact id, unique across workspaces
        with self._lock:
            self._stale_profiles.extend(contact_ids)

    def _drain_forgotten(self) -> None:
        with self._lock:
            forgotten, self._forgotten = self._forgotten, []
            stale, self._stale_profiles = self._stale_profiles, []
        pending = self.pending
        for cid in stale:
            self.cache.fingerprints.pop(cid, None)
            if pending is not None:
                pending.fingerprints[cid] = None
        for workspace_id, ids in forgotten:
            self._drop(ids)
            self._suppressed.pop(workspace_id, None)

    def forget_now(self, contact_ids: Collection[int]) -> None:
        """``forget`` from the writer thread itself (it owns the cache)."""
        self._drop(contact_ids)

    def _drop(self, contact_ids: Collection[int]) -> None:
        ids = set(contact_ids)
        self.cache.drop_contacts(ids)
        if self.pending is not None:
            self.pending.drop_contacts(ids)
        for cid in ids:
            self._seen_contacts.pop(cid, None)

    # --- unmerge -------------------------------------------------------------------------

    def unmerge(self, *, workspace_id: str, merge_id: int) -> dict[str, int]:
        """Restore both contacts of a merge exactly as they were before it."""
        return self.db.write(lambda cur: self._unmerge(cur, workspace_id, merge_id))

    def _unmerge(self, cur: Any, workspace_id: str, merge_id: int) -> dict[str, int]:
        row = store.merge_row(cur, workspace_id, merge_id)
        if row is None:
            raise ApiError(404, "not_found", "merge not found")
        winner_id, loser_id = int(row["winner_id"]), int(row["loser_id"])
        self._check_unmergeable(cur, workspace_id, row, (winner_id, loser_id))
        self._drain_forgotten()
        self.flush(cur)
        snap = row["snapshot"]
        winner = from_snapshot(workspace_id, snap["winner"])
        loser = from_snapshot(workspace_id, snap["loser"])
        current = store.load_contacts(cur, [winner_id])[winner_id]
        store.update_contacts(cur, [winner, loser])
        store.repoint_identities(cur, _restored_identities(current, (winner, loser)))
        at = datetime.now(UTC)
        store.mark_reverted(cur, merge_id, at)
        store.insert_identity_events(
            cur,
            [
                (
                    workspace_id,
                    at,
                    "unmerge",
                    winner_id,
                    loser_id,
                    None,
                    None,
                    f"merge {merge_id}",
                    None,
                )
            ],
        )
        self._drop((winner_id, loser_id))
        return {"winner_id": winner_id, "loser_id": loser_id}

    def _check_unmergeable(
        self, cur: Any, workspace_id: str, row: dict[str, Any], ids: tuple[int, int]
    ) -> None:
        if row["reverted_at"] is not None:
            raise ApiError(409, "conflict", "this merge was already reverted")
        later = store.later_active_merges(cur, workspace_id, int(row["id"]), ids)
        if later:
            raise ApiError(
                409,
                "conflict",
                f"later merges involve these contacts; unmerge them first: {later}",
                details=[{"merge_id": m} for m in later],
            )
        live = store.load_contacts(cur, ids)
        if len(live) != 2:
            raise ApiError(409, "conflict", "a contact of this merge was erased")


def _restored_identities(
    current: ContactState, restored: tuple[ContactState, ContactState]
) -> list[tuple[Any, ...]]:
    """Snapshot identities still held by the merged contact go back to their first owner.

    Identifiers first seen after the merge are not in either snapshot: they stay with the
    winner. Identifiers that have since moved to a third contact (a device takeover) stay
    where they are.
    """
    rows = []
    for state in restored:
        for ident, snap_row in state.identities.items():
            if ident in current.identities:
                rows.append((state.workspace_id, *ident, state.id, snap_row.first_seen,
                             snap_row.last_seen))  # fmt: skip
    return rows
