"""The batch's common case in two tight loops: known people, plain ids, a locale at most.

Most events of a storefront carry only ``userId``/``anonymousId`` of a person the writer
already maps, and no trait: resolving one is a couple of dictionary lookups, a last-seen
time and, at most, a queued locale. Through the general path (``extract``, the owner pass,
``profile_input``, ``handle``) that cost ~10 µs of Python an event, nearly all of it calls
and per-event objects. Here it is done inline, without an ``Extracted`` per event.

Exactness: such a message (``Quick``) is settled here only when no other message of the
batch may touch its contact. Every change the general path makes (a merge, a takeover, an
attach, a load, a profile write) is to a contact that owns, before the batch, one of the
identifiers of the general path's messages (or to a new contact). So the owners of those
identifiers are ``involved``; a quick message of an involved contact goes down the general
path in its place, and the quick messages of everyone else commute with the general path's
work: they change only their own contact's last-seen times (maxima) and queued locale, in
message order. A test runs the same streams with ``FAST_PATH`` off and compares the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from retenta.core.messages import Message
from retenta.identity.normalize import (
    ANONYMOUS_ID,
    EMAIL,
    EXTERNAL_ID,
    MAX_VALUE_LENGTH,
    PHONE,
    Extracted,
    blocked_values,
)
from retenta.identity.profile_input import _LOCALE_ONLY as LOCALE_ONLY
from retenta.identity.profile_input import ProfileInput, _locale_only

if TYPE_CHECKING:
    from retenta.identity.resolver import BatchResolver

Key = tuple[str, str, str]
FAST_PATH = True  # off: every message takes the general path (the tests' reference)


# A message whose identifiers all belong to one contact before the batch: (contact id,
# its userId key, its anonymousId key, its profile input). A plain tuple: a NamedTuple's
# constructor cost ~0.8 µs an event here.
Quick = tuple[int, Key | None, Key | None, ProfileInput | None]


def eligible(batch: BatchResolver) -> bool:
    """Whether the settings allow the quick path (no custom identifiers, no property
    attributes: then only ``userId``/``anonymousId``, traits and locale matter)."""
    settings = batch.svc.settings
    return (
        FAST_PATH and not settings.custom_identifier_traits and not settings.property_attribute_keys
    )


def _overlay(batch: BatchResolver) -> dict[str, dict[str, dict[str, int]]]:
    """The pending overlay's owners nested like ``KeyMap`` (a None owner defers to the map)."""
    nested: dict[str, dict[str, dict[str, int]]] = {}
    pending = batch.svc.pending
    if pending is not None:
        for (ws, id_type, value), cid in pending.owners.items():
            if cid is not None:
                nested.setdefault(ws, {}).setdefault(id_type, {})[value] = cid
    return nested


def classify(batch: BatchResolver, messages: Sequence[Message]) -> list[Quick | None]:
    """A ``Quick`` for each message the quick path may settle, None for the others.

    Quick: not an alias, no traits, no e-mail or phone in properties or context traits, no
    push token (``normalize.only_ids``), a plain ``userId`` and/or ``anonymousId`` that
    all belong to one contact before the batch (the pending overlay, then the map).
    """
    blocked = blocked_values(batch.svc.settings)
    # ``str.lower`` never shortens a string: a value longer than every blocked one is not
    # blocked, and most ids are (no ``lower()`` and set lookup for them)
    blocked_len = max(map(len, blocked), default=0)
    overlay, maps = _overlay(batch), batch.svc.cache.owners.maps
    none: dict[str, int] = {}
    out: list[Quick | None] = []
    append = out.append
    current_ws: str | None = None
    users = anons = none
    over_users: dict[str, int] | None = None
    over_anons: dict[str, int] | None = None
    for m in messages:
        if m.traits or m.type == "alias":
            append(None)
            continue
        props, ctx = m.properties, m.context
        if props and (EMAIL in props or PHONE in props):
            append(None)
            continue
        if ctx:
            inner = ctx.get("traits")
            if inner and isinstance(inner, dict) and (EMAIL in inner or PHONE in inner):
                append(None)
                continue
            device = ctx.get("device")
            if isinstance(device, dict) and device.get("token") is not None:
                append(None)
                continue
        ws = m.workspace_id
        if ws != current_ws:
            current_ws = ws
            by_type, over = maps.get(ws) or {}, overlay.get(ws) or {}
            users, anons = by_type.get(EXTERNAL_ID) or none, by_type.get(ANONYMOUS_ID) or none
            # None when empty (always, where the writer reports outcomes: no lookups)
            over_users = over.get(EXTERNAL_ID) or None
            over_anons = over.get(ANONYMOUS_ID) or None
        uid, aid = m.user_id, m.anonymous_id
        cid = user_key = anon_key = None
        if uid is not None:  # ``_plain``, inline (this loop runs for every event)
            if type(uid) is not str:
                append(None)
                continue
            uid = uid.strip()
            n = len(uid)
            if not n or n > MAX_VALUE_LENGTH or (n <= blocked_len and uid.lower() in blocked):
                append(None)
                continue
            cid = over_users.get(uid) if over_users is not None else None
            if cid is None:
                cid = users.get(uid)
                if cid is None:
                    append(None)
                    continue
            user_key = (ws, EXTERNAL_ID, uid)
        if aid is not None:
            if type(aid) is not str:
                append(None)
                continue
            aid = aid.strip()
            n = len(aid)
            if not n or n > MAX_VALUE_LENGTH or (n <= blocked_len and aid.lower() in blocked):
                append(None)
                continue
            owner = over_anons.get(aid) if over_anons is not None else None
            if owner is None:
                owner = anons.get(aid)
            if owner is None or (cid is not None and owner != cid):
                append(None)
                continue
            cid = owner
            anon_key = (ws, ANONYMOUS_ID, aid)
        if cid is None:  # no identifier at all: a new contact of its own
            append(None)
            continue
        try:  # ``_locale_only``'s memo, inline
            p = LOCALE_ONLY[(ctx.get("locale"), ctx.get("timezone"))]
        except (KeyError, TypeError):
            p = _locale_only(ctx)
        append((cid, user_key, anon_key, p))
    return out


def involved(batch: BatchResolver, slow: Sequence[tuple[Message, Extracted]]) -> set[int]:
    """Owners of every identifier of the general path's messages (previous ids included)."""
    owner, found = batch.owner, set()
    for m, ex in slow:
        for key in ex.keys:
            found.add(owner(key))
        if ex.previous_id is not None:
            for key in batch.previous_keys(m.workspace_id, ex.previous_id):
                found.add(owner(key))
    found.discard(None)
    return {c for c in found if c is not None}


def as_extracted(q: Quick) -> Extracted:
    """What ``extract_batch`` gives for a quick message, its sole owner settled."""
    keys = [k for k in (q[1], q[2]) if k is not None]
    ex = Extracted([(t, v) for _, t, v in keys], [], None, keys)
    ex.sole_owner = q[0]
    return ex


def settle(
    batch: BatchResolver,
    messages: Sequence[Message],
    quick: Sequence[Quick | None],
    extracted: Sequence[Extracted],
) -> tuple[list[Message], list[Extracted]]:
    """Settle the quick messages of contacts the general path leaves alone (``known_contact``
    of a contact that is not loaded, inline); return the others, in order, with their
    extraction (``extracted`` holds those of the messages without a ``Quick``)."""
    general = iter(extracted)
    slow = [(m, next(general)) for m, q in zip(messages, quick, strict=True) if q is None]
    busy = involved(batch, slow)
    general = iter(extracted)
    out_messages: list[Message] = []
    out_extracted: list[Extracted] = []
    svc, locales = batch.svc, batch.locales
    (contacts, identities), queue = svc.seen_maps(), locales.changes
    # ``batch.fingerprint`` inline: the batch has kept none of its own yet
    assert not batch.fingerprints
    pending = svc.pending
    pending_fps = pending.fingerprints if pending is not None else {}
    cache_fps = svc.cache.fingerprints
    for m, q in zip(messages, quick, strict=True):
        if q is None:
            out_messages.append(m)
            out_extracted.append(next(general))
            continue
        cid, user_key, anon_key, p = q
        if cid in busy:
            out_messages.append(m)
            out_extracted.append(as_extracted(q))
            continue
        m.contact_id = cid
        at = m.timestamp
        # the later time wins; ``setdefault`` hashes the key once when it is new
        if at > contacts.setdefault(cid, at):
            contacts[cid] = at
        if user_key is not None and at > identities.setdefault(user_key, at):
            identities[user_key] = at
        if anon_key is not None and at > identities.setdefault(anon_key, at):
            identities[anon_key] = at
        if p is None:
            continue
        fp = p.fingerprint
        queued = queue.get(cid)
        if queued is not None:
            if queued.fingerprint == fp:
                continue
        else:
            fps = pending_fps[cid] if cid in pending_fps else cache_fps.get(cid)
            if fps is not None and fp in fps:
                continue
        locales.add(cid, p.language, p.timezone, fp)
    return out_messages, out_extracted
