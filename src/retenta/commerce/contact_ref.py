"""Finding (or creating) the contact an order or a data-table row belongs to.

Commerce does not resolve identities itself: it asks identity (``lookup``) and, when the
person is new, sends an ``identify`` through the ingest pipeline so the contact is created
by the same rules as every other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from retenta.commerce import queries
from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.storage.base import Database


class IdentityLookup(Protocol):
    def lookup(self, *, workspace_id: str, id_type: str, value: str) -> int | None: ...


class Ingest(Protocol):
    async def ingest(self, messages: Sequence[Message]) -> Any: ...


def identify_message(workspace_id: str, identifiers: list[tuple[str, str]]) -> Message:
    """An identify carrying the identifiers (userId/anonymousId, email and phone as traits)."""
    given = dict(identifiers)
    now = datetime.now(UTC)
    anonymous = given.get("anonymous_id")
    if "external_id" not in given and anonymous is None:
        anonymous = f"retenta-api-{uuid.uuid4()}"  # Segment needs userId or anonymousId
    traits = {k: v for k, v in given.items() if k in ("email", "phone")}
    return Message(
        workspace_id=workspace_id,
        message_id=f"commerce-{uuid.uuid4()}",
        type="identify",
        timestamp=now,
        received_at=now,
        user_id=given.get("external_id"),
        anonymous_id=anonymous,
        traits=traits,
        source="api",
    )


class ContactResolver:
    """Turns ``contact_id`` or identifiers into a live contact id of one workspace."""

    def __init__(self, *, db: Database, identity: IdentityLookup, ingest: Ingest) -> None:
        self.db, self.identity, self.ingest = db, identity, ingest

    def by_id(self, workspace_id: str, contact_id: int, *, field: str) -> int:
        with self.db.read() as cur:
            live = queries.live_contact(cur, workspace_id, contact_id)
        if live is None:
            raise ApiError(422, "unknown_contact", f"{field}: no such contact", field=field)
        return live

    def find(self, workspace_id: str, identifiers: list[tuple[str, str]]) -> int | None:
        for id_type, value in identifiers:
            found = self.identity.lookup(workspace_id=workspace_id, id_type=id_type, value=value)
            if found is not None:
                return found
        return None

    async def by_identifiers(
        self, workspace_id: str, identifiers: list[tuple[str, str]], *, field: str
    ) -> int:
        """The contact holding any of the identifiers; created through ingest if none does."""
        found = self.find(workspace_id, identifiers)
        if found is None:
            await self.ingest.ingest([identify_message(workspace_id, identifiers)])
            found = self.find(workspace_id, identifiers)
        if found is None:
            raise ApiError(
                422, "unknown_contact", f"{field}: no valid identifier to resolve", field=field
            )
        return found
