"""Group-commit ingestion: many requests, one writer transaction, durable acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retenta.core.messages import Message
from retenta.core.pipeline import Applier, Resolver
from retenta.settings import Settings
from retenta.storage.base import Database


@dataclass(frozen=True)
class IngestOutcome:
    stored: int
    duplicates: int
    dropped: int


class IngestPipeline:
    def __init__(
        self, *, db: Database, resolver: Resolver, appliers: Sequence[Applier], settings: Settings
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.appliers = list(appliers)
        self.settings = settings

    async def start(self) -> None:
        """Start the group-commit loop."""

    async def stop(self) -> None:
        """Flush and stop."""

    async def ingest(self, messages: Sequence[Message]) -> IngestOutcome:
        """Store messages durably (deduplicated, resolved, applied); returns after COMMIT."""
        raise NotImplementedError

    def ingest_sync(self, messages: Sequence[Message]) -> IngestOutcome:
        """The same from a non-async thread (imports, the demo trickle, the CLI)."""
        raise NotImplementedError
