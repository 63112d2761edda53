"""The real-time properties through COMPILER's real ``compile_segment`` and VIEWS' logical
views (live contacts through merges): incremental membership equals the full recompute
after randomized streams that also merge anonymous visitors into known contacts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import pytest

from retenta.app import Container
from retenta.core.messages import Message
from retenta.segments.compiler import compile_segment
from retenta.segments.membership import MembershipEngine, MembershipEvent
from tests.conftest import Workspace
from tests.segments.test_membership_helpers import (
    Clock,
    current_members,
    identify,
    recompute,
    save_segment,
    track,
)

CITY = {"type": "attribute", "field": "city", "value_type": "text", "op": "equals"}
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
            {**CITY, "value": "Kyiv"},
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
            {**CITY, "value": "Lviv"},
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
USERS = [f"u{i}" for i in range(15)]
VISITORS = [f"anon{i}" for i in range(15)]


def random_batch(rng: random.Random, ws: str, clock: Clock) -> list[Message]:
    """Known users' views, purchases and city changes; anonymous visitors' views; now and
    then a visitor identifies as a user (their contacts merge)."""
    out: list[Message] = []
    for _ in range(rng.randint(1, 5)):
        roll, at = rng.random(), clock()
        if roll < 0.4:
            out.append(track(ws, rng.choice(USERS), "Viewed", at))
        elif roll < 0.55:
            out.append(track(ws, None, "Viewed", at, anonymous_id=rng.choice(VISITORS)))
        elif roll < 0.65:
            out.append(track(ws, rng.choice(USERS), "Bought", at))
        elif roll < 0.85:
            city = rng.choice(["Kyiv", "Lviv", "Odesa"])
            out.append(identify(ws, rng.choice(USERS), at, city=city))
        else:
            visitor, user = rng.choice(VISITORS), rng.choice(USERS)
            out.append(identify(ws, user, at, anonymous_id=visitor))
    return out


def engine_with_segments(
    container: Container, ws: str, clock: Clock
) -> tuple[MembershipEngine, list[MembershipEvent]]:
    engine = MembershipEngine(container.db, compile_segment, clock=clock)
    container.ingest.add_listener(engine)
    seen: list[MembershipEvent] = []

    def keep(events: Sequence[MembershipEvent]) -> None:
        seen.extend(events)

    engine.subscribe(keep)
    for seg_id, root in SHAPES.items():
        save_segment(container, ws, seg_id, root)
    return engine, seen


def merged_contacts(container: Container, ws: str) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND merged_into IS NOT NULL",
            [ws],
        ).fetchone()
    return int(row[0]) if row else 0


def test_compiled_incremental_equals_full_recompute_through_merges(
    container: Container, ws: Workspace
) -> None:
    rng, clock = random.Random(11), Clock()
    engine, seen = engine_with_segments(container, ws.id, clock)
    asyncio.run(engine.run_due_passes())
    reports = []
    for step in range(30):
        container.ingest.ingest_sync(random_batch(rng, ws.id, clock))
        asyncio.run(engine.process_pending())
        if step % 2:
            clock.advance(seconds=rng.choice([5, 40, 600, 1500]))
            reports += asyncio.run(engine.run_due_passes())
    clock.advance(hours=1)
    reports += asyncio.run(engine.run_due_passes())
    assert merged_contacts(container, ws.id) > 0, "the stream merged nobody"
    assert reports
    assert [r.drift for r in reports] == [0] * len(reports)
    for seg_id in SHAPES:
        expected = recompute(container, ws.id, seg_id, clock(), compile_segment)
        assert current_members(container, ws.id, seg_id) == expected, seg_id
    assert {e.cause for e in seen} >= {"event", "expiry"}
    with container.db.read() as cur:
        merged_away = {
            r[0]
            for r in cur.execute(
                "SELECT id FROM contacts WHERE workspace_id = ? AND merged_into IS NOT NULL",
                [ws.id],
            ).fetchall()
        }
    for seg_id in SHAPES:  # a merged-away contact is never a current member
        assert not current_members(container, ws.id, seg_id) & merged_away, seg_id


@pytest.mark.parametrize("seed", [21, 22])
def test_compiled_incremental_equals_full_recompute_with_the_clock_still(
    container: Container, ws: Workspace, seed: int
) -> None:
    rng, clock = random.Random(seed), Clock()
    engine, _ = engine_with_segments(container, ws.id, clock)
    asyncio.run(engine.run_due_passes())
    for _ in range(25):
        container.ingest.ingest_sync(random_batch(rng, ws.id, clock))
        if rng.random() < 0.5:
            asyncio.run(engine.process_pending())
    asyncio.run(engine.process_pending())
    for seg_id in SHAPES:
        expected = recompute(container, ws.id, seg_id, clock(), compile_segment)
        assert current_members(container, ws.id, seg_id) == expected, seg_id
        assert engine.drift(ws.id, seg_id) == 0
