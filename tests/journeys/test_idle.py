"""An idle runner sleeps until its due view has something to look for (the next sweep or
the earliest held timer) instead of ticking every 0.1 s; a nudge or a hurried sweep still
ticks at once, and a held timer is taken at its due time. An idle webhook worker reads,
and a tick that queues a call wakes it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.journeys import runner as runner_module
from retenta.journeys import sources
from retenta.journeys.effects import WebhookEffects
from retenta.journeys.reports import ANY_WAIT_SQL, REPORTS_SQL, ReportWakes
from retenta.journeys.runner import JourneyRunner
from retenta.journeys.service import for_container
from retenta.messaging.services import for_container as messaging
from retenta.settings import Settings
from tests.conftest import Workspace, make_workspace
from tests.journeys.durable_helpers import sign_up, waits
from tests.journeys.test_nodes_store import doc, person, serve, webhook_settings
from tests.journeys.test_runs import journey, track


def test_an_idle_tick_sleeps_until_the_next_sweep_or_timer(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "next_timed_due", lambda after: None)  # no schedules
    svc = for_container(container)
    runner = JourneyRunner(container.db, svc.store, svc.runner.ledger, sweep_s=0.5)
    journey(client, ws, waits(days=1))
    sign_up(client, ws, "u1")
    start = datetime.now(UTC)
    assert runner.tick(start) == 1  # entered; now waits a day
    assert runner.sleep_s() == runner.interval_s  # it did work: the short interval
    assert runner.tick(start + timedelta(seconds=0.1)) == 0
    assert abs(runner.sleep_s() - 0.4) < 1e-6  # until the sweep due at start + 0.5 s
    due = start + timedelta(days=1)
    runner.due._next_sweep = None  # a sweep just before due holds the timer in memory
    assert runner.tick(due - timedelta(seconds=0.3)) == 0
    assert abs(runner.sleep_s() - 0.3) < 1e-6  # until the timer, sooner than the sweep
    runner.due.hurry()  # ingestion committed a unit: a woken wait may be due
    assert runner.sleep_s() == runner.interval_s
    assert runner.tick(due) == 1  # the timer, at its due time


def test_an_idle_tick_wakes_for_a_schedule_journeys_next_moment(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = for_container(container)
    runner = JourneyRunner(container.db, svc.store, svc.runner.ledger, sweep_s=0.5)
    start = datetime.now(UTC)
    assert runner.tick(start) == 0
    assert abs(runner.sleep_s() - 0.5) < 1e-6
    monkeypatch.setitem(sources._next_due, ("ws", "j", "1"), start + timedelta(seconds=0.2))
    monkeypatch.setitem(sources._next_due, ("ws", "old", "1"), start - timedelta(days=1))
    assert abs(runner.sleep_s() - 0.2) < 1e-6  # a past (stale) moment does not count


def test_an_idle_server_ticks_about_twice_a_second(tmp_path: Path) -> None:
    c = build_container(Settings(data_dir=tmp_path / "data", background_workers=True))
    ws = make_workspace(c)
    runner = for_container(c).runner
    ticks: list[float] = []
    tick = runner.tick

    def counted(now: datetime | None = None) -> int:
        ticks.append(time.monotonic())
        return tick(now)

    runner.tick = counted  # type: ignore[method-assign]
    try:
        with TestClient(create_app(c)) as client:
            journey(client, ws, waits(days=3))
            time.sleep(0.5)
            ticks.clear()
            time.sleep(3.0)
            idle = len(ticks)
            sign_up(client, ws, "u1")  # the nudge: advanced at once, not after the sleep
            deadline = time.monotonic() + 5
            while len(ticks) == idle and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        c.close()
    assert 1 <= idle <= 12, idle  # about 6; every 0.1 s it was ~30
    assert len(ticks) > idle


def test_an_idle_webhook_worker_reads_and_a_queued_call_wakes_it(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person(client, ws)
    calls: list[float] = []

    async def crm(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        return web.Response(status=204)

    worker = WebhookEffects(container.db, messaging(container).channel_settings)
    claims: list[int] = []
    tick = worker.tick

    async def counted(now: datetime | None = None) -> int:
        claims.append(await tick(now))
        return claims[-1]

    worker.tick = counted  # type: ignore[method-assign]

    async def main() -> float:
        server, origin = await serve(crm)
        await worker.start()
        try:
            webhook_settings(client, ws, origin)
            journey(client, ws, doc({"id": "hook", "type": "webhook", "url": f"{origin}/x",
                                     "next": "end"}))  # fmt: skip
            track(client, ws, "Checkout Started")
            await asyncio.sleep(2.5)  # idle: the worker's wait has grown past 2 s
            queued = time.monotonic()
            await asyncio.to_thread(for_container(container).runner.tick, datetime.now(UTC))
            while not claims and time.monotonic() < queued + 5:
                await asyncio.sleep(0.01)  # the call made and settled
            return calls[0] - queued if calls else 99.0
        finally:
            await worker.stop()
            await server.cleanup()

    took = asyncio.run(main())
    assert claims == [1]  # no claim (writer unit) while nothing was pending
    assert took < 1.0  # the runner's tick woke it, not its (2–5 s) poll


def test_the_live_journeys_are_read_again_only_after_a_change(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    store = for_container(container).store
    assert store.live_everywhere_cached() == []
    first = journey(client, ws, waits(days=1))  # made live through the store
    live = store.live_everywhere_cached()
    assert [j.journey_id for _, j in live] == [first]
    assert store.live_everywhere_cached() is live  # unchanged: no read
    paused = client.post(f"/api/v1/journeys/{first}/pause", headers=ws.api_headers)
    assert paused.status_code == 200, paused.text
    assert store.live_everywhere_cached() == []  # the pause bumped the generation
    resumed = client.post(f"/api/v1/journeys/{first}/resume", headers=ws.api_headers)
    assert resumed.status_code == 200, resumed.text
    second = journey(client, ws, waits(days=2))
    assert sorted(j.journey_id for _, j in store.live_everywhere_cached()) == sorted(
        [first, second]
    )


def test_report_polls_read_nothing_while_no_run_waits_on_a_report(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakes = ReportWakes(every_s=0)
    statements: list[str] = []
    read = container.db.read

    class Counted:
        def __init__(self, cur: Any) -> None:
            self.cur = cur

        def execute(self, sql: str, *args: Any) -> Any:
            statements.append(sql)
            return self.cur.execute(sql, *args)

    @contextlib.contextmanager
    def counted() -> Iterator[Any]:
        with read() as cur:
            yield Counted(cur)

    monkeypatch.setattr(container.db, "read", counted)
    now = datetime.now(UTC)
    assert wakes.poll(container.db, now) == 0  # armed at start: checks, finds no wait
    assert statements == [ANY_WAIT_SQL]
    for _ in range(3):
        assert wakes.poll(container.db, now) == 0
    assert statements == [ANY_WAIT_SQL]  # disarmed: no read at all
    wakes.arm()  # the runner saved a run waiting on a report
    wakes.poll(container.db, now)
    assert statements[1:] == [REPORTS_SQL]  # checked 0 s ago: polls without a check
