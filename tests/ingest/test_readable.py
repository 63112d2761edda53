"""``ingest/readable.py``: a read waits for what was answered, and only for that."""

from __future__ import annotations

import asyncio

from retenta.ingest.deferred import DeferredApply
from retenta.ingest.journal import JournalProgress
from retenta.ingest.readable import ReadBarrier


def barrier() -> tuple[ReadBarrier, JournalProgress, DeferredApply]:
    progress = JournalProgress()
    deferred = DeferredApply(lambda conn, messages: None)
    return ReadBarrier(progress, deferred), progress, deferred


def test_nothing_pending_is_no_wait() -> None:
    reads, _, _ = barrier()
    asyncio.run(asyncio.wait_for(reads.wait(), timeout=1))
    assert (reads.waits, reads.waited_s) == (0, 0.0)


def test_a_read_waits_for_the_journaled_records_answered_before_it() -> None:
    reads, progress, _ = barrier()
    progress.answered(3, requests=2)

    async def run() -> None:
        waiting = asyncio.ensure_future(reads.wait())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        progress.committed_through(2)
        await asyncio.sleep(0.05)
        assert not waiting.done()  # record 3 is not committed yet
        progress.committed_through(3)
        await asyncio.wait_for(waiting, timeout=1)

    asyncio.run(run())
    assert reads.waits == 1
    assert reads.waited_s >= 0.1


def test_a_read_waits_for_the_commerce_noted_before_it() -> None:
    reads, _, deferred = barrier()
    deferred.noted_total = 5  # five committed events' orders and carts not applied yet

    async def run() -> None:
        waiting = asyncio.ensure_future(reads.wait())
        await asyncio.sleep(0.05)
        deferred.noted_total = 9  # noted after the read began: not its to wait for
        deferred.settled_total = 5
        reads.release()
        await asyncio.wait_for(waiting, timeout=1)
        assert reads.pending()  # the later four are still pending for later reads

    asyncio.run(run())
    assert reads.waits == 1
