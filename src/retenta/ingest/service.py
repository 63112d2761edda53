"""Dead-letter operations: list, replay (re-validated, then stored), discard."""

from __future__ import annotations

from typing import Any

from retenta.errors import ApiError
from retenta.ingest.deadletters import (
    get_dead_letter,
    list_dead_letters,
    mark_resolved,
    oldest_pending_ids,
)
from retenta.ingest.deferred import APPLY_ENDPOINT
from retenta.ingest.pipeline import IngestPipeline
from retenta.ingest.schemas import Defaults, InvalidEventError, to_message
from retenta.ingest.units import IngestOutcome
from retenta.storage.base import Database

SINGLE_ENDPOINTS = frozenset(("identify", "track", "page", "screen", "group", "alias"))


class DeadLetterService:
    def __init__(self, *, db: Database, pipeline: IngestPipeline) -> None:
        self.db = db
        self.pipeline = pipeline

    def list(
        self, *, workspace_id: str, status: str | None, limit: int, cursor: int | None
    ) -> dict[str, Any]:
        """A page of dead letters, newest first; ``next_cursor`` continues it."""
        with self.db.read() as cur:
            items = list_dead_letters(
                cur, workspace_id=workspace_id, status=status, limit=limit, before_id=cursor
            )
        next_cursor = items[-1]["id"] if len(items) == limit else None
        return {"items": items, "next_cursor": next_cursor}

    async def replay(
        self, *, workspace_id: str, letter_id: int, payload: Any = None
    ) -> dict[str, Any]:
        """Validate the letter (or its fixed payload) again, store it, mark it replayed."""
        letter = self._pending(workspace_id, letter_id)
        if letter["endpoint"] == APPLY_ENDPOINT:
            return await self._reapply(workspace_id, letter, payload)
        fixed = payload is not None
        raw = payload if fixed else letter["payload"]
        defaults = Defaults(workspace_id=workspace_id, received_at=letter["received_at"])
        kind = letter["endpoint"] if letter["endpoint"] in SINGLE_ENDPOINTS else None
        try:
            message = to_message(raw, defaults, type_=kind)
        except InvalidEventError as exc:
            first = exc.errors[0]
            raise ApiError(
                422,
                "invalid_event",
                f"still invalid: {first.field}: {first.reason}",
                field=first.field,
                details=[e.as_dict() for e in exc.errors],
            ) from None
        outcome = await self.pipeline.ingest([message])
        await self.db.awrite(
            lambda c: mark_resolved(
                c,
                workspace_id=workspace_id,
                letter_id=letter_id,
                status="replayed",
                payload=raw if fixed else None,
            )
        )
        return {
            "id": letter_id,
            "status": "replayed",
            "message_id": message.message_id,
            **_counts(outcome),
        }

    async def replay_pending(self, *, workspace_id: str, limit: int) -> dict[str, Any]:
        """Replay up to ``limit`` pending letters as they are, oldest first, each as
        ``replay`` does (after a fix on the server's side: an upgrade, a changed limit, the
        cause of an apply's failure). A letter still refused stays pending; ``more`` says
        whether pending letters were left beyond ``limit``."""
        with self.db.read() as cur:
            ids = oldest_pending_ids(cur, workspace_id=workspace_id, limit=limit + 1)
        replayed, refused = 0, []
        for letter_id in ids[:limit]:
            try:
                await self.replay(workspace_id=workspace_id, letter_id=letter_id)
            except ApiError as exc:
                if exc.status != 409:  # a 409: resolved meanwhile, by another hand
                    refused.append({"id": letter_id, "field": exc.field, "reason": exc.message})
                continue
            replayed += 1
        return {"replayed": replayed, "still_refused": len(refused), "refused": refused[:50],
                "more": len(ids) > limit}  # fmt: skip

    async def _reapply(
        self, workspace_id: str, letter: dict[str, Any], payload: Any
    ) -> dict[str, Any]:
        """An event stored but refused by an applier (commerce) is applied again as stored:
        its log entry is the record, so there is no payload to fix."""
        if payload is not None:
            raise ApiError(
                422,
                "validation_error",
                "this event is stored; its replay applies it as stored and takes no payload",
                field="payload",
            )
        message_id = str(letter["payload"].get("messageId", ""))
        letter_id = int(letter["id"])

        def replayed(conn: Any) -> None:  # in the apply's unit: two replays apply once
            mark_resolved(conn, workspace_id=workspace_id, letter_id=letter_id, status="replayed")

        try:
            found = await self.pipeline.reapply(workspace_id, message_id, then=replayed)
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(
                422, "invalid_event", f"still not applied: {exc}"[:500], field="event"
            ) from None
        if found is None:
            raise ApiError(
                409, "conflict", f"event {message_id} is no longer stored", field="messageId"
            )
        return {"id": letter_id, "status": "replayed", "message_id": message_id,
                "stored": 0, "duplicates": 0, "dropped": 0, "applied": 1}  # fmt: skip

    async def discard(self, *, workspace_id: str, letter_id: int) -> dict[str, Any]:
        await self.db.awrite(
            lambda c: mark_resolved(
                c, workspace_id=workspace_id, letter_id=letter_id, status="discarded"
            )
        )
        return {"id": letter_id, "status": "discarded"}

    def _pending(self, workspace_id: str, letter_id: int) -> dict[str, Any]:
        with self.db.read() as cur:
            letter = get_dead_letter(cur, workspace_id=workspace_id, letter_id=letter_id)
        if letter["status"] != "pending":
            raise ApiError(
                409,
                "conflict",
                f"dead letter {letter_id} is already {letter['status']}",
                field="status",
            )
        return letter


def _counts(outcome: IngestOutcome) -> dict[str, int]:
    return {"stored": outcome.stored, "duplicates": outcome.duplicates, "dropped": outcome.dropped}
