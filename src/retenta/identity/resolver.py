"""One ``resolve`` call: every decision in memory, then a handful of set-based writes.

Known contacts take the fast path (dictionary lookups only). Messages that bring a new
identifier, identifiers of different contacts, an alias or a changed profile take the slow
path: their contacts are loaded in one query, the rules decide, and the resulting contacts,
identities, merges and identity events are written as Arrow tables at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from retenta.core.messages import Message
from retenta.identity import fastpath, store
from retenta.identity.cache import MAX_FINGERPRINTS, Fingerprints
from retenta.identity.known import key_hash, key_hashes
from retenta.identity.locale import LocaleWrites, fingerprints_after
from retenta.identity.normalize import (
    ANONYMOUS_ID,
    EXTERNAL_ID,
    Extracted,
    Identifier,
    extract_batch,
    identifier_hash,
)
from retenta.identity.profile import apply_traits, combine
from retenta.identity.profile_input import ProfileInput, late, profile_input
from retenta.identity.rules import Merge, Plan, decide
from retenta.identity.state import ContactState, IdentityRow

if TYPE_CHECKING:
    from retenta.identity.service import IdentityService

Key = tuple[str, str, str]


class BatchResolver:
    def __init__(self, svc: IdentityService, cur: Any, stamp: datetime) -> None:
        self.svc = svc
        self.cur = cur
        self.stamp = stamp
        self.states: dict[int, ContactState] = {}
        self.changed_owners: dict[Key, int] = {}
        self.fetched: dict[Key, int] = {}
        self.key_hashes: dict[Key, int] = {}
        self.inserted: set[Key] = set()
        self.moved: set[Key] = set()
        self.merge_rows: list[tuple[Any, ...]] = []
        self.event_rows: list[tuple[Any, ...]] = []
        self.fingerprints: dict[int, Fingerprints | None] = {}
        self.locales = LocaleWrites()
        self.locale_probe: int | None = None

    # --- lookups ---------------------------------------------------------------------

    def owner(self, key: Key) -> int | None:
        if self.changed_owners and (found := self.changed_owners.get(key)) is not None:
            return found
        pending = self.svc.pending
        if pending is not None and (found := pending.owners.get(key)) is not None:
            return found
        return self.svc.cache.owners.get(key) or self.fetched.get(key)

    def sole_owner(self, keys: Sequence[Key]) -> int | None:
        """The contact holding all these identifiers, if it is one and the same."""
        owner = self.owner
        first = owner(keys[0])
        if first is None:
            return None
        for key in keys[1:]:
            if owner(key) != first:
                return None
        return first

    def state(self, cid: int) -> ContactState:
        """The contact with its identities (what the rules, merges and takeovers need)."""
        found = self.states.get(cid)
        if found is None:
            self.load([cid])
            found = self.states[cid]
        elif found.partial:
            self.complete([found])
        return found

    def profile_state(self, cid: int) -> ContactState:
        """The contact, with or without its identities (enough for a profile input)."""
        found = self.states.get(cid)
        if found is None:
            self.load([cid], rows_only=True)
            found = self.states[cid]
        return found

    def complete(self, states: Sequence[ContactState]) -> None:
        """Read the identities of contacts loaded without them (rare: the batch's decision
        about such a contact changed after ``preload``)."""
        store.load_identities(self.cur, states)
        for state in states:
            self.svc.fold_seen_identities(state)

    def load(self, cids: Sequence[int], *, rows_only: bool = False) -> None:
        """Load contacts the batch does not hold yet: their rows and, unless ``rows_only``,
        their identities; a contact held without identities gets them unless ``rows_only``."""
        partial = [self.states[c] for c in cids if c in self.states and self.states[c].partial]
        if partial and not rows_only:
            self.complete(partial)
        missing = [c for c in cids if c not in self.states]
        if not missing:
            return
        loaded = (store.load_rows if rows_only else store.load_contacts)(self.cur, missing)
        gone = [cid for cid in missing if cid not in loaded]
        if gone:  # deleted behind the cache's back: forget them so that a retry succeeds
            self.svc.forget_now(gone)
            raise LookupError(f"contacts {gone} were cached as identifier owners but are gone")
        for cid, state in loaded.items():
            self.svc.fold_seen(state)
            self.states[cid] = state
            self.take_queued_locale(state)

    def take_queued_locale(self, state: ContactState) -> None:
        """A contact loaded after locale inputs were queued for it takes them first."""
        change = self.locales.pop(state.id)
        if change is None:
            return
        for name, value in (("language", change.language), ("timezone", change.timezone)):
            if value is not None and getattr(state, name) != value:
                setattr(state, name, value)
                self.changed(state)
        self.fingerprints[state.id] = None  # re-learnt from the inputs that follow

    def applied(self, cid: int, fp: int) -> bool:
        """Whether this profile input is known to change nothing on the contact as it is."""
        if self.locales.changes and (queued := self.locales.changes.get(cid)) is not None:
            return fp == queued.fingerprint
        fps = self.fingerprint(cid)
        return fps is not None and fp in fps

    def fingerprint(self, cid: int) -> Fingerprints | None:
        if cid in self.fingerprints:
            return self.fingerprints[cid]
        pending = self.svc.pending
        if pending is not None and cid in pending.fingerprints:
            return pending.fingerprints[cid]
        return self.svc.cache.fingerprints.get(cid)

    # --- the two passes --------------------------------------------------------------

    def run(self, messages: Sequence[Message]) -> None:
        svc = self.svc
        rows = svc.begin(self.cur)
        norm, custom = svc.normalizer, svc.settings.custom_identifier_traits
        quick = fastpath.classify(self, messages) if fastpath.eligible(self) else None
        if quick is None:
            extracted = extract_batch(messages, norm, custom)
            self.fetch(self.missing(messages, extracted), rows)
        else:
            general = [m for m, q in zip(messages, quick, strict=True) if q is None]
            extracted = extract_batch(general, norm, custom)
            self.fetch(self.missing(general, extracted), rows)
            messages, extracted = fastpath.settle(self, messages, quick, extracted)
        keys = self.svc.settings.property_attribute_keys
        inputs = [profile_input(m, keys) for m in messages]
        self.preload(messages, extracted, inputs)
        for m, ex, p in zip(messages, extracted, inputs, strict=True):
            self.handle(m, ex, p)
        self.flush()

    def missing(self, messages: Sequence[Message], extracted: Sequence[Extracted]) -> list[Key]:
        """The batch's identifiers that neither the batch nor the cache knows."""
        out: set[Key] = set()
        owner = self.before_batch_owner()
        for m, ex in zip(messages, extracted, strict=True):
            keys = ex.keys
            if ex.previous_id is not None:
                extra = self.previous_keys(m.workspace_id, ex.previous_id)
                out.update(k for k in (*keys, *extra) if owner(k) is None)
                continue
            owners = [owner(k) for k in keys]
            if owners and owners[0] is not None and owners.count(owners[0]) == len(owners):
                ex.sole_owner = owners[0]  # the common case, settled here (no fetch can change it)
                continue
            out.update(k for k, o in zip(keys, owners, strict=True) if o is None)
        return list(out)

    def before_batch_owner(self) -> Callable[[Key], int | None]:
        """``owner`` while the batch has changed and fetched nothing yet: the pending
        overlay, then the map (``KeyMap.get`` inlined: this runs for every identifier)."""
        assert not self.changed_owners
        assert not self.fetched
        pending = self.svc.pending
        overlay = pending.owners if pending is not None and pending.owners else None
        maps = self.svc.cache.owners.maps

        def owner(key: Key) -> int | None:
            if overlay is not None and (found := overlay.get(key)) is not None:
                return found
            by_type = maps.get(key[0])
            values = by_type.get(key[1]) if by_type is not None else None
            return values.get(key[2]) if values is not None else None

        return owner

    @staticmethod
    def previous_keys(ws: str, previous_id: str) -> list[Key]:
        return [(ws, ANONYMOUS_ID, previous_id), (ws, EXTERNAL_ID, previous_id)]

    def fetch(self, missing: Sequence[Key], rows: int | None) -> None:
        """One query for the unknown identifiers that may be stored; certainly new ones (by
        their hash) need none. The cache learns them only after the batch (no eviction of
        what the batch relies on)."""
        if not missing:
            return
        known = self.svc.known
        known.sync(self.cur, rows if rows is not None else self.svc.identity_count(self.cur))
        hashes = key_hashes(self.cur, missing)
        self.key_hashes = dict(zip(missing, hashes, strict=True))
        maybe = known.maybe_stored(hashes)
        probable = [k for k, stored in zip(missing, maybe, strict=True) if stored]
        if probable:
            self.fetched = store.fetch_owners(self.cur, probable)
        misses = self.svc.misses
        misses.ruled_new += len(missing) - len(probable)
        misses.read += len(probable)
        misses.found += len(self.fetched)

    @staticmethod
    def all_identifiers(ex: Extracted) -> list[Identifier]:
        if ex.previous_id is None:
            return ex.identifiers
        return [*ex.identifiers, (ANONYMOUS_ID, ex.previous_id), (EXTERNAL_ID, ex.previous_id)]

    def preload(
        self,
        messages: Sequence[Message],
        extracted: Sequence[Extracted],
        inputs: Sequence[ProfileInput | None],
    ) -> None:
        """Load, in one query each, every contact the slow path will need (with identities)
        and every known contact whose traits must be compared (the row alone)."""
        needed: set[int] = set()
        rows: set[int] = set()
        for m, ex, p in zip(messages, extracted, inputs, strict=True):
            if ex.sole_owner is None and ex.keys and ex.previous_id is None:
                ex.sole_owner = self.sole_owner(ex.keys)
            if (cid := ex.sole_owner) is not None:
                if p is not None and self.needs_load(cid, p):
                    rows.add(cid)
                continue
            owners = {self.owner((m.workspace_id, t, v)) for t, v in self.all_identifiers(ex)}
            known = [c for c in owners if c is not None]
            # several owners (a merge), an alias, or an identifier nobody holds yet beside a
            # known one (attached by the rules, which read the contact's identities)
            if len(known) > 1 or ex.previous_id is not None or len(owners) != len(known):
                needed.update(known)
            elif len(known) == 1 and p is not None and self.needs_load(known[0], p):
                rows.add(known[0])
        self.load(sorted(needed))
        self.load(sorted(rows - needed), rows_only=True)

    def needs_load(self, cid: int, p: ProfileInput) -> bool:
        """Traits need the contact; a locale-only input does not (``locale``)."""
        return bool(p.traits) and not self.applied(cid, p.fingerprint)

    # --- one message -----------------------------------------------------------------

    def handle(self, m: Message, ex: Extracted, p: ProfileInput | None) -> None:
        # the owner found before the loop holds unless this batch changed one of these keys
        cid = ex.sole_owner
        changed = self.changed_owners
        if cid is not None and changed and not changed.keys().isdisjoint(ex.keys):
            cid = None
        if cid is None and ex.keys and ex.previous_id is None:
            cid = self.sole_owner(ex.keys)
        if cid is not None:
            self.known_contact(m, ex, p, cid)
            return
        ws = m.workspace_id
        idents = self.with_previous(ws, ex)
        owners = {i: self.owner((ws, *i)) for i in idents}
        if self.is_erased(ws, owners):
            m.dropped = "erased"
            return
        distinct = set(owners.values())
        if len(distinct) == 1 and None not in distinct and ex.previous_id is None:
            cid = next(iter(distinct))
            assert cid is not None
        else:
            cid = self.slow_path(m, idents, owners)
        m.contact_id = cid
        self.touch(ws, cid, idents, m.timestamp)
        if p is not None:
            self.apply_profile(m, cid, p)
        if ex.rejected:
            self.record_rejected(m, ex, cid)

    def known_contact(self, m: Message, ex: Extracted, p: ProfileInput | None, cid: int) -> None:
        """The hot path: every identifier already belongs to this one contact."""
        m.contact_id = cid
        if cid in self.states:
            self.touch(m.workspace_id, cid, ex.identifiers, m.timestamp)
        else:
            self.svc.note_seen_keys(cid, ex.keys, m.timestamp)
        if p is not None:
            self.apply_profile(m, cid, p)
        if ex.rejected:
            self.record_rejected(m, ex, cid)

    def with_previous(self, ws: str, ex: Extracted) -> list[Identifier]:
        """An alias's previousId is an external id when one is known, else an anonymous id."""
        if ex.previous_id is None:
            return ex.identifiers
        prev: Identifier = (EXTERNAL_ID, ex.previous_id)
        if self.owner((ws, *prev)) is None:
            prev = (ANONYMOUS_ID, ex.previous_id)
        return ex.identifiers if prev in ex.identifiers else [*ex.identifiers, prev]

    def is_erased(self, ws: str, owners: dict[Identifier, int | None]) -> bool:
        """An identifier of an erased person that no live contact holds again."""
        hashes = self.svc.suppressed_hashes(self.cur, ws)
        if not hashes:
            return False
        return any(
            (t, identifier_hash(t, v)) in hashes for (t, v), c in owners.items() if c is None
        )

    def slow_path(
        self, m: Message, idents: list[Identifier], owners: dict[Identifier, int | None]
    ) -> int:
        views = {c: self.state(c).view() for c in set(owners.values()) if c is not None}
        rules = self.svc.rule_settings
        plan = decide(idents, owners, views, rules, trigger_type=m.type)
        return self.execute(m, plan)

    def execute(self, m: Message, plan: Plan) -> int:
        target = self.new_contact(m) if plan.target is None else self.state(plan.target)
        for merge in plan.merges:
            self.merge(target, self.state(merge.loser), merge, m)
        for ident, from_cid in plan.takeovers:
            self.take_over(ident, self.state(from_cid), target, m)
        for ident in plan.attach:
            self.attach(target, ident, m.timestamp)
        for note in plan.notes:
            self.note(m, note.kind, target.id, note.other_contact, note.identifier, note.reason)
        if not plan.attach and not plan.takeovers and not plan.merges and target.is_new:
            self.note(m, "no_identifier", target.id, None, None, "no valid identifier")
        return target.id

    # --- changes ---------------------------------------------------------------------

    def changed(self, state: ContactState) -> None:
        state.updated_at = self.stamp
        state.dirty = True

    def new_contact(self, m: Message) -> ContactState:
        cid = self.svc.next_contact_id(self.cur)
        state = ContactState(
            m.workspace_id, cid, m.received_at, self.stamp, m.timestamp, is_new=True, dirty=True
        )
        self.states[cid] = state
        return state

    def set_owner(self, ws: str, ident: Identifier, cid: int) -> None:
        self.changed_owners[(ws, *ident)] = cid

    def attach(self, target: ContactState, ident: Identifier, at: datetime) -> None:
        target.identities[ident] = IdentityRow(at, at)
        key = (target.workspace_id, *ident)
        self.inserted.add(key)
        self.set_owner(target.workspace_id, ident, target.id)
        self.changed(target)

    def take_over(
        self, ident: Identifier, source: ContactState, target: ContactState, m: Message
    ) -> None:
        """A device of another person passes to this one; the people stay apart."""
        row = source.identities.pop(ident)
        target.identities[ident] = IdentityRow(m.timestamp, max(row.last_seen, m.timestamp))
        key = (target.workspace_id, *ident)
        if key not in self.inserted:
            self.moved.add(key)
        self.set_owner(target.workspace_id, ident, target.id)
        self.changed(source)
        self.changed(target)
        self.note(m, "takeover", target.id, source.id, ident, "device taken over at log-in")

    def merge(self, winner: ContactState, loser: ContactState, merge: Merge, m: Message) -> None:
        """Fold the loser into the winner: O(identities); events are never rewritten."""
        # serialized now: the states change below
        snapshot = store.dumps({"winner": winner.snapshot(), "loser": loser.snapshot()})
        for ident, row in loser.identities.items():
            winner.identities[ident] = row
            key = (winner.workspace_id, *ident)
            if key not in self.inserted:
                self.moved.add(key)
            self.set_owner(winner.workspace_id, ident, winner.id)
        loser.identities = {}
        combine(winner.attributes, winner.provenance, loser.attributes, loser.provenance,
                self.svc.policies)  # fmt: skip
        winner.language = winner.language or loser.language
        winner.timezone = winner.timezone or loser.timezone
        winner.created_at = min(winner.created_at, loser.created_at)
        if loser.last_seen_at is not None:
            winner.seen(loser.last_seen_at)
        loser.merged_into = winner.id
        self.changed(loser)
        self.changed(winner)
        self.fingerprints[winner.id] = self.fingerprints[loser.id] = None
        self.merge_rows.append(self.merge_row(merge, snapshot, m))

    def merge_row(self, merge: Merge, snapshot: str, m: Message) -> tuple[Any, ...]:
        """The merge's row; its id (first) is drawn with the batch's others in ``flush``."""
        inputs = [{"type": t, "value": v} for t, v in merge.inputs]
        return (
            None, m.workspace_id, self.stamp, merge.winner, merge.loser, merge.rule,
            m.message_id, store.dumps(inputs), snapshot,
        )  # fmt: skip

    def numbered_merges(self) -> list[tuple[Any, ...]]:
        """The batch's merge rows with ids drawn in one statement, ascending in the order the
        merges were made (an unmerge reverts the later merges of a contact first)."""
        if not self.merge_rows:
            return []
        ids = sorted(store.allocate_merge_ids(self.cur, len(self.merge_rows)))
        return [(i, *row[1:]) for i, row in zip(ids, self.merge_rows, strict=True)]

    def note(
        self,
        m: Message,
        kind: str,
        cid: int | None,
        other: int | None,
        ident: Identifier | None,
        reason: str,
    ) -> None:
        t, v = ident if ident is not None else (None, None)
        self.event_rows.append(
            (m.workspace_id, self.stamp, kind, cid, other, t, v, reason, m.message_id)
        )

    def record_rejected(self, m: Message, ex: Extracted, cid: int) -> None:
        """One ``rejected`` row per contact and value (a client may resend it on every event)."""
        reported = self.svc.reported_rejections
        for r in ex.rejected:
            key = (cid, r.id_type, r.raw)
            if r.reason == "blocked value" or key in reported:
                continue
            if len(reported) > 100_000:
                reported.clear()
            reported.add(key)
            self.event_rows.append(
                (m.workspace_id, self.stamp, "rejected", cid, None, r.id_type, r.raw,
                 r.reason, m.message_id)
            )  # fmt: skip

    def touch(self, ws: str, cid: int, idents: list[Identifier], at: datetime) -> None:
        """Advance last-seen times: in a loaded state, or in the write-behind maps."""
        state = self.states.get(cid)
        if state is not None:
            state.seen(at)
            if state.partial:  # its identities are not held: their times are written behind
                for ident in idents:
                    self.svc.note_identity_seen((ws, *ident), at)
                return
            for ident in idents:
                row = state.identities.get(ident)
                if row is not None and at > row.last_seen:
                    row.last_seen = at
                    self.svc.note_identity_seen((ws, *ident), at)
            return
        self.svc.note_seen(cid, ws, idents, at)

    def apply_profile(self, m: Message, cid: int, p: ProfileInput) -> None:
        if self.applied(cid, p.fingerprint):
            return
        if not p.traits and cid not in self.states:
            self.locales.add(cid, p.language, p.timezone, p.fingerprint)
            return
        state = self.profile_state(cid)
        prov = {"source": m.source, "at": m.timestamp.isoformat(), "message_id": m.message_id}
        changed = apply_traits(
            state.attributes, state.provenance, p.traits, prov, self.svc.policies
        )
        for name, value in (("language", p.language), ("timezone", p.timezone)):
            if value is not None and getattr(state, name) != value:
                setattr(state, name, value)
                changed = True
        if changed:
            self.changed(state)
        if late(state.provenance, p.traits, prov["at"]):
            # a value set by a later event: sent again with a newer time, this input may win
            self.fingerprints[cid] = None
        elif changed:
            self.fingerprints[cid] = (p.fingerprint,)
        else:  # every input kept since the last change leaves the profile as it is
            kept = self.fingerprint(cid) or ()
            self.fingerprints[cid] = (*kept[1 - MAX_FINGERPRINTS :], p.fingerprint)

    # --- writing ---------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything this batch decided, set-based."""
        states = list(self.states.values())
        new = [s for s in states if s.is_new]
        store.insert_contacts(self.cur, new)
        self.write_profiles([s for s in states if s.dirty and not s.is_new])
        svc = self.svc
        for s in states:  # seen, not changed: written behind, as for contacts not loaded
            if not s.dirty and not s.is_new and s.last_seen_at is not None:
                svc.note_contact_seen(s.id, s.last_seen_at)
        self.insert_identities()
        store.repoint_identities(self.cur, self.identity_rows(self.moved - self.inserted))
        store.insert_merges(self.cur, self.numbered_merges())
        store.insert_identity_events(self.cur, self.event_rows)
        for s in states:
            s.is_new = s.dirty = False
        cache = self.svc.cache
        for key, cid in self.fetched.items():
            cache.put(key, cid)

    def write_profiles(self, dirty: list[ContactState]) -> None:
        """Loaded contacts that changed (only the columns they changed) and the queued locale
        inputs; then what is known to be a no-op.

        Where the writer reports its units' outcomes, nothing needs to know which queued
        locales changed a contact (no commit probe), so they are written by their own narrow
        ``UPDATE`` without ``RETURNING`` and every input written counts as changed (only its
        own fingerprint is kept: the stored locale now holds what it gives). Otherwise one
        statement (``store.write_profiles``) that says which changed."""
        changes = self.locales.changes
        if self.svc.reports_outcomes():
            rows = self.locales.rows()
            dirty = self.fold_locale_only(dirty, rows)
            store.write_locales(self.cur, rows, self.stamp)
            store.update_contacts(self.cur, dirty, changed_only=True)
            for cid, change in changes.items():
                self.fingerprints[cid] = fingerprints_after(change, True, None)
            return
        if not changes:
            store.update_contacts(self.cur, dirty, changed_only=True)
            return
        narrow = len(self.svc.known) >= store.NARROW_LOCALES_FROM
        changed = store.write_profiles(
            self.cur, dirty, self.locales.rows(), self.stamp, narrow=narrow
        )
        for cid, change in self.locales.changes.items():
            kept = self.fingerprint(cid)
            self.fingerprints[cid] = fingerprints_after(change, cid in changed, kept)
        self.locale_probe = next(iter(changed), None)

    def fold_locale_only(
        self, dirty: list[ContactState], rows: list[tuple[int, str | None, str | None]]
    ) -> list[ContactState]:
        """Add to the locale ``rows`` the loaded contacts whose only change is a locale
        (``store.locale_row``); returns the others. Such a contact's ``last_seen_at`` goes
        to the write-behind, as for a contact that was only seen: the unit then runs one
        ``UPDATE`` of ``contacts`` where it ran two."""
        queued = self.locales.changes
        rest = []
        for state in dirty:
            row = None if state.id in queued else store.locale_row(state, self.stamp)
            if row is None:
                rest.append(state)
                continue
            rows.append(row)
            stored_seen = state.loaded[store.LAST_SEEN_AT] if state.loaded is not None else None
            if state.last_seen_at is not None and state.last_seen_at != stored_seen:
                self.svc.note_contact_seen(state.id, state.last_seen_at)
        return rest

    def insert_identities(self) -> None:
        rows = self.identity_rows(self.inserted)
        if not rows:
            return
        known = self.svc.known
        try:
            store.insert_identities(self.cur, rows)
        except duckdb.ConstraintException as exc:  # stored behind our back by another writer
            known.expected_rows = None
            raise RuntimeError("identifiers stored concurrently by another writer; retry") from exc
        known.added([self.key_hashes.get(k) or key_hash(k) for k in self.inserted])

    def identity_rows(self, keys: set[Key]) -> list[tuple[Any, ...]]:
        rows = []
        for key in keys:  # unsorted: sorting 15k key tuples costs more than the insert
            cid = self.changed_owners[key]
            row = self.states[cid].identities[(key[1], key[2])]
            rows.append((key[0], key[1], key[2], cid, row.first_seen, row.last_seen))
        return rows

    def probe(self) -> tuple[int, datetime] | None:
        """A contact this batch stamped: proof, later, that the transaction committed."""
        for s in self.states.values():
            if s.updated_at == self.stamp:
                return (s.id, self.stamp)
        return None if self.locale_probe is None else (self.locale_probe, self.stamp)

    def has_changes(self) -> bool:
        return bool(self.changed_owners or self.fingerprints or self.probe())
