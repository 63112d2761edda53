"""The contracts of the ingestion pipeline, declared where they are consumed.

Every accepted event — from HTTP, an import or the demo — reaches storage through
``IngestPipeline`` (``retenta.ingest.pipeline``), which runs one writer transaction per
group of requests:

1. drop messages whose ``messageId`` was already stored (exact dedup per workspace);
2. ``Resolver.resolve`` sets ``contact_id`` on every message (or ``dropped`` with a reason);
3. the events are appended as one Arrow table;
4. each ``Applier.apply`` updates what it derives from events (orders, carts, catalog, …).

Everything runs inside the same transaction, so a group lands whole or not at all, and
the HTTP acknowledgement is sent only after COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from retenta.core.messages import Message


class Resolver(Protocol):
    def resolve(self, conn: Any, messages: Sequence[Message]) -> None:
        """Set ``contact_id`` (creating contacts, identities and merges as the rules say) and
        apply profile traits; set ``dropped`` on messages that must not be stored."""


class CommitListener(Protocol):
    def committed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        """Called after COMMIT with the contacts a unit touched in one workspace (never inside
        the writer's transaction). Runs on the committing thread: queue the work and return."""


class Applier(Protocol):
    name: str

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        """Update derived entities from messages that were just stored (all have a contact)."""
