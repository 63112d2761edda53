"""E-commerce entities: catalog, orders, carts, wishlists, searches, custom data tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retenta.core.messages import Message
from retenta.storage.base import Database


class CommerceService:
    name = "commerce"

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        """Update orders, carts, wishlists and searches from stored e-commerce events."""
