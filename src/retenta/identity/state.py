"""A contact as identity resolution holds it while deciding (plain data, JSON snapshots)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retenta.identity.normalize import EXTERNAL_ID, Identifier
from retenta.identity.rules import ContactView


@dataclass(slots=True)
class IdentityRow:
    first_seen: datetime
    last_seen: datetime


@dataclass(slots=True)
class ContactState:
    """One ``contacts`` row and its ``identities``, as they stand inside the transaction."""

    workspace_id: str
    id: int
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = None
    merged_into: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    timezone: str | None = None
    identities: dict[Identifier, IdentityRow] = field(default_factory=dict)
    is_new: bool = False
    dirty: bool = False
    partial: bool = False  # loaded without its identities (``store.load_rows``)
    # the stored row it was read from (``store.LOAD_COLUMNS``, times as datetimes), if
    # ``store.load_rows`` read it: ``store.update_contacts`` then writes only the columns
    # that differ from it
    loaded: tuple[Any, ...] | None = None

    def view(self) -> ContactView:
        assert not self.partial, "the rules need the contact's identities"
        counts = Counter(t for t, _ in self.identities)
        exts = frozenset(v for t, v in self.identities if t == EXTERNAL_ID)
        return ContactView(self.id, exts, counts)

    def seen(self, at: datetime) -> None:
        """Advance ``last_seen_at``. Not a change that needs the row written: a contact whose
        only news is a later event hands its time to the last-seen write-behind."""
        if self.last_seen_at is None or at > self.last_seen_at:
            self.last_seen_at = at

    def snapshot(self) -> dict[str, Any]:
        """The full state, JSON-ready, for ``merges.snapshot`` (restored exactly by unmerge)."""
        assert not self.partial, "a snapshot needs the contact's identities"
        return {
            "contact": {
                "id": self.id,
                "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at),
                "last_seen_at": _iso(self.last_seen_at),
                "merged_into": self.merged_into,
                "attributes": self.attributes,
                "provenance": self.provenance,
                "language": self.language,
                "timezone": self.timezone,
            },
            "identities": [
                {
                    "type": t,
                    "value": v,
                    "first_seen": _iso(r.first_seen),
                    "last_seen": _iso(r.last_seen),
                }
                for (t, v), r in sorted(self.identities.items())
            ],
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def parse_at(text: str | None) -> datetime | None:
    """An ISO timestamp from a snapshot.

    >>> parse_at("2026-01-02T03:04:05.000006+00:00").microsecond
    6
    """
    return datetime.fromisoformat(text) if text else None


def from_snapshot(workspace_id: str, snap: dict[str, Any]) -> ContactState:
    """The inverse of ``ContactState.snapshot``."""
    c = snap["contact"]
    state = ContactState(
        workspace_id=workspace_id,
        id=int(c["id"]),
        created_at=parse_at(c["created_at"]),  # type: ignore[arg-type]
        updated_at=parse_at(c["updated_at"]),  # type: ignore[arg-type]
        last_seen_at=parse_at(c["last_seen_at"]),
        merged_into=c["merged_into"],
        attributes=dict(c["attributes"]),
        provenance=dict(c["provenance"]),
        language=c["language"],
        timezone=c["timezone"],
    )
    for i in snap["identities"]:
        first, last = parse_at(i["first_seen"]), parse_at(i["last_seen"])
        assert first is not None
        assert last is not None
        state.identities[(i["type"], i["value"])] = IdentityRow(first, last)
    return state
