"""Identity resolution: identifiers → one contact, merges, unmerges, profile traits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retenta.core.messages import Message
from retenta.settings import IdentitySettings
from retenta.storage.base import Database


class IdentityService:
    def __init__(self, *, db: Database, settings: IdentitySettings) -> None:
        self.db = db
        self.settings = settings

    def resolve(self, conn: Any, messages: Sequence[Message]) -> None:
        """Set ``contact_id`` on every message, inside the writer's transaction."""
        raise NotImplementedError

    def lookup(self, *, workspace_id: str, id_type: str, value: str) -> int | None:
        """The live (not merged-away) contact holding an identifier, after normalization."""
        raise NotImplementedError
