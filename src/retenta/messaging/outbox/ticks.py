"""Periodic work the dispatcher's loop runs between rounds (``Dispatcher(ticks=...)``).

- :func:`viber_fallback_sweep`: a Viber message that carried an SMS fallback and had no
  delivery report before its TTL goes out as SMS (``channels/sms/fallback.py``; the claim
  in the writer means a late Viber status and the sweep never both send it).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from retenta.storage.base import Database

log = logging.getLogger(__name__)


@dataclass
class Tick:
    """``run`` at most every ``every_s`` seconds; a failure is logged, never fatal."""

    name: str
    every_s: float
    run: Callable[[], Awaitable[Any]]
    last: float = field(default=float("-inf"))

    def due(self, now: float) -> bool:
        """Whether ``every_s`` has passed since the last run (never run: due).

        >>> Tick("t", 5.0, lambda: None, last=10.0).due(14.0), Tick("t", 5.0, None).due(0)
        (False, True)
        """
        return now - self.last >= self.every_s

    async def __call__(self, *, force: bool = False) -> Any:
        now = time.monotonic()
        if not (force or self.due(now)):
            return None
        self.last = now
        try:
            return await self.run()
        except Exception:
            log.exception("periodic task %s failed", self.name)
            return None


def workspaces_with_due_fallbacks(db: Database, now: datetime) -> list[str]:
    with db.read() as cur:
        rows = cur.execute(
            "SELECT DISTINCT workspace_id FROM viber_fallbacks"
            " WHERE state = 'pending' AND deadline <= ? ORDER BY 1",
            [now],
        ).fetchall()
    return [str(r[0]) for r in rows]


async def viber_fallback_sweep(db: Database, settings: Any) -> int:
    """Send the SMS fallback of every workspace's Viber messages past their TTL; SMS sent."""
    import asyncio

    webhooks = importlib.import_module("retenta.messaging.channels.sms.webhooks")
    due = await asyncio.to_thread(workspaces_with_due_fallbacks, db, datetime.now(UTC))
    sent = 0
    for workspace_id in due:
        sent += int(await webhooks.sweep_workspace(db, settings, workspace_id))
    return sent
