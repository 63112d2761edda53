"""A restart mid-way: a tick that dies inside a source's unit, then a new process (a new
container and runner on the same data directory) — nothing is started twice, nothing missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import build_container, create_app
from retenta.journeys.service import for_container
from retenta.journeys.sources import state
from retenta.settings import Settings
from tests.campaigns.helpers import segment
from tests.conftest import make_workspace
from tests.journeys.test_runs import journey
from tests.journeys.test_triggers_timed import every_time, people


def runs(container: Any, journey_id: str) -> list[tuple[int, str]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, context->>'timestamp' FROM journey_runs WHERE journey_id = ?"
            " ORDER BY 2, 1",
            [journey_id],
        ).fetchall()
    return [(int(c), str(t)) for c, t in rows]


def test_a_restart_mid_way_starts_nothing_twice_and_misses_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_container(settings)
    ws = make_workspace(first)
    ann, bob = people(first, ws, ("Europe/Kyiv", {"city": "Kyiv"}), ("UTC", {"city": "Kyiv"}))
    with TestClient(create_app(first)) as client:
        consents = journey(client, ws, every_time(
            {"type": "subscription", "channel": "email", "on": "subscribed"}))  # fmt: skip
        daily = journey(client, ws, every_time({"type": "schedule", "cron": "0 9 * * *",
            "timezone": "contact", "segment_id": segment(client, ws, "Kyiv")}))  # fmt: skip
    t0 = datetime(2026, 7, 1, tzinfo=UTC)

    def consent(container: Any, person: int, status: str, at: datetime) -> None:
        container.db.write(lambda conn: conn.execute(
            "INSERT INTO consents VALUES (?, ?, 'email', '*', ?, 'form', ?)",
            [ws.id, person, status, at]))  # fmt: skip

    runner = for_container(first).runner
    runner.tick(t0)  # both sources start reading here
    consent(first, ann, "subscribed", t0 + timedelta(hours=1))
    runner.tick(t0 + timedelta(hours=8))  # ann's consent; 09:00 in Kyiv (06:00 UTC)
    consent(first, bob, "subscribed", t0 + timedelta(hours=8, minutes=30))

    def crash(*_: Any) -> None:
        raise RuntimeError("killed between starting the runs and saving the position")

    monkeypatch.setattr(state, "advance", crash)
    runner.tick(t0 + timedelta(hours=10))  # bob's consent and 09:00 UTC: the units roll back
    assert len(runs(first, consents)) == 1
    assert len(runs(first, daily)) == 1
    first.close()
    monkeypatch.undo()

    second = build_container(settings)  # a new process on the same data
    try:
        again = for_container(second).runner
        again.tick(t0 + timedelta(hours=10, seconds=1))
        again.tick(t0 + timedelta(hours=10, seconds=2))
        again.tick(t0 + timedelta(hours=9))  # a clock that went back starts nothing again
        assert [c for c, _ in runs(second, consents)] == [ann, bob]
        assert runs(second, daily) == [
            (ann, "2026-07-01T06:00:00+00:00"), (bob, "2026-07-01T09:00:00+00:00")]  # fmt: skip
    finally:
        second.close()
