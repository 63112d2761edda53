"""The idle backoff and the wake wait shared by the background loops."""

from __future__ import annotations

import asyncio

from retenta.core.ticking import IdleBackoff, wait_for_wake


def test_the_backoff_doubles_while_idle_and_resets_on_work() -> None:
    backoff = IdleBackoff(0.25, 2.0)
    seen = []
    for _ in range(5):
        seen.append(backoff.current_s)
        backoff.after(active=False)
    assert seen == [0.25, 0.5, 1.0, 2.0, 2.0]
    backoff.after(active=True)
    assert backoff.current_s == 0.25


def test_a_wake_ends_the_wait_and_a_timeout_says_so() -> None:
    async def main() -> tuple[bool, bool, float]:
        event = asyncio.Event()
        timed_out = await wait_for_wake(event, 0.01)
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.05, event.set)
        woken = await wait_for_wake(event, 10.0)
        return timed_out, woken, loop.time() - started

    timed_out, woken, took = asyncio.run(main())
    assert (timed_out, woken) == (False, True)
    assert took < 5.0
