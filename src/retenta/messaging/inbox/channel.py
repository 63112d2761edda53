"""The in-app channel: "sent" means stored in the contact's inbox, where the app fetches it.

Unlike the other channels it needs the database and the workspace, so its factory is
``build(config, *, db, workspace_id)``. A retried send (same ``send_id``) is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.mobile_push import CheckResult
from retenta.messaging.channels.webpush_config import origin
from retenta.messaging.inbox import store
from retenta.messaging.inbox.models import CHANNEL, InAppMessage, problem
from retenta.storage.base import Database

__all__ = ["Config", "InAppMessage", "InboxChannel", "build", "check"]


class Config(BaseModel):
    type: Literal["inapp"] = "inapp"
    ttl_days: int = Field(default=30, ge=1, le=3650, description="when expires_at is not given")
    allowed_origins: list[str] = Field(
        default_factory=list, description="web apps that may call /v1/inbox from a browser"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [origin(v) for v in values]


class InboxChannel:
    """``send(batch)`` stores the valid messages in one writer unit; the rest fail."""

    name = CHANNEL

    def __init__(self, db: Database, workspace_id: str, *, ttl: timedelta) -> None:
        self.db = db
        self.workspace_id = workspace_id
        self.ttl = ttl

    async def send(self, batch: Sequence[InAppMessage]) -> list[SendResult]:
        now = datetime.now(UTC)
        results: list[SendResult] = []
        valid: list[InAppMessage] = []
        for message in batch:
            why = problem(message)
            if why is None:
                valid.append(message if message.expires_at else
                             replace(message, expires_at=now + self.ttl))  # fmt: skip
                results.append(SendResult(message.send_id, Outcome.SENT, "stored",
                                          remote_id=message.send_id))  # fmt: skip
            else:
                results.append(SendResult(message.send_id, Outcome.PERMANENT, why,
                                          detail="invalid"))  # fmt: skip
        if valid:
            try:
                await self.db.awrite(lambda conn: store.store(conn, self.workspace_id, valid, now))
            except Exception as exc:
                reason = f"storing failed: {type(exc).__name__}: {exc}"
                return [
                    r
                    if not r.ok
                    else SendResult(r.send_id, Outcome.TEMPORARY, reason, detail="storage")
                    for r in results
                ]
        return results

    async def close(self) -> None:
        return None


def build(config: Config, *, db: Database, workspace_id: str) -> InboxChannel:
    return InboxChannel(db, workspace_id, ttl=timedelta(days=config.ttl_days))


async def check(config: Config) -> CheckResult:
    """Nothing external to reach: the inbox is Retenta's own table."""
    return CheckResult(True, f"in-app messages are kept {config.ttl_days} days unless set")
