"""Bulk import of contacts, orders, products and events from CSV and XLSX."""

from __future__ import annotations

from retenta.commerce.service import CommerceService
from retenta.identity.service import IdentityService
from retenta.ingest.pipeline import IngestPipeline
from retenta.settings import Settings
from retenta.storage.base import Database


class ImportService:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        pipeline: IngestPipeline,
        identity: IdentityService,
        commerce: CommerceService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pipeline = pipeline
        self.identity = identity
        self.commerce = commerce

    async def start(self) -> None:
        """Start the import worker (resumes unfinished jobs)."""

    async def stop(self) -> None:
        """Stop the import worker at a checkpoint."""
