"""Brand-new contacts of a bulk import, created set-based (the common first import).

Most rows of a first import are people nobody has seen: every identifier of the row is new
and no other row of the chunk shares one. For such a row identity resolution has nothing to
decide — the rules attach each identifier to one fresh contact and the field policies set
every non-empty trait — so ``create_new_contacts`` does exactly that for all of them at
once: ids from ``contact_id_seq`` in one statement, ``contacts`` and ``identities``
appended from Arrow tables. Every other row is left to the regular resolver, unchanged:

- an identifier that is (or may be) stored already, by its hash in ``known``;
- an identifier another row of the same batch also carries (their order matters there);
- a value that is not a valid identifier (the resolver records it), no identifier at all,
  an alias, more identifiers of a type than the per-type limit;
- an identifier of an erased person (the resolver drops the row).

Normalization is the resolver's own (``extract`` with the service's ``Normalizer``), and
the contact row is the one the resolver writes for a new contact (a test compares them).
"""

from __future__ import annotations

import functools
import gc
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from retenta.core.messages import Message
from retenta.identity import store
from retenta.identity.columns import PhoneVerdict, normalized_phones
from retenta.identity.known import KnownIdentifiers, key_hashes
from retenta.identity.normalize import (
    PHONE,
    Extracted,
    Normalizer,
    extract,
    identifier_hash,
)
from retenta.identity.profile import Policies, Provenance, is_empty, union

if TYPE_CHECKING:
    from retenta.identity.service import IdentityService

Key = tuple[str, str, str]
# Below this many candidates the regular resolver is as fast; not worth a second path.
MIN_BULK_ROWS = 64


@dataclass(slots=True)
class Candidate:
    """A message whose identifiers all look new, with its keys ``(workspace, type, value)``."""

    index: int
    message: Message
    keys: list[Key]
    hashes: list[int] = field(default_factory=list)


class _WithPhones(Normalizer):
    """The service's normalizer, with a batch's phones settled beforehand."""

    def __init__(self, base: Normalizer, phones: dict[str, PhoneVerdict]) -> None:
        super().__init__(base.settings, max_entries=0)
        self.base = base
        self.phones = phones

    def __call__(self, id_type: str, raw: Any) -> PhoneVerdict:
        if id_type == PHONE and isinstance(raw, str) and (found := self.phones.get(raw)):
            return found
        return self.base(id_type, raw)


def fresh_attributes(
    traits: dict[str, Any], prov: Provenance, policies: Policies
) -> tuple[dict[str, Any], dict[str, Provenance]]:
    """``apply_traits`` on an empty profile: every non-empty trait is set (``union`` fields
    as a list), each with the message's provenance.

    >>> p = Policies(by_field={"tags": "union"})
    >>> fresh_attributes({"a": 1, "b": "", "tags": "x"}, {"source": "import"}, p)
    ({'a': 1, 'tags': ['x']}, {'a': {'source': 'import'}, 'tags': {'source': 'import'}})
    """
    attributes = fresh_values(traits, policies)
    return attributes, {name: dict(prov) for name in attributes}


def fresh_values(traits: dict[str, Any], policies: Policies) -> dict[str, Any]:
    """The attributes of ``fresh_attributes``, without their provenance."""
    return {
        name: union(None, value) if policies.of(name) == "union" else value
        for name, value in traits.items()
        if not is_empty(value)
    }


def provenance_json(names: Iterable[str], prov: Provenance) -> str:
    """``dumps({name: prov for name in names})``, serializing ``prov`` once.

    >>> provenance_json(["a", "b"], {"source": "import"})
    '{"a":{"source":"import"},"b":{"source":"import"}}'
    """
    one = store.dumps(prov)
    return "{" + ",".join(f"{store.dumps(name)}:{one}" for name in names) + "}"


def within_limits(identifiers: Sequence[tuple[str, str]], limit: Any) -> bool:
    """Whether one new contact may hold all these identifiers (``limit(type)`` each).

    >>> within_limits([("email", "a@x.io"), ("email", "b@x.io")], lambda t: 1)
    False
    """
    if len(identifiers) == 1:
        return bool(limit(identifiers[0][0]) >= 1)
    counts = Counter(t for t, _ in identifiers)
    return all(k <= limit(t) for t, k in counts.items())


def _candidates(svc: IdentityService, messages: Sequence[Message]) -> list[Candidate]:
    """Messages that identity resolution would certainly turn into a new contact, as far as
    the batch itself tells (storage is checked after)."""
    custom = svc.settings.custom_identifier_traits
    phones = normalized_phones((m.traits.get(PHONE) for m in messages), svc.settings)
    norm = _WithPhones(svc.normalizer, phones)
    limit = functools.cache(svc.rule_settings.limit)
    extracted: list[Extracted] = [extract(m, norm, custom) for m in messages]
    seen: dict[Key, int] = {}
    for m, ex in zip(messages, extracted, strict=True):
        ex.keys = [(m.workspace_id, t, v) for t, v in ex.identifiers]
        for k in ex.keys:
            seen[k] = seen.get(k, 0) + 1
    out = []
    for i, (m, ex) in enumerate(zip(messages, extracted, strict=True)):
        if m.type != "identify" or ex.previous_id is not None or ex.rejected or not ex.keys:
            continue
        if not within_limits(ex.identifiers, limit):
            continue
        if all(seen[k] == 1 for k in ex.keys):
            out.append(Candidate(i, m, ex.keys))
    return out


def maybe_stored(known: KnownIdentifiers, hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    """``known.maybe_stored`` by array operations (the import checks ~15k keys a chunk).

    >>> k = KnownIdentifiers()
    >>> k.sorted, k.recent = np.array([3, 9], dtype=np.uint64), {5}
    >>> maybe_stored(k, [9, 4, 5]).tolist()
    [True, False, True]
    """
    arr = np.asarray(hashes, dtype=np.uint64)
    stored = known.sorted
    hit = np.zeros(arr.size, dtype=bool)
    if stored.size:
        pos = np.minimum(np.searchsorted(stored, arr), stored.size - 1)
        hit = stored[pos] == arr
    recent = known.recent.intersection(arr.tolist()) if known.recent else set()
    if recent:
        hit |= np.isin(arr, np.fromiter(recent, dtype=np.uint64, count=len(recent)))
    return hit


def _unknown(svc: IdentityService, conn: Any, found: list[Candidate]) -> list[Candidate]:
    """The candidates none of whose identifiers is stored, nor suppressed (erased person)."""
    svc.known.sync(conn, store.identity_count(conn))
    hashes = iter(key_hashes(conn, [k for c in found for k in c.keys]))
    for c in found:
        c.hashes = [next(hashes) for _ in c.keys]
    maybe = iter(maybe_stored(svc.known, [h for c in found for h in c.hashes]).tolist())
    fresh = [c for c in found if not any([next(maybe) for _ in c.keys])]
    by_ws = {c.message.workspace_id for c in fresh}
    suppressed = {ws: svc.suppressed_hashes(conn, ws) for ws in by_ws}
    if not any(suppressed.values()):
        return fresh
    return [
        c
        for c in fresh
        if not any((t, identifier_hash(t, v)) in suppressed[ws] for ws, t, v in c.keys)
    ]


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def profile_of(m: Message, property_keys: Sequence[str]) -> tuple[dict[str, Any], Any, Any]:
    """``(traits, language, timezone)`` as ``profile_input.profile_input`` reads them from an
    identify message (without its fingerprint, which a new contact does not need)."""
    traits = dict(m.traits) if m.traits else {}
    for key in property_keys:
        if key in m.properties:
            traits[key] = m.properties[key]
    ctx = m.context
    language = _text(traits.get("language")) or _text(ctx.get("locale"))
    timezone = _text(traits.get("timezone")) or _text(ctx.get("timezone"))
    return traits, language, timezone


def _contact_table(
    svc: IdentityService, rows: Sequence[Candidate], ids: np.ndarray, stamp: datetime
) -> pa.Table:
    keys, policies = svc.settings.property_attribute_keys, svc.policies
    columns: list[list[Any]] = [[] for _ in store.CONTACT_SCHEMA.names]
    at_text: dict[datetime, str] = {}
    for c, cid in zip(rows, ids.tolist(), strict=True):
        m = c.message
        traits, language, timezone = profile_of(m, keys)
        at = at_text.get(m.timestamp) or at_text.setdefault(m.timestamp, m.timestamp.isoformat())
        prov = {"source": m.source, "at": at, "message_id": m.message_id}
        attributes = fresh_values(traits, policies)
        row = (
            m.workspace_id, cid, m.received_at, stamp, m.timestamp, None,
            store.dumps(attributes), provenance_json(attributes, prov), language, timezone,
        )  # fmt: skip
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return pa.table(columns, schema=store.CONTACT_SCHEMA)


def _identity_table(rows: Sequence[Candidate], ids: np.ndarray) -> pa.Table:
    keys = [k for c in rows for k in c.keys]
    ws, types, values = zip(*keys, strict=True)
    per_row = np.fromiter((len(c.keys) for c in rows), dtype=np.int64, count=len(rows))
    times = pa.array([c.message.timestamp for c in rows], store.TS).take(
        pa.array(np.repeat(np.arange(len(rows)), per_row))
    )
    columns = [list(ws), list(types), list(values), np.repeat(ids, per_row), times, times]
    return pa.table(columns, schema=store.IDENTITY_SCHEMA)


def allocate_ids(conn: Any, n: int) -> np.ndarray:
    """``n`` fresh contact ids from ``contact_id_seq`` in one statement (never reused)."""
    found = conn.execute("SELECT nextval('contact_id_seq') AS id FROM range(?)", [n])
    return np.asarray(found.fetchnumpy()["id"], dtype=np.int64)


def create_new_contacts(
    svc: IdentityService, conn: Any, messages: Sequence[Message]
) -> list[Message]:
    """Create, set-based, the contacts of the messages that only bring new people; set their
    ``contact_id``. Returns the other messages, in order, for ``svc.resolve``.

    Runs inside the writer's unit of work, before ``svc.resolve`` of the rest.
    """
    collecting = gc.isenabled()
    gc.disable()  # many short-lived objects; collections would cost a third (as in resolve)
    try:
        return _create(svc, conn, messages)
    finally:
        if collecting:
            gc.enable()


def _create(svc: IdentityService, conn: Any, messages: Sequence[Message]) -> list[Message]:
    found = _candidates(svc, messages)
    if len(found) < MIN_BULK_ROWS:
        return list(messages)
    fresh = _unknown(svc, conn, found)
    if len(fresh) < MIN_BULK_ROWS:
        return list(messages)
    ids = allocate_ids(conn, len(fresh))
    stamp = datetime.now(UTC)
    _new_contacts = _contact_table(svc, fresh, ids, stamp)
    _new_identities = _identity_table(fresh, ids)
    cols = ", ".join(store.CONTACT_SCHEMA.names)
    conn.execute(f"INSERT INTO contacts ({cols}) SELECT {cols} FROM _new_contacts")
    cols = ", ".join(store.IDENTITY_SCHEMA.names)
    conn.execute(f"INSERT INTO identities ({cols}) SELECT {cols} FROM _new_identities")
    svc.known.added([h for c in fresh for h in c.hashes])
    done = set()
    for c, cid in zip(fresh, ids.tolist(), strict=True):
        c.message.contact_id = cid
        done.add(c.index)
    return [m for i, m in enumerate(messages) if i not in done]
