"""The background compaction loop: idle, it steps (a writer unit) at most every
``COMPACTION_IDLE_MAX_S`` instead of every second; a unit ingested through the pipeline
(its commit listener) makes it step again within ``compaction_idle_s``; while units are
being committed, a range pass leaves most of the writer to them."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from retenta.app import Container
from retenta.contacts import service as contacts_service
from retenta.contacts.service import ContactService
from tests.conftest import make_workspace


def counted_steps(service: ContactService) -> list[float]:
    """When each compaction step of ``service`` starts (monotonic seconds)."""
    steps: list[float] = []
    step = service.compactor.step

    def counted(conn: Any) -> str | None:
        steps.append(time.monotonic())
        return step(conn)

    service.compactor.step = counted  # type: ignore[method-assign]
    return steps


def test_idle_compaction_waits_for_ingestion(container: Container) -> None:
    ws = make_workspace(container).id
    service = ContactService(db=container.db, identity=container.identity,
                             ingest=container.ingest, compaction_idle_s=0.05)  # fmt: skip
    steps = counted_steps(service)

    async def main() -> tuple[int, float]:
        await service.start()
        try:
            await asyncio.sleep(1.0)
            idle = len(steps)
            ingested = time.monotonic()
            container.ingest.notify_changed(ws, [1])  # what the pipeline calls after a COMMIT
            while len(steps) == idle and time.monotonic() < ingested + 5:
                await asyncio.sleep(0.01)
            return idle, steps[-1] - ingested
        finally:
            await service.stop()

    idle, after = asyncio.run(main())
    assert idle <= 2  # the first step (a second under load); every 0.05 s it was 20
    # woken within a look at the flag, not after COMPACTION_IDLE_MAX_S (8 s); the margin is
    # for a loaded CI machine
    assert after < 2.0


def test_without_a_pipeline_it_steps_every_idle_interval(container: Container) -> None:
    service = ContactService(db=container.db, identity=container.identity,
                             compaction_idle_s=0.05)  # fmt: skip
    steps = counted_steps(service)

    async def main() -> None:
        await service.start()
        await asyncio.sleep(0.6)
        await service.stop()

    asyncio.run(main())
    assert len(steps) >= 4
    assert contacts_service.COMPACTION_IDLE_MAX_S > 1.0


def test_a_range_pass_yields_to_ingestion(container: Container) -> None:
    """While units are being committed, the pause after a pass step is ~4x the step's own
    time (a fifth of the writer); with none, it is the short ``pause_s``."""
    ws = make_workspace(container).id
    service = ContactService(db=container.db, identity=container.identity,
                             ingest=container.ingest, compaction_idle_s=0.05)  # fmt: skip
    spans: list[tuple[float, float]] = []

    def passing(conn: Any) -> str:
        started = time.monotonic()
        time.sleep(0.03)  # a step's work, in the writer
        spans.append((started, time.monotonic()))
        return "pass:events"

    service.compactor.step = passing  # type: ignore[method-assign]

    def pauses(first: int) -> list[float]:
        done = spans[first:]
        return sorted(b[0] - a[1] for a, b in itertools.pairwise(done))

    async def main() -> tuple[list[float], list[float]]:
        await service.start()
        try:
            await asyncio.sleep(0.5)
            quiet = pauses(0)
            first = len(spans)
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                container.ingest.notify_changed(ws, [1])  # a unit committed
                await asyncio.sleep(0.005)
            return quiet, pauses(first + 1)
        finally:
            await service.stop()

    quiet, busy = asyncio.run(main())
    assert len(quiet) >= 3
    assert len(busy) >= 3
    assert busy[len(busy) // 2] >= 0.09  # 4 x 0.03 s less the clock's slack
    assert quiet[len(quiet) // 2] < busy[len(busy) // 2]
