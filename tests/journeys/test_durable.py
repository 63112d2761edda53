"""Durable execution: waits of days survive a restart, a step killed half-way (SIGKILL) is
replayed without a second send, a stale step never undoes a stop, one failing run holds
back nothing, timers fire from memory at their due time, and an entry is advanced at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.journeys.runner import JourneyRunner
from retenta.journeys.service import for_container
from retenta.settings import Settings
from tests.conftest import Workspace, make_workspace
from tests.journeys.durable_helpers import decisions, run_rows, send_rows, sign_up, waits
from tests.journeys.test_definition import CART
from tests.journeys.test_runs import journey, track

KILLED_STEP = """
import os, signal, sys
from datetime import datetime, timedelta, UTC
from retenta.app import build_container
from retenta.journeys import runner as runner_module
from retenta.journeys.service import for_container
from retenta.settings import Settings

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the sends are committed; the runs are not saved

runner_module._save = die
c = build_container(Settings(data_dir=sys.argv[1], background_workers=False))
for_container(c).runner.tick(datetime.fromisoformat(sys.argv[2]))
"""


def test_waits_of_days_fire_at_due_after_a_restart(settings: Settings) -> None:
    first = build_container(settings)
    ws = make_workspace(first)
    with TestClient(create_app(first)) as client:
        journey_id = journey(client, ws, waits(days=3))
        sign_up(client, ws, "u1", "u2")
    entered = datetime.now(UTC)
    for_container(first).runner.tick(entered)
    first.close()
    second = build_container(settings)  # a new process on the same data directory
    try:
        runner = for_container(second).runner
        assert runner.tick(entered + timedelta(days=3) - timedelta(minutes=1)) == 0
        assert runner.tick(entered + timedelta(days=3, seconds=1)) == 2
        assert runner.tick(entered + timedelta(days=3, seconds=2)) == 0
        assert {r[2] for r in run_rows(second, journey_id)} == {"done"}
        assert [m for _, m in send_rows(second, journey_id)].count("msg_bye") == 2
    finally:
        second.close()


def test_a_step_killed_after_queueing_replays_without_duplicates(settings: Settings) -> None:
    first = build_container(settings)
    ws = make_workspace(first)
    with TestClient(create_app(first)) as client:
        journey_id = journey(client, ws, waits(days=3))
        sign_up(client, ws, "u1", "u2", "u3")
    now = datetime.now(UTC)
    for_container(first).runner.tick(now)
    first.close()
    later = now + timedelta(days=3, seconds=1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", KILLED_STEP, str(settings.data_dir),
                             later.isoformat()], env=env, timeout=60, check=False)  # fmt: skip
    assert killed.returncode == -9
    second = build_container(settings)
    try:
        assert [m for _, m in send_rows(second, journey_id)].count("msg_bye") == 3  # queued
        assert {r[3] for r in run_rows(second, journey_id)} == {"wait"}  # never saved
        assert for_container(second).runner.tick(later) == 3  # the replay
        assert {r[2] for r in run_rows(second, journey_id)} == {"done"}
        messages = send_rows(second, journey_id)
        assert len(messages) == len(set(messages)) == 6  # hello + bye, once each
        assert decisions(second, journey_id, "exit") == 3
    finally:
        second.close()


def test_a_stop_during_a_step_wins(client: TestClient, container: Container, ws: Workspace) -> None:
    journey_id = journey(client, ws, waits(days=3))
    sign_up(client, ws, "u1")
    runner = for_container(container).runner
    later = datetime.now(UTC) + timedelta(seconds=1)
    claimed = container.db.write(lambda conn: runner.due.claim(conn, later, 100))
    steps = runner._steps(claimed, later)  # the step is computed ...
    client.post(f"/api/v1/journeys/{journey_id}/stop", headers=ws.api_headers)  # ... stop ...
    from retenta.journeys.runner import _save

    assert container.db.write(lambda conn: _save(conn, steps, later)) == 0  # ... save: no-op
    assert run_rows(container, journey_id)[0][2:] == ("stopped", "hello")
    assert decisions(container, journey_id, "sent") == 0


def test_one_failing_run_is_retried_later_and_holds_back_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    broken = journey(client, ws, waits(days=3))
    fine = journey(client, ws, {**waits(days=3), "name": "Other"})
    sign_up(client, ws, "u1")
    container.db.write(
        lambda conn: conn.execute(
            "UPDATE journey_versions SET definition = '{\"name\": 1}' WHERE journey_id = ?",
            [broken],
        )
    )
    now = datetime.now(UTC)
    assert for_container(container).runner.tick(now) == 2
    assert run_rows(container, fine)[0][2:] == ("active", "wait")
    assert run_rows(container, broken)[0][2:] == ("active", "hello")
    with container.db.read() as cur:
        wake, reason = cur.execute(
            "SELECT r.wake_at, t.reason FROM journey_runs r JOIN journey_trace t USING (run_id)"
            " WHERE r.journey_id = ? AND t.decision = 'skipped'",
            [broken],
        ).fetchone()
    assert wake == now + timedelta(seconds=60)
    assert reason.startswith("step failed")


def test_timers_fire_from_memory_at_due_without_a_sweep(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    runner = JourneyRunner(container.db, svc.store, svc.runner.ledger, sweep_s=3600)
    journey_id = journey(client, ws, waits(days=1))
    sign_up(client, ws, "u1")
    start = datetime.now(UTC)
    assert runner.tick(start) == 1  # the first tick sweeps
    due = start + timedelta(days=1)
    runner.due._next_sweep = None  # sweep once more, just before due
    assert runner.tick(due - timedelta(milliseconds=500)) == 0
    assert runner.due._upcoming  # held in memory, due in 0.5 s
    sign_up(client, ws, "u2")  # a fresh entry is found without a sweep too
    assert runner.tick(due + timedelta(milliseconds=1)) == 2
    assert sorted(r[3] for r in run_rows(container, journey_id)) == ["done", "wait"]


def test_an_entry_is_advanced_at_once_not_at_the_next_tick(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", background_workers=True)
    c = build_container(settings)
    for_container(c).runner.interval_s = 30.0  # only the nudge can advance it in time
    ws = make_workspace(c)
    try:
        with TestClient(create_app(c)) as client:
            journey_id = journey(client, ws, waits(days=3))
            time.sleep(0.3)  # the first tick has run; the runner now sleeps for 30 s
            sign_up(client, ws, "u1")
            deadline = time.monotonic() + 5
            while not send_rows(c, journey_id) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert send_rows(c, journey_id), "the first send waited for the next tick"
    finally:
        c.close()


def test_a_backlog_larger_than_a_batch_drains_batch_by_batch(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    runner = JourneyRunner(container.db, svc.store, svc.runner.ledger, batch=2, sweep_s=3600)
    journey_id = journey(client, ws, waits(days=1))
    sign_up(client, ws, "u1", "u2", "u3", "u4", "u5")
    container.db.write(  # entered an hour ago: only a sweep finds them, not the fresh read
        lambda conn: conn.execute(
            "UPDATE journey_runs SET entered_at = entered_at - INTERVAL 1 HOUR"
            " WHERE journey_id = ?",
            [journey_id],
        )
    )
    now = datetime.now(UTC)
    done = [runner.tick(now + timedelta(seconds=i)) for i in range(4)]
    assert done == [2, 2, 1, 0]  # a full batch sweeps again at once; none is taken twice
    assert {r[3] for r in run_rows(container, journey_id)} == {"wait"}
    assert decisions(container, journey_id, "sent") == 5


def test_an_event_that_wakes_a_waiting_run_is_taken_by_the_nudged_tick(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    runner = JourneyRunner(container.db, svc.store, svc.runner.ledger, sweep_s=3600)
    journey_id = journey(client, ws, CART)
    track(client, ws, "Checkout Started", total=80)
    container.db.write(  # entered an hour ago: only a sweep finds it, not the fresh read
        lambda conn: conn.execute(
            "UPDATE journey_runs SET entered_at = entered_at - INTERVAL 1 HOUR"
            " WHERE journey_id = ?",
            [journey_id],
        )
    )
    now = datetime.now(UTC)
    assert runner.tick(now) == 1  # the first tick sweeps; the run waits for the order
    track(client, ws, "Order Completed", total=80)  # entry._wake: due now
    assert runner.tick(now + timedelta(seconds=1)) == 0  # no sweep for an hour ...
    runner.committed(ws.id, [])  # ... but the unit's commit notice hurries one
    assert runner.tick(now + timedelta(seconds=2)) == 1
    assert run_rows(container, journey_id)[0][2:] == ("done", "bought")
