"""Field-conflict policies for profile attributes, with provenance (pure).

Each attribute has a provenance ``{"source", "at", "message_id"}``: where the current value
came from and the event time that set it. An incoming value (from an identify, or from the
other contact in a merge) is weighed against the current one by the attribute's policy:

- ``latest``: the value with the most recent event time wins (ties: the incoming one);
- ``first``: the first non-empty value stays (in a merge, the one set earliest);
- ``max``: the larger value (numbers, or ISO dates as text);
- ``union``: lists are combined without duplicates, in first-seen order;
- ``source_priority``: the value from the higher-priority source wins, then ``latest``.

Empty values (``None``, ``""``, ``[]``) never overwrite anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Provenance = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Policies:
    by_field: Mapping[str, str]
    default: str = "latest"
    source_priority: Sequence[str] = ()

    def of(self, name: str) -> str:
        return self.by_field.get(name, self.default)

    def rank(self, source: str | None) -> int:
        """Lower is stronger; unknown sources rank last."""
        try:
            return list(self.source_priority).index(source or "")
        except ValueError:
            return len(self.source_priority)


def is_empty(value: Any) -> bool:
    """Whether a value counts as absent.

    >>> [is_empty(v) for v in (None, "", [], 0, False)]
    [True, True, True, False, False]
    """
    return value is None or value == "" or value == [] or value == {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def union(current: Any, incoming: Any) -> list[Any]:
    """Combine lists without duplicates, in first-seen order.

    >>> union(["a", "b"], ["b", "c"])
    ['a', 'b', 'c']
    """
    out = _as_list(current) if not is_empty(current) else []
    for item in _as_list(incoming):
        if item not in out:
            out.append(item)
    return out


def larger(current: Any, incoming: Any) -> bool:
    """Whether ``incoming`` beats ``current`` under ``max`` (incomparable: no).

    >>> larger(3, 5), larger("2026-01-02", "2025-12-31"), larger(3, "x")
    (True, False, False)
    """
    try:
        return bool(incoming > current)
    except TypeError:
        return False


def _newer(cur_prov: Provenance | None, new_prov: Provenance) -> bool:
    if not cur_prov or cur_prov.get("at") is None:
        return True
    return str(new_prov.get("at") or "") >= str(cur_prov["at"])


def _older(cur_prov: Provenance | None, new_prov: Provenance) -> bool:
    if not cur_prov or cur_prov.get("at") is None:
        return False
    return str(new_prov.get("at") or "") < str(cur_prov["at"])


def incoming_wins(
    policy: str,
    current: Any,
    cur_prov: Provenance | None,
    incoming: Any,
    new_prov: Provenance,
    policies: Policies,
    *,
    merging: bool,
) -> bool:
    """Whether the incoming value replaces the current one (``union`` is handled apart)."""
    if is_empty(current):
        return True
    if policy == "first":
        return merging and _older(cur_prov, new_prov)
    if policy == "max":
        return larger(current, incoming)
    if policy == "source_priority":
        cur_rank = policies.rank((cur_prov or {}).get("source"))
        new_rank = policies.rank(new_prov.get("source"))
        if new_rank != cur_rank:
            return new_rank < cur_rank
    return _newer(cur_prov, new_prov)


def _better_source(
    policy: str, cur_prov: Provenance | None, new_prov: Provenance, policies: Policies
) -> bool:
    if policy != "source_priority":
        return False
    return policies.rank(new_prov.get("source")) < policies.rank((cur_prov or {}).get("source"))


def apply_value(
    attributes: dict[str, Any],
    provenance: dict[str, Provenance],
    name: str,
    incoming: Any,
    new_prov: Provenance,
    policies: Policies,
    *,
    merging: bool = False,
) -> bool:
    """Weigh one incoming value; update ``attributes``/``provenance`` in place; True if changed."""
    if is_empty(incoming):
        return False
    current = attributes.get(name)
    policy = policies.of(name)
    if policy == "union":
        combined = union(current, incoming)
        if combined == current:
            return False
        attributes[name] = combined
        provenance[name] = dict(new_prov)
        return True
    cur_prov = provenance.get(name)
    if current == incoming and not _better_source(policy, cur_prov, new_prov, policies):
        return False  # the same value again: provenance keeps when it was set
    if not incoming_wins(policy, current, cur_prov, incoming, new_prov, policies, merging=merging):
        return False
    attributes[name] = incoming
    provenance[name] = dict(new_prov)
    return True


def apply_traits(
    attributes: dict[str, Any],
    provenance: dict[str, Provenance],
    traits: Mapping[str, Any],
    new_prov: Provenance,
    policies: Policies,
) -> bool:
    """Apply one event's traits; True if anything changed.

    >>> attrs, prov = {"plan": "free"}, {"plan": {"at": "2026-01-01T00:00:00+00:00"}}
    >>> p = Policies(by_field={})
    >>> apply_traits(attrs, prov, {"plan": "pro"}, {"at": "2025-06-01T00:00:00+00:00"}, p)
    False
    >>> apply_traits(attrs, prov, {"plan": "pro"}, {"at": "2026-02-01T00:00:00+00:00"}, p)
    True
    >>> attrs["plan"]
    'pro'
    """
    changed = False
    for name, value in traits.items():
        if apply_value(attributes, provenance, name, value, new_prov, policies):
            changed = True
    return changed


def combine(
    winner_attrs: dict[str, Any],
    winner_prov: dict[str, Provenance],
    loser_attrs: Mapping[str, Any],
    loser_prov: Mapping[str, Provenance],
    policies: Policies,
) -> None:
    """Fold the loser's attributes into the winner's (in place), field by field.

    >>> w, wp = {"tags": ["a"], "name": "Ann"}, {"name": {"at": "2026-01-01"}}
    >>> combine(w, wp, {"tags": ["b"], "name": "Anna"}, {"name": {"at": "2025-01-01"}},
    ...         Policies(by_field={"tags": "union"}))
    >>> w
    {'tags': ['a', 'b'], 'name': 'Ann'}
    """
    for name, value in loser_attrs.items():
        prov = dict(loser_prov.get(name) or {})
        apply_value(winner_attrs, winner_prov, name, value, prov, policies, merging=True)
