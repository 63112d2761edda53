"""A dispatcher in its own process, for the crash test.

``python -m tests.messaging.outbox.crash_worker <data dir> <workspace id>`` reconciles what a
killed run left, sends everything due and prints the reconcile counts as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from retenta.app import build_container
from retenta.messaging.outbox.content import StaticEmail
from retenta.messaging.outbox.dispatcher import DispatchSettings
from retenta.messaging.services import for_container
from retenta.settings import Settings
from tests.messaging.outbox.helpers import PROMO

BATCH = 25


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
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
