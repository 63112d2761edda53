"""Who a batch of sends goes to, read at send time in a few set queries.

A send names the contact it was created for; by send time that contact may have been merged
into another (``contacts.merged_into``, followed to the end) or erased (never sent to). The
address is the newest email / phone identity of the live contact or of any contact merged
into it along the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from retenta.storage.base import Database

MAX_HOPS = 16


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: int  # the live contact (after merges)
    ids: tuple[int, ...]  # every contact id along the chain, the send's first
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    language: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """The template's ``contact`` (the same names as ``context.ContactVars``)."""
        attributes = self.attributes
        return {
            "contact_id": self.contact_id,
            "email": self.email,
            "phone": self.phone,
            "external_id": self.external_id,
            "first_name": attributes.get("first_name") or attributes.get("firstName"),
            "last_name": attributes.get("last_name") or attributes.get("lastName"),
            "language": self.language,
            "timezone": self.timezone,
            "attributes": attributes,
        }


def lookup(db: Database, workspace_id: str, contact_ids: Iterable[int]) -> dict[int, Contact]:
    """``{send's contact id: Contact}``; erased or unknown contacts are absent."""
    wanted = sorted(set(contact_ids))
    if not wanted:
        return {}
    with db.read() as cur:
        live = _follow(cur, workspace_id, wanted)
        chains: dict[int, list[int]] = {}
        for end, path in live.values():
            chains.setdefault(end, []).extend(path)
        rows = _profiles(cur, workspace_id, sorted(chains))
        identities = _identities(cur, workspace_id, sorted({i for p in chains.values() for i in p}))
    out: dict[int, Contact] = {}
    for start, (end, path) in live.items():
        if end not in rows:
            continue
        language, timezone, attributes = rows[end]
        newest = _newest(identities, [end, *path])
        out[start] = Contact(
            end,
            tuple(path),
            newest.get("email"),
            newest.get("phone"),
            newest.get("external_id"),
            language,
            timezone,
            attributes,
        )
    return out


def _follow(cur: Any, workspace_id: str, ids: list[int]) -> dict[int, tuple[int, list[int]]]:
    """Each id → (live contact id, the ids on the way); erased ones map to -1."""
    state = {i: (i, [i]) for i in ids}
    pending = set(ids)
    for _ in range(MAX_HOPS):
        if not pending:
            break
        rows = cur.execute(
            "SELECT id, merged_into, erased_at IS NOT NULL FROM contacts"
            " WHERE workspace_id = ? AND id IN (SELECT unnest(?::BIGINT[]))",
            [workspace_id, sorted(pending)],
        ).fetchall()
        found = {int(r[0]): (r[1], bool(r[2])) for r in rows}
        pending = set()
        for start, (current, path) in list(state.items()):
            if current not in found:
                continue
            merged_into, erased = found[current]
            if erased:
                state[start] = (-1, path)
            elif merged_into is not None and int(merged_into) not in path:
                state[start] = (int(merged_into), [*path, int(merged_into)])
                pending.add(int(merged_into))
    return state


def _profiles(
    cur: Any, workspace_id: str, ids: list[int]
) -> dict[int, tuple[Any, Any, dict[str, Any]]]:
    rows = cur.execute(
        "SELECT id, language, timezone, attributes FROM contacts WHERE workspace_id = ?"
        " AND erased_at IS NULL AND id IN (SELECT unnest(?::BIGINT[]))",
        [workspace_id, ids],
    ).fetchall()
    return {int(r[0]): (r[1], r[2], orjson.loads(r[3]) if r[3] else {}) for r in rows}


def _identities(cur: Any, workspace_id: str, ids: list[int]) -> dict[int, dict[str, str]]:
    """``{contact: {type: newest value}}`` for email, phone and external_id."""
    rows = cur.execute(
        "SELECT contact_id, type, arg_max(value, last_seen) FROM identities"
        " WHERE workspace_id = ? AND type IN ('email', 'phone', 'external_id')"
        " AND contact_id IN (SELECT unnest(?::BIGINT[])) GROUP BY contact_id, type",
        [workspace_id, ids],
    ).fetchall()
    out: dict[int, dict[str, str]] = {}
    for contact_id, kind, value in rows:
        out.setdefault(int(contact_id), {})[str(kind)] = str(value)
    return out


def _newest(identities: dict[int, dict[str, str]], chain: list[int]) -> dict[str, str]:
    """The live contact's identifiers first, then those of contacts merged into it."""
    out: dict[str, str] = {}
    for contact_id in chain:
        for kind, value in identities.get(contact_id, {}).items():
            out.setdefault(kind, value)
    return out
