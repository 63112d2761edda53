"""The merge policy: which contact an event belongs to, and what links, merges or moves (pure).

Safe defaults (``IdentitySettings``):

- two contacts with different external ids never merge, whatever they share;
- a contact without an external id joins the one the event resolves to when they share an
  identifier of a type in ``merge_on`` (anonymous history joins on identify);
- when a person logs in (the event has a ``userId``) with a device identifier (``device_types``:
  anonymous id, push token) that belongs to another person, the device is taken over —
  the identifier moves, the two people stay apart;
- an email/phone/custom identifier shared with another person is a conflict: nothing moves;
- per-type limits: an identifier that would exceed its type's limit is not attached, and a
  merge that would exceed a limit does not happen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from retenta.identity.normalize import CUSTOM_PREFIX, EXTERNAL_ID, Identifier
from retenta.settings import IdentitySettings


@dataclass(frozen=True, slots=True)
class ContactView:
    """What the rules need to know about a contact."""

    id: int
    external_ids: frozenset[str]
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RuleSettings:
    limits: Mapping[str, int]
    custom_limit: int
    merge_on: frozenset[str]
    device_types: frozenset[str]

    @classmethod
    def from_settings(cls, s: IdentitySettings) -> RuleSettings:
        return cls(
            dict(s.max_per_type),
            s.max_per_custom_type,
            frozenset(s.merge_on),
            frozenset(s.device_types),
        )

    def limit(self, id_type: str) -> int:
        if id_type.startswith(CUSTOM_PREFIX):
            return self.limits.get(id_type, self.custom_limit)
        return self.limits.get(id_type, 1_000_000)

    def may_merge_on(self, id_type: str) -> bool:
        """Whether an identifier of this type may link two contacts into one.

        >>> rs = RuleSettings({}, 5, frozenset({"email", "custom"}), frozenset())
        >>> rs.may_merge_on("custom:card"), rs.may_merge_on("external_id")
        (True, False)
        """
        if id_type == EXTERNAL_ID:
            return False
        base = "custom" if id_type.startswith(CUSTOM_PREFIX) else id_type
        return id_type in self.merge_on or base in self.merge_on


@dataclass(slots=True)
class Merge:
    winner: int
    loser: int
    rule: str
    inputs: list[Identifier]


@dataclass(frozen=True, slots=True)
class Note:
    """Something the rules refused, for ``identity_events``."""

    kind: str  # conflict | limit | takeover
    identifier: Identifier
    other_contact: int | None
    reason: str


@dataclass(slots=True)
class Plan:
    target: int | None  # None: create a new contact
    attach: list[Identifier] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    takeovers: list[tuple[Identifier, int]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def _owned(
    identifiers: Sequence[Identifier], owners: Mapping[Identifier, int | None]
) -> list[tuple[Identifier, int]]:
    return [(i, c) for i in identifiers if (c := owners.get(i)) is not None]


def choose_target(
    ext: str | None,
    owned: Sequence[tuple[Identifier, int]],
    views: Mapping[int, ContactView],
) -> int | None:
    """The contact the event belongs to: the external id's owner; else a contact without an
    external id (the oldest); without a userId, the strongest identifier's identified owner."""
    if ext is not None:
        for ident, cid in owned:
            if ident == (EXTERNAL_ID, ext):
                return cid
        free = sorted({c for _, c in owned if not views[c].external_ids})
        return free[0] if free else None
    identified = [c for _, c in owned if views[c].external_ids]
    if identified:
        return identified[0]
    return min((c for _, c in owned), default=None)


def merge_rule(trigger_type: str, loser: ContactView, ident: Identifier, rs: RuleSettings) -> str:
    """The name recorded for a merge.

    >>> v = ContactView(7, frozenset(), {"anonymous_id": 1})
    >>> rs = RuleSettings({}, 5, frozenset(), frozenset({"anonymous_id"}))
    >>> merge_rule("identify", v, ("anonymous_id", "a1"), rs)
    'anonymous_history'
    """
    if trigger_type == "alias":
        return "alias"
    if set(loser.counts) <= rs.device_types:
        return "anonymous_history"
    return f"shared_{ident[0]}"


class _Counts:
    """The target's identifier counts as the plan grows."""

    def __init__(self, base: Mapping[str, int]) -> None:
        self.n = dict(base)

    def fits(self, extra: Mapping[str, int], rs: RuleSettings) -> str | None:
        for id_type, k in extra.items():
            if self.n.get(id_type, 0) + k > rs.limit(id_type):
                return f"limit of {rs.limit(id_type)} {id_type} identifiers reached"
        return None

    def add(self, extra: Mapping[str, int]) -> None:
        for id_type, k in extra.items():
            self.n[id_type] = self.n.get(id_type, 0) + k


def decide(
    identifiers: Sequence[Identifier],
    owners: Mapping[Identifier, int | None],
    views: Mapping[int, ContactView],
    rs: RuleSettings,
    *,
    trigger_type: str = "track",
) -> Plan:
    """Apply the rules to one event's identifiers (strongest first)."""
    ext = next((v for t, v in identifiers if t == EXTERNAL_ID), None)
    owned = _owned(identifiers, owners)
    target = choose_target(ext, owned, views)
    plan = Plan(target)
    person = set(views[target].external_ids) if target is not None else set()
    if ext is not None:
        person.add(ext)
    counts = _Counts(views[target].counts if target is not None else {})
    _link_others(
        plan, owned, views, rs, person, counts, logged_in=ext is not None, trigger=trigger_type
    )
    _attach_new(plan, identifiers, owners, rs, counts)
    return plan


def _link_others(
    plan: Plan,
    owned: Sequence[tuple[Identifier, int]],
    views: Mapping[int, ContactView],
    rs: RuleSettings,
    person: set[str],
    counts: _Counts,
    *,
    logged_in: bool,
    trigger: str,
) -> None:
    merged: dict[int, Merge] = {}
    for ident, cid in owned:
        if cid == plan.target:
            continue
        if cid in merged:
            merged[cid].inputs.append(ident)
            continue
        other = views[cid]
        if other.external_ids and not other.external_ids & person:
            _different_person(plan, ident, cid, rs, counts, logged_in=logged_in)
        elif not rs.may_merge_on(ident[0]):
            plan.notes.append(Note("conflict", ident, cid, f"{ident[0]} does not merge contacts"))
        elif reason := counts.fits(other.counts, rs):
            plan.notes.append(Note("limit", ident, cid, f"merge refused: {reason}"))
        else:
            assert plan.target is not None  # a contact without external id always has a target
            counts.add(other.counts)
            merged[cid] = Merge(plan.target, cid, merge_rule(trigger, other, ident, rs), [ident])
            plan.merges.append(merged[cid])


def _different_person(
    plan: Plan, ident: Identifier, cid: int, rs: RuleSettings, counts: _Counts, *, logged_in: bool
) -> None:
    """Another person holds this identifier: take a device over, or record a conflict."""
    if not (logged_in and ident[0] in rs.device_types):
        plan.notes.append(Note("conflict", ident, cid, "belongs to a contact of another person"))
        return
    if reason := counts.fits({ident[0]: 1}, rs):
        plan.notes.append(Note("limit", ident, cid, f"takeover refused: {reason}"))
        return
    counts.add({ident[0]: 1})
    plan.takeovers.append((ident, cid))


def _attach_new(
    plan: Plan,
    identifiers: Sequence[Identifier],
    owners: Mapping[Identifier, int | None],
    rs: RuleSettings,
    counts: _Counts,
) -> None:
    for ident in identifiers:
        if owners.get(ident) is not None:
            continue
        if reason := counts.fits({ident[0]: 1}, rs):
            plan.notes.append(Note("limit", ident, plan.target, reason))
            continue
        counts.add({ident[0]: 1})
        plan.attach.append(ident)
