"""An idle dispatcher reads, it does not claim: no writer unit while nothing is due, and
still prompt — a queued send wakes it at once, a send due later is claimed at its time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.ledger import NewSend, Send
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import add_messages, contact


def test_idle_rounds_claim_nothing_and_a_send_is_taken_promptly(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    person = contact(client, ws, "idle@example.com")
    claims: list[tuple[float, int]] = []
    claim = svc.ledger.claim

    def counted(limit: int, **kw: Any) -> list[Send]:
        got = claim(limit, **kw)
        claims.append((time.monotonic(), len(got)))
        return got

    svc.ledger.claim = counted  # type: ignore[method-assign]
    reads: list[float] = []
    due_now = svc.dispatcher._due_now

    def read() -> bool:
        reads.append(time.monotonic())
        return due_now()

    svc.dispatcher._due_now = read  # type: ignore[method-assign]

    async def main() -> tuple[float, float, float]:
        await svc.dispatcher.start()
        await asyncio.sleep(3.0)  # idle: the poll interval has grown to its cap
        idle_reads = len(reads)
        queued = time.monotonic()
        svc.ledger.enqueue([NewSend(ws.id, person, "msg_promo", ("email",), "promo")])
        while not claims:
            await asyncio.sleep(0.01)
        first = claims[0][0] - queued
        later_due = datetime.now(UTC) + timedelta(seconds=1.5)
        await asyncio.sleep(0.5)  # the first send settled; the rounds are idle again
        svc.ledger.enqueue([NewSend(ws.id, person, "msg_promo", ("email",), "promo",
                                    not_before=later_due)])  # fmt: skip
        deadline = time.monotonic() + 10
        while sum(n for _, n in claims) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        late = (datetime.now(UTC) - later_due).total_seconds()
        await asyncio.sleep(0.1)  # another round may still try the send it read due
        await svc.dispatcher.stop()
        return first, late, idle_reads

    first, late, idle_reads = asyncio.run(main())
    # a claim only when a send was due (the other round may read the same send due and
    # find it taken: at most one empty claim a send)
    assert sum(n for _, n in claims) == 2, claims
    assert len(claims) <= 4, claims
    # woken by the ledger, not by the (2 s) poll; claimed at its due time, not a poll
    # later (the margins are for a loaded CI machine)
    assert first < 1.0
    assert -0.05 <= late < 1.0
    # two rounds over 3 s idle: doubling 0.25 s → 2 s reads ~4 times each, not 12
    assert idle_reads <= 12
