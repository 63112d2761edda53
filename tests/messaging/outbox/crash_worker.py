"""A dispatcher in its own process, for the crash test.

``python -m tests.messaging.outbox.crash_worker <data dir> <workspace id>`` reconciles what a
killed run left, sends everything due and prints the reconcile counts as JSON.

``KILL_AFTER_SYNC=K`` in the environment: the process SIGKILLs itself on the journal's
thread right after the K-th group of pending records is durable, before their confirmation
and their final "." (the moment a kill used to lose the message)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from retenta.app import build_container
from retenta.messaging.outbox.content import StaticEmail
from retenta.messaging.outbox.dispatcher import DispatchSettings
from retenta.messaging.outbox.journal import HandoverJournal, Pending
from retenta.messaging.services import for_container
from retenta.settings import Settings
from tests.messaging.outbox.helpers import PROMO

BATCH = 25


def kill_after_sync(k: int) -> None:
    confirm_then = HandoverJournal.confirm_then
    groups = 0

    def dying(self: HandoverJournal, after: Sequence[Pending]) -> None:
        nonlocal groups
        groups += 1 if after else 0
        if groups == k:
            os.kill(os.getpid(), signal.SIGKILL)
        confirm_then(self, after)

    HandoverJournal.confirm_then = dying  # type: ignore[method-assign]


async def main(data_dir: Path, workspace_id: str) -> None:
    container = build_container(Settings(data_dir=data_dir, background_workers=False))
    svc = for_container(container)
    svc.static_content.add(workspace_id, "msg_promo", "email", StaticEmail(PROMO, "promo"))
    svc.dispatcher.settings = DispatchSettings(batch_size=BATCH, rounds=1)
    counts = await svc.dispatcher.reconcile()
    print(json.dumps(counts), flush=True)
    await svc.dispatcher.run_until_idle()
    await svc.dispatcher.stop()
    container.close()


if __name__ == "__main__":
    if os.environ.get("KILL_AFTER_SYNC"):
        kill_after_sync(int(os.environ["KILL_AFTER_SYNC"]))
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
