"""Full refresh with diff, events, crash safety, expiry and drift — against a real DuckDB
and the real ingest pipeline (the member query from the stand-in compiler)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from retenta.app import Container
from retenta.segments.membership import MembershipEngine, MembershipEvent, diff
from retenta.segments.membership.source import SegmentNotFoundError
from tests.conftest import Workspace
from tests.segments.test_membership_helpers import (
    Clock,
    bump_revision,
    contact_of,
    current_members,
    fake_compile,
    identify,
    save_segment,
    track,
)

VIEWED_24H = {
    "type": "event",
    "event": "Viewed",
    "window": {"kind": "last", "amount": 24, "unit": "hours"},
}
IN_KYIV = {"type": "attribute", "field": "city", "op": "equals", "value": "Kyiv"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(container: Container, clock: Clock) -> MembershipEngine:
    return MembershipEngine(container.db, fake_compile, clock=clock)


def recorded(engine: MembershipEngine) -> list[MembershipEvent]:
    seen: list[MembershipEvent] = []

    def keep(events: Sequence[MembershipEvent]) -> None:
        seen.extend(events)

    engine.subscribe(keep)
    return seen


def segment_events(container: Container, ws: str, seg: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            'SELECT contact_id, kind, cause, "at" FROM segment_events'
            ' WHERE workspace_id = ? AND segment_id = ? ORDER BY "at", contact_id, kind',
            [ws, seg],
        ).fetchall()


def test_refresh_opens_closes_intervals_and_is_idempotent(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    ingest = container.ingest.ingest_sync
    ingest([identify(ws.id, u, clock(), city="Kyiv") for u in ("a", "b", "c")])
    ingest([identify(ws.id, "d", clock(), city="Lviv")])
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV, realtime=False)
    a, b, c, d = (contact_of(container, ws.id, u) for u in "abcd")

    first = engine.refresh(ws.id, "seg_kyiv")
    assert (first.size, first.entered, first.exited) == (3, 3, 0)
    assert current_members(container, ws.id, "seg_kyiv") == {a, b, c}

    again = engine.refresh(ws.id, "seg_kyiv")
    assert (again.size, again.entered, again.exited) == (3, 0, 0)

    clock.advance(minutes=5)
    ingest([identify(ws.id, "a", clock(), city="Lviv"), identify(ws.id, "d", clock(), city="Kyiv")])
    moved = engine.refresh(ws.id, "seg_kyiv")
    assert (moved.size, moved.entered, moved.exited) == (3, 1, 1)
    assert current_members(container, ws.id, "seg_kyiv") == {b, c, d}
    with container.db.read() as cur:
        intervals = cur.execute(
            "SELECT contact_id, entered_at, exited_at FROM segment_membership"
            " WHERE segment_id = 'seg_kyiv' ORDER BY contact_id"
        ).fetchall()
    assert [(r[0], r[2] is None) for r in intervals] == [
        (a, False),
        (b, True),
        (c, True),
        (d, True),
    ]
    assert intervals[0][2] == clock()  # a's stay closed at the refresh's `now`
    events = segment_events(container, ws.id, "seg_kyiv")
    assert [(e[0], e[1], e[2]) for e in events] == [
        (a, "entered", "refresh"),
        (b, "entered", "refresh"),
        (c, "entered", "refresh"),
        (a, "exited", "refresh"),
        (d, "entered", "refresh"),
    ]


def test_subscribers_get_each_entry_and_exit_once(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    seen = recorded(engine)
    container.ingest.ingest_sync([identify(ws.id, "a", clock(), city="Kyiv")])
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV, realtime=False)
    engine.refresh(ws.id, "seg_kyiv")
    engine.refresh(ws.id, "seg_kyiv")
    container.ingest.ingest_sync([identify(ws.id, "a", clock(), city="Lviv")])
    engine.refresh(ws.id, "seg_kyiv")
    engine.refresh(ws.id, "seg_kyiv")
    a = contact_of(container, ws.id, "a")
    assert [(e.contact_id, e.kind, e.cause, e.segment_id) for e in seen] == [
        (a, "entered", "refresh", "seg_kyiv"),
        (a, "exited", "refresh", "seg_kyiv"),
    ]


def test_a_refresh_that_fails_mid_unit_leaves_the_previous_state(
    container: Container,
    ws: Workspace,
    engine: MembershipEngine,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container.ingest.ingest_sync([identify(ws.id, u, clock(), city="Kyiv") for u in "ab"])
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV, realtime=False)
    engine.refresh(ws.id, "seg_kyiv")
    before = current_members(container, ws.id, "seg_kyiv")
    events_before = segment_events(container, ws.id, "seg_kyiv")
    seen = recorded(engine)
    container.ingest.ingest_sync(
        [identify(ws.id, "a", clock(), city="Lviv"), identify(ws.id, "c", clock(), city="Kyiv")]
    )

    real_write = diff.write_diff

    def crash_after_writing(conn: Any, *args: Any) -> diff.Changes:
        real_write(conn, *args)  # intervals closed and opened, events appended …
        raise RuntimeError("power cut")  # … and then the unit dies before COMMIT

    monkeypatch.setattr(diff, "write_diff", crash_after_writing)
    with pytest.raises(RuntimeError, match="power cut"):
        engine.refresh(ws.id, "seg_kyiv")
    assert current_members(container, ws.id, "seg_kyiv") == before
    assert segment_events(container, ws.id, "seg_kyiv") == events_before
    assert seen == []

    monkeypatch.setattr(diff, "write_diff", real_write)
    result = engine.refresh(ws.id, "seg_kyiv")
    assert (result.entered, result.exited) == (1, 1)


def test_refresh_of_an_unknown_segment_says_which(ws: Workspace, engine: MembershipEngine) -> None:
    with pytest.raises(SegmentNotFoundError, match="seg_nope"):
        engine.refresh(ws.id, "seg_nope")


def test_a_new_revision_is_refreshed_with_cause_definition(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    container.ingest.ingest_sync(
        [identify(ws.id, "a", clock(), city="Kyiv"), identify(ws.id, "b", clock(), city="Lviv")]
    )
    save_segment(container, ws.id, "seg_city", IN_KYIV, realtime=False)
    engine.refresh(ws.id, "seg_city")
    bump_revision(container, ws.id, "seg_city", {**IN_KYIV, "value": "Lviv"})
    result = engine.refresh(ws.id, "seg_city")
    assert (result.entered, result.exited) == (1, 1)
    causes = {e[2] for e in segment_events(container, ws.id, "seg_city")[-2:]}
    assert causes == {"definition"}


def test_expiry_without_new_events(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    """A contact leaves "viewed in the last 24 h" when the window passes, with no event."""
    seen = recorded(engine)
    save_segment(container, ws.id, "seg_viewed", VIEWED_24H)
    container.ingest.ingest_sync([track(ws.id, "a", "Viewed", clock())])
    clock.advance(hours=2)
    container.ingest.ingest_sync([track(ws.id, "b", "Viewed", clock())])
    a, b = contact_of(container, ws.id, "a"), contact_of(container, ws.id, "b")

    asyncio.run(engine.run_due_passes())  # first fill
    assert current_members(container, ws.id, "seg_viewed") == {a, b}

    clock.advance(seconds=20)  # not due yet (hours window: a pass every 60 s)
    assert asyncio.run(engine.run_due_passes()) == []

    clock.advance(hours=22, seconds=11)  # a's view is 24 h 0 min 31 s old; b's 22 h
    reports = asyncio.run(engine.run_due_passes())
    assert [(r.segment_id, r.expired, r.drift) for r in reports] == [("seg_viewed", 1, 0)]
    assert current_members(container, ws.id, "seg_viewed") == {b}

    clock.advance(hours=2)
    asyncio.run(engine.run_due_passes())
    assert current_members(container, ws.id, "seg_viewed") == set()
    assert [(e.contact_id, e.kind, e.cause) for e in seen] == [
        (a, "entered", "refresh"),
        (b, "entered", "refresh"),
        (a, "exited", "expiry"),
        (b, "exited", "expiry"),
    ]


def test_drift_is_zero_when_every_change_came_through_the_engine(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV)
    container.ingest.add_listener(engine)
    container.ingest.ingest_sync([identify(ws.id, "a", clock(), city="Kyiv")])
    asyncio.run(engine.run_due_passes())
    container.ingest.ingest_sync([identify(ws.id, "b", clock(), city="Kyiv")])
    asyncio.run(engine.process_pending())
    assert engine.drift(ws.id, "seg_kyiv") == 0


def test_drift_counts_and_repairs_a_change_the_engine_never_saw(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV)
    container.ingest.ingest_sync([identify(ws.id, u, clock(), city="Kyiv") for u in "ab"])
    engine.refresh(ws.id, "seg_kyiv")
    a = contact_of(container, ws.id, "a")
    container.db.write(  # behind the engine's back: no commit listener heard of it
        lambda c: c.execute(
            'UPDATE contacts SET attributes = \'{"city": "Lviv"}\' WHERE id = ?', [a]
        )
    )
    report = engine.check(ws.id, "seg_kyiv")
    assert report is not None
    assert (report.drift, report.expired, report.sample) == (1, 0, (a,))
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT drift, sample FROM segment_drift ORDER BY checked_at DESC"
        ).fetchone()
    assert row == (1, [a])
    assert engine.drift(ws.id, "seg_kyiv") == 0  # repaired by the check


def test_a_pass_never_writes_its_stale_read_over_a_newer_real_time_answer(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    """The pass reads its member sets off the writer; a contact committed (and evaluated in
    real time) after that read is left out of the pass's diff, and is no drift."""
    container.ingest.add_listener(engine)
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV)
    container.ingest.ingest_sync([identify(ws.id, u, clock(), city="Kyiv") for u in "ab"])
    asyncio.run(engine.run_due_passes())
    a = contact_of(container, ws.id, "a")
    recorder = engine.pending.start_recording()
    read = engine._read_pass(ws.id, "seg_kyiv", clock())  # a is a member in this read …
    container.ingest.ingest_sync([identify(ws.id, "a", clock(), city="Lviv")])
    asyncio.run(engine.process_pending())  # … and leaves in real time right after it
    assert current_members(container, ws.id, "seg_kyiv") == {contact_of(container, ws.id, "b")}
    outcome = container.db.write(lambda c: engine._apply_pass(c, read, clock(), recorder))
    engine.pending.stop_recording(recorder)
    report = engine._finish_check(read, clock(), outcome)
    assert report is not None
    assert (report.drift, report.expired) == (0, 0)
    assert a not in current_members(container, ws.id, "seg_kyiv")


def test_the_container_engine_listens_to_ingest_commits(
    container: Container, ws: Workspace
) -> None:
    """build_membership (wired by app.py) registers the engine as a commit listener."""
    engine = container.segments.membership
    assert isinstance(engine, MembershipEngine)
    assert engine in container.ingest.listeners
    container.ingest.ingest_sync([track(ws.id, "a", "Viewed", Clock()())])
    assert engine.pending.snapshot(ws.id) == {contact_of(container, ws.id, "a")}


def test_a_pass_leaves_the_contacts_of_a_round_in_progress_to_that_round(
    container: Container, ws: Workspace, engine: MembershipEngine, clock: Clock
) -> None:
    container.ingest.add_listener(engine)
    save_segment(container, ws.id, "seg_kyiv", IN_KYIV)
    container.ingest.ingest_sync([identify(ws.id, u, clock(), city="Kyiv") for u in "ab"])
    asyncio.run(engine.run_due_passes())  # the first fill leaves pending contacts to a round
    asyncio.run(engine.process_pending())
    a = contact_of(container, ws.id, "a")
    assert a in current_members(container, ws.id, "seg_kyiv")
    container.ingest.ingest_sync([identify(ws.id, "a", clock(), city="Lviv")])
    taken = engine.pending.take()  # a round has taken `a` and not finished yet
    report = engine.check(ws.id, "seg_kyiv")
    assert report is not None
    assert report.drift == 0
    assert a in current_members(container, ws.id, "seg_kyiv")  # left to the round
    asyncio.run(engine.evaluate_contacts(ws.id, sorted(taken[ws.id])))
    engine.pending.done(ws.id, taken[ws.id])
    assert a not in current_members(container, ws.id, "seg_kyiv")
