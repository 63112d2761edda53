"""Profiles: lookup, 360° view, timeline, consent, erase, export, computed traits."""

from __future__ import annotations

from retenta.identity.service import IdentityService
from retenta.storage.base import Database


class ContactService:
    def __init__(self, *, db: Database, identity: IdentityService) -> None:
        self.db = db
        self.identity = identity

    async def start(self) -> None:
        """Start background work (event compaction)."""

    async def stop(self) -> None:
        """Stop background work."""
