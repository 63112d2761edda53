"""The content service: the block library, messages, and ``resolve`` for the senders.

``resolve`` reads the message's latest revision and its blocks' latest versions (three
small reads), then takes the compiled content from a cache keyed by exactly those
numbers: an edit to a message or to any block it uses is a new key, so the next resolve
compiles the new content and nothing ever has to be invalidated.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from retenta.errors import ApiError
from retenta.messaging.content.checks import (
    check_block,
    check_refs,
    check_sections,
    template_errors,
)
from retenta.messaging.content.compiled import (
    CompileCache,
    MessageFacts,
    ResolvedContent,
    compile_channel,
)
from retenta.messaging.content.compose import BlockVersion, block_refs
from retenta.messaging.content.schemas import CHANNELS, BlockIn, MessageIn
from retenta.messaging.content.store import ContentStore, Ref
from retenta.storage.base import Database


class ContentService:
    def __init__(self, db: Database, *, cache: CompileCache | None = None) -> None:
        self.store = ContentStore(db)
        self.cache = cache or CompileCache()
        self._recent: dict[tuple[str, str, str], tuple[float, ResolvedContent]] = {}

    # --- blocks -------------------------------------------------------------------------

    async def create_block(self, workspace_id: str, body: BlockIn) -> dict[str, Any]:
        doc = body.model_dump(mode="json")
        check_block(doc)
        block_id = await self.store.create_block(workspace_id, doc)
        return self.store.block(workspace_id, block_id)

    async def update_block(self, workspace_id: str, block_id: str, body: BlockIn) -> dict[str, Any]:
        """A new version; every message using the block renders it from now on."""
        doc = body.model_dump(mode="json")
        self.store.block(workspace_id, block_id)  # 404 before a 422 about the body
        check_block(doc)
        await self.store.update_block(workspace_id, block_id, doc)
        return self.store.block(workspace_id, block_id)

    async def delete_block(self, workspace_id: str, block_id: str) -> None:
        await self.store.delete_block(workspace_id, block_id)

    def block(self, workspace_id: str, block_id: str, version: int | None = None) -> dict[str, Any]:
        return self.store.block(workspace_id, block_id, version)

    def blocks(self, workspace_id: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        return self.store.blocks(workspace_id, kind=kind)

    def block_versions(self, workspace_id: str, block_id: str) -> list[dict[str, Any]]:
        return self.store.block_versions(workspace_id, block_id)

    def used_by(self, workspace_id: str, block_id: str) -> list[dict[str, Any]]:
        return self.store.used_by(workspace_id, block_id)

    async def set_references(
        self, workspace_id: str, owner_kind: str, owner_id: str, uses: Mapping[str, list[str]]
    ) -> None:
        """Journeys and triggers record the blocks they use (``{channel: [block_id, …]}``), so
        ``used-by`` lists them and a used block cannot be deleted; ``{}`` clears them."""
        if owner_kind == "message":
            raise ValueError("messages record their blocks when saved")
        refs = [
            (f"{owner_kind}.{channel}[{i}]", block_id, channel)
            for channel, ids in uses.items()
            for i, block_id in enumerate(ids)
        ]
        await self.store.set_references(workspace_id, owner_kind, owner_id, refs)

    # --- messages -----------------------------------------------------------------------

    async def save_message(
        self, workspace_id: str, body: MessageIn, message_id: str | None = None
    ) -> dict[str, Any]:
        """Create or revise a message after checking its references and every template."""
        if message_id is not None:
            self.store.message(workspace_id, message_id)  # 404 before a 422 about the body
        doc = body.model_dump(mode="json")
        doc["channels"] = {ch: c for ch, c in doc["channels"].items() if c is not None}
        refs = self._check_message(workspace_id, doc)
        saved_id, _ = await self.store.save_message(workspace_id, message_id, doc, refs)
        return self.message(workspace_id, saved_id)

    def message(self, workspace_id: str, message_id: str) -> dict[str, Any]:
        message = self.store.message(workspace_id, message_id)
        return message | {"blocks": self._versions_of(workspace_id, message["channels"])}

    def revisions(self, workspace_id: str, message_id: str) -> list[dict[str, Any]]:
        """Every revision of a message, newest first (each a whole document)."""
        return self.store.revisions(workspace_id, message_id)

    def messages(
        self, workspace_id: str, *, category: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        found = self.store.messages(workspace_id, category=category)
        return [m for m in found if tag is None or tag in (m.get("tags") or [])]

    async def delete_message(self, workspace_id: str, message_id: str) -> None:
        await self.store.delete_message(workspace_id, message_id)

    def _versions_of(self, workspace_id: str, channels: Mapping[str, Any]) -> dict[str, int]:
        ids = [b for ch, content in channels.items() for _, b in block_refs(ch, content)]
        return self.store.latest_versions(workspace_id, ids)

    def _check_message(self, workspace_id: str, doc: Mapping[str, Any]) -> list[Ref]:
        refs: list[Ref] = []
        facts = MessageFacts(
            workspace_id=workspace_id, message_id="check", revision=0,
            category=doc["category"], topic=doc.get("topic"), tags=tuple(doc.get("tags") or ()),
            default_language=doc.get("default_language"), workspace_default=None,
        )  # fmt: skip
        for channel, content in doc["channels"].items():
            paths = block_refs(channel, content)
            blocks = self._latest_blocks(workspace_id, [b for _, b in paths])
            parts = _ref_parts(channel, content)
            check_refs(channel, parts, blocks)
            if channel == "email":
                check_sections(content)
            compiled = compile_channel(facts, channel, content, blocks)
            if compiled.error is not None:
                raise template_errors(
                    [compiled.error.as_dict()], "the message has a template error"
                )
            refs += [(path, block_id, channel) for path, block_id in paths]
        return refs

    def _latest_blocks(self, workspace_id: str, ids: list[str]) -> dict[str, BlockVersion]:
        return self.store.pinned(workspace_id, self.store.latest_versions(workspace_id, ids))

    # --- for the senders ----------------------------------------------------------------

    def resolve(
        self, workspace_id: str, message_id: str, channel: str, *, max_age_s: float = 0.0
    ) -> ResolvedContent:
        """The message compiled for ``channel`` with its blocks' latest versions (cached).

        Two small reads find the key (revision, block versions, workspace default); only a
        miss reads the message document and the block sources and compiles. ``max_age_s``
        lets a sender that resolves per send reuse an answer that young without the reads
        (an edit then shows within that time); the default checks every time.
        """
        if channel not in CHANNELS:
            raise ApiError(422, "validation_error", f"unknown channel {channel}", field="channel")
        recent = self._recent.get((workspace_id, message_id, channel))
        if recent is not None and max_age_s > 0 and time.monotonic() - recent[0] <= max_age_s:
            return recent[1]
        resolved = self._resolve(workspace_id, message_id, channel)
        if len(self._recent) > 4096:
            self._recent.clear()
        self._recent[(workspace_id, message_id, channel)] = (time.monotonic(), resolved)
        return resolved

    def _resolve(self, workspace_id: str, message_id: str, channel: str) -> ResolvedContent:
        revision, workspace_default, versions = self.store.head(workspace_id, message_id, channel)
        key = (workspace_id, message_id, revision, channel, tuple(sorted(versions.items())),
               workspace_default)  # fmt: skip
        found = self.cache.get(key)
        if found is not None:
            return found
        message = self.store.message(workspace_id, message_id)
        content = message["channels"].get(channel)
        if content is None:
            raise ApiError(
                422, "no_content", f"message {message_id} has no {channel} content",
                field="channel",
            )  # fmt: skip
        if message["revision"] != revision:  # revised in between: take the newer one whole
            return self._resolve(workspace_id, message_id, channel)
        facts = MessageFacts(
            workspace_id=workspace_id, message_id=message_id, revision=revision,
            category=message["category"], topic=message.get("topic"),
            tags=tuple(message.get("tags") or ()),
            default_language=message.get("default_language"), workspace_default=workspace_default,
        )  # fmt: skip
        resolved = compile_channel(
            facts, channel, content, self.store.pinned(workspace_id, versions)
        )
        self.cache.put(key, resolved)
        return resolved


def _ref_parts(channel: str, content: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    parts = content.get("body") if channel == "email" else content.get("append")
    name = "body" if channel == "email" else "append"
    return [
        (f"channels.{channel}.{name}[{i}]", part)
        for i, part in enumerate(parts or [])
        if "block" in part
    ]


_SERVICES: weakref.WeakKeyDictionary[Database, ContentService] = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def for_database(db: Database) -> ContentService:
    """The one content service (and compile cache) of a database: the API and SENDS share it."""
    with _SERVICES_LOCK:
        found = _SERVICES.get(db)
        if found is None:
            found = _SERVICES[db] = ContentService(db)
        return found
