"""Real-time membership: the incremental state equals the full recompute after randomized
event streams through the real IngestPipeline (window, NOT, AND/OR shapes), entry/exit
events are emitted once each, and the running loop reacts to a commit within 1 s."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

import pytest

from retenta.app import Container
from retenta.core.messages import Message
from retenta.segments.membership import MembershipEngine, MembershipEvent
from tests.conftest import Workspace
from tests.segments.test_membership_helpers import (
    Clock,
    current_members,
    fake_compile,
    identify,
    recompute,
    save_segment,
    track,
)

SHAPES: dict[str, dict[str, Any]] = {
    "seg_viewed_twice_1h": {
        "type": "event",
        "event": "Viewed",
        "window": {"kind": "last", "amount": 1, "unit": "hours"},
        "compare": {"op": "gte", "value": 2},
    },
    "seg_never_bought": {"type": "not", "condition": {"type": "event", "event": "Bought"}},
    "seg_kyiv_viewed_30m": {
        "type": "all",
        "conditions": [
            {"type": "attribute", "field": "city", "op": "equals", "value": "Kyiv"},
            {
                "type": "event",
                "event": "Viewed",
                "window": {"kind": "last", "amount": 30, "unit": "minutes"},
            },
        ],
    },
    "seg_lviv_or_idle_2h": {
        "type": "any",
        "conditions": [
            {"type": "attribute", "field": "city", "op": "equals", "value": "Lviv"},
            {
                "type": "not",
                "condition": {
                    "type": "event",
                    "event": "Viewed",
                    "window": {"kind": "last", "amount": 2, "unit": "hours"},
                },
            },
        ],
    },
}
USERS = [f"u{i}" for i in range(25)]


def random_batch(rng: random.Random, ws: str, clock: Clock) -> list[Message]:
    out: list[Message] = []
    for _ in range(rng.randint(1, 6)):
        user, roll = rng.choice(USERS), rng.random()
        if roll < 0.55:
            out.append(track(ws, user, "Viewed", clock()))
        elif roll < 0.7:
            out.append(track(ws, user, "Bought", clock()))
        else:
            out.append(identify(ws, user, clock(), city=rng.choice(["Kyiv", "Lviv", "Odesa"])))
    return out


def setup_engine(
    container: Container, ws: str, clock: Clock
) -> tuple[MembershipEngine, list[MembershipEvent]]:
    engine = MembershipEngine(container.db, fake_compile, clock=clock)
    container.ingest.add_listener(engine)
    seen: list[MembershipEvent] = []

    def keep(events: Sequence[MembershipEvent]) -> None:
        seen.extend(events)

    engine.subscribe(keep)
    for seg_id, root in SHAPES.items():
        save_segment(container, ws, seg_id, root)
    return engine, seen


def assert_events_replay_to_state(
    container: Container, ws: str, seen: list[MembershipEvent]
) -> None:
    """Each entry and exit was emitted once: replaying them gives the stored state, and a
    contact never enters (or exits) twice in a row."""
    for seg_id in SHAPES:
        members: set[int] = set()
        for e in (e for e in seen if e.segment_id == seg_id):
            if e.kind == "entered":
                assert e.contact_id not in members, (seg_id, e)
                members.add(e.contact_id)
            else:
                assert e.contact_id in members, (seg_id, e)
                members.remove(e.contact_id)
        assert members == current_members(container, ws, seg_id), seg_id


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_membership_equals_full_recompute_with_the_clock_still(
    container: Container, ws: Workspace, seed: int
) -> None:
    """Time stands still: every change must come from the real-time path alone."""
    rng, clock = random.Random(seed), Clock()
    engine, seen = setup_engine(container, ws.id, clock)
    container.ingest.ingest_sync(random_batch(rng, ws.id, clock))
    asyncio.run(engine.run_due_passes())  # first fill of every segment
    for _ in range(30):
        container.ingest.ingest_sync(random_batch(rng, ws.id, clock))
        if rng.random() < 0.6:  # sometimes several commits pile up before a round
            asyncio.run(engine.process_pending())
    asyncio.run(engine.process_pending())
    for seg_id in SHAPES:
        expected = recompute(container, ws.id, seg_id, clock(), fake_compile)
        assert current_members(container, ws.id, seg_id) == expected, seg_id
        assert engine.drift(ws.id, seg_id) == 0
    assert {e.cause for e in seen} <= {"refresh", "event"}
    assert any(e.cause == "event" and e.kind == "exited" for e in seen)
    assert_events_replay_to_state(container, ws.id, seen)


@pytest.mark.parametrize("seed", [4, 5])
def test_incremental_membership_with_time_passing_has_no_drift(
    container: Container, ws: Workspace, seed: int
) -> None:
    """The clock moves by random steps; passes expire windows; every periodic recompute
    finds zero drift and the final state equals the recompute at the final `now`."""
    rng, clock = random.Random(seed), Clock()
    engine, seen = setup_engine(container, ws.id, clock)
    asyncio.run(engine.run_due_passes())
    reports = []
    for _ in range(30):
        container.ingest.ingest_sync(random_batch(rng, ws.id, clock))
        asyncio.run(engine.process_pending())
        clock.advance(seconds=rng.choice([5, 20, 45, 300, 900]))
        reports += asyncio.run(engine.run_due_passes())
    clock.advance(hours=1)
    reports += asyncio.run(engine.run_due_passes())
    assert reports, "no periodic recompute ran"
    assert [r.drift for r in reports] == [0] * len(reports)
    assert sum(r.expired for r in reports) > 0  # windows did pass without new events
    for seg_id in SHAPES:
        expected = recompute(container, ws.id, seg_id, clock(), fake_compile)
        assert current_members(container, ws.id, seg_id) == expected, seg_id
    assert {"event", "expiry"} <= {e.cause for e in seen} <= {"refresh", "event", "expiry"}
    assert_events_replay_to_state(container, ws.id, seen)


def test_the_running_loop_emits_the_entry_within_a_second_of_the_ack(
    container: Container, ws: Workspace
) -> None:
    clock = Clock()
    engine, seen = setup_engine(container, ws.id, clock)
    clock.now = clock.now.replace(year=2030)  # live wall time is not needed: the clock is ours

    async def scenario() -> float:
        await container.ingest.start()
        await engine.start()
        try:
            await engine.run_due_passes()
            first = [
                track(ws.id, "fresh", "Viewed", clock()),
                track(ws.id, "fresh", "Viewed", clock()),
            ]
            await container.ingest.ingest(first)
            acked = time.perf_counter()
            while not any(
                e.segment_id == "seg_viewed_twice_1h" and e.cause == "event" for e in seen
            ):
                assert time.perf_counter() - acked < 1.0, "no entry event within 1 s"
                await asyncio.sleep(0.005)
            return time.perf_counter() - acked
        finally:
            await engine.stop()
            await container.ingest.stop()

    elapsed = asyncio.run(scenario())
    assert elapsed < 1.0
    entered = [e for e in seen if e.segment_id == "seg_viewed_twice_1h" and e.kind == "entered"]
    assert len(entered) == 1


def test_listeners_hear_of_commits_only_after_them(container: Container, ws: Workspace) -> None:
    """The ingest hook: stored messages' contacts per workspace, after COMMIT, never for
    duplicates; the data is readable when the listener is called."""
    heard: list[tuple[str, list[int], int]] = []

    class Listener:
        def committed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
            with container.db.read() as cur:
                row = cur.execute(
                    "SELECT count(*) FROM all_events WHERE workspace_id = ?", [workspace_id]
                ).fetchone()
            heard.append((workspace_id, list(contact_ids), int(row[0]) if row else -1))

    container.ingest.add_listener(Listener())
    m = track(ws.id, "a", "Viewed", Clock()())
    container.ingest.ingest_sync([m])
    container.ingest.ingest_sync([m])  # a duplicate: nothing stored, nothing heard
    assert len(heard) == 1
    assert heard[0][0] == ws.id
    assert len(heard[0][1]) == 1
    assert heard[0][2] == 1
