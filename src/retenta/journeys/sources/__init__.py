"""Entries that do not come with an event: durable sources read in the runner's tick, and
API calls.

``poll_sources`` runs once per runner tick. Each live journey with a source trigger is read
in its own writer unit (a journey whose source fails is logged and retried next tick, never
blocking the others), at most every ``POLL_EVERY`` per journey:

- ``segment``: the membership engine's entry/exit log (``segment_events``) with a cursor per
  journey (``journey_cursors``); a refresh writes many entries with one timestamp, so a tick
  reads every entry up to now.
- ``subscription``, ``list``, ``message``, ``goal``: history tables (``sources/logs.py``).
  Their rows carry the time the fact happened, which can be earlier than a row already read
  (a provider's delivery report, a client-stamped consent), so each tick re-reads the last
  ``LATE`` before its position and skips keys already decided (``journey_entry_keys``).
- ``schedule``, ``date``: time-driven (``sources/timed.py``): the occurrences due in
  ``(position, now]`` in each contact's timezone. Between due moments nothing is read: a
  journey is skipped until ``timed.next_due``, the first moment any zone reaches its time.

A journey reads from when it went live (its source starts then), never the source's past.
The runs, the decided keys and the new position commit in one unit, and a run id derives
from (journey, source row or occurrence), so a tick that dies half-way replays into the
same runs and a restart neither misses nor repeats an entry.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from retenta.errors import ApiError
from retenta.journeys.entry import Entrant, start_runs
from retenta.journeys.sources import logs, state, timed
from retenta.journeys.store import JourneyStore, LiveJourney
from retenta.journeys.triggers import ApiTrigger, DateTrigger, ScheduleTrigger, SegmentTrigger
from retenta.storage.base import Database

log = logging.getLogger(__name__)
POLL_EVERY = timedelta(seconds=0.5)
LATE = timedelta(minutes=5)  # how late a history row may be recorded and still be an entry
PRUNE_EVERY = timedelta(minutes=5)
_last_poll: dict[tuple[str, str, str], datetime] = {}
_last_prune: dict[tuple[str, str], datetime] = {}
_next_due: dict[tuple[str, str, str], datetime] = {}  # time-driven journeys: nothing before
PAUSE_GAP = timedelta(seconds=5)  # a live journey is seen every tick (0.1 s); more: paused
_seen_live: dict[tuple[str, str], tuple[datetime, int]] = {}
_unseen_since: dict[tuple[str, str], datetime] = {}


def poll_sources(db: Database, store: JourneyStore, now: datetime) -> int:
    """Start runs for every live source-triggered journey's new entries; how many started."""
    try:
        live = store.live_everywhere_cached()  # a read only after a journey changed
    except Exception:  # a stored journey that no longer parses must not stop the runner
        log.exception("live journeys could not be listed; no source read this tick")
        return 0
    started = 0
    for workspace_id, journey in live:
        trigger = journey.definition.entry.trigger
        if not _is_source(trigger):
            continue
        _note_live(workspace_id, journey, now)
        slot = (workspace_id, journey.journey_id, str(journey.version))
        if slot in _next_due and now < _next_due[slot]:
            continue  # a schedule or date that nobody anywhere is due for yet
        if not _due(workspace_id, journey, now):
            continue
        unseen = _unseen_since.get((workspace_id, journey.journey_id))
        try:
            started += db.write(partial(poll_one, workspace_id=workspace_id, journey=journey,
                                        now=now, unseen_since=unseen))  # fmt: skip
            _unseen_since.pop((workspace_id, journey.journey_id), None)
            if isinstance(trigger, ScheduleTrigger | DateTrigger):
                _next_due[slot] = timed.next_due(trigger, now)
        except Exception:  # logged; the source's position did not move, the next tick retries
            log.exception("journey %s: reading its %s trigger failed", journey.journey_id,
                          trigger.type)  # fmt: skip
    return started


def next_timed_due(after: datetime) -> datetime | None:
    """The earliest moment after ``after`` a schedule or date journey is due (the runner's
    idle sleep ends there); None when none is waiting."""
    later = [at for at in _next_due.values() if at > after]
    return min(later) if later else None


def _is_source(trigger: Any) -> bool:
    return isinstance(trigger, SegmentTrigger | ScheduleTrigger | DateTrigger) or (
        type(trigger) in logs.READERS
    )


def _note_live(workspace_id: str, journey: LiveJourney, now: datetime) -> None:
    """Remember when a tick last saw the journey live; a gap over ``PAUSE_GAP`` on the same
    version means it was paused (or the process busy) since then: the next read checks."""
    key = (workspace_id, journey.journey_id)
    last = _seen_live.get(key)
    _seen_live[key] = (now, journey.version)
    if last is not None and last[1] == journey.version and now - last[0] > PAUSE_GAP:
        _unseen_since.setdefault(key, last[0])


def _due(workspace_id: str, journey: LiveJourney, now: datetime) -> bool:
    """At most one read every ``POLL_EVERY`` per journey (a clock moving back reads at once)."""
    slot = (workspace_id, journey.journey_id, str(journey.version))
    last = _last_poll.get(slot)
    if last is not None and timedelta(0) <= now - last < POLL_EVERY:
        return False
    _last_poll[slot] = now
    return True


def poll_one(conn: Any, workspace_id: str, journey: LiveJourney, now: datetime,
             unseen_since: datetime | None = None) -> int:  # fmt: skip
    """Writer-side: one journey's new entries become runs; how many started. With
    ``unseen_since`` (no tick saw the journey live since then), a journey resumed after that
    starts reading at its resumption: what happened while it was paused is not an entry."""
    trigger = journey.definition.entry.trigger
    if isinstance(trigger, SegmentTrigger):
        return _read_segment(conn, workspace_id, journey, trigger, now)
    source = state.source_name(trigger)
    at = state.load(conn, workspace_id, journey.journey_id, source, now, LATE)
    resumed = _resumed_at(conn, workspace_id, journey.journey_id, unseen_since, now)
    if resumed is not None:
        at = state.start_again(conn, workspace_id, journey.journey_id, source, resumed)
    if isinstance(trigger, ScheduleTrigger | DateTrigger):
        return _fire_timed(conn, workspace_id, journey, trigger, source, at, now)
    return _read_log(conn, workspace_id, journey, trigger, source, at, now)


def _resumed_at(conn: Any, workspace_id: str, journey_id: str, unseen_since: datetime | None,
                now: datetime) -> datetime | None:  # fmt: skip
    """When the journey last changed status, if that was after ``unseen_since`` (and not
    after ``now``)."""
    if unseen_since is None:
        return None
    row = conn.execute("SELECT updated_at FROM journeys WHERE workspace_id = ? AND id = ?",
                       [workspace_id, journey_id]).fetchone()  # fmt: skip
    changed: datetime | None = row[0] if row is not None else None
    return changed if changed is not None and unseen_since < changed <= now else None


def _fire_timed(conn: Any, workspace_id: str, journey: LiveJourney,
                trigger: ScheduleTrigger | DateTrigger, source: str, at: state.SourceState,
                now: datetime) -> int:  # fmt: skip
    if now <= at.position:
        return 0
    after = timed.window_start(at.position, now)
    if isinstance(trigger, ScheduleTrigger):
        entrants = timed.schedule_entrants(conn, workspace_id, journey, trigger, after, now)
    else:
        entrants = timed.date_entrants(conn, workspace_id, journey, trigger, after, now)
    started = start_runs(conn, workspace_id, entrants)
    state.advance(conn, workspace_id, journey.journey_id, source, now)
    return len(started)


def _read_log(conn: Any, workspace_id: str, journey: LiveJourney, trigger: Any, source: str,
              at: state.SourceState, now: datetime) -> int:  # fmt: skip
    lower = max(at.since, at.position - LATE)
    found = logs.first_per_key(logs.READERS[type(trigger)](conn, workspace_id, trigger, lower, now))
    if not found:
        return 0
    seen = state.seen_keys(conn, workspace_id, journey.journey_id, lower)
    fresh = [e for e in found if e.key not in seen]
    owners = _owners(conn, workspace_id, sorted({e.contact_id for e in fresh}))
    entrants = [Entrant(journey, owners[e.contact_id], e.key, e.at, e.context)
                for e in fresh if e.contact_id in owners]  # fmt: skip
    started = start_runs(conn, workspace_id, entrants)
    state.remember(conn, workspace_id, journey.journey_id, [(e.key, e.at) for e in fresh])
    state.advance(conn, workspace_id, journey.journey_id, source, max(e.at for e in found))
    _prune(conn, workspace_id, journey.journey_id, lower, now)
    return len(started)


def _owners(conn: Any, workspace_id: str, contact_ids: list[int]) -> dict[int, int]:
    """Contact id in the source row -> the live contact it is now (merges followed; erased
    contacts absent)."""
    if not contact_ids:
        return {}
    rows = conn.execute(
        "SELECT c.id, coalesce(m.id, c.id) FROM contacts c LEFT JOIN contacts m"
        " ON m.workspace_id = c.workspace_id AND m.id = c.merged_into"
        " WHERE c.workspace_id = ? AND c.id IN (SELECT unnest(?::BIGINT[]))"
        " AND c.erased_at IS NULL AND (m.id IS NULL OR m.erased_at IS NULL)",
        [workspace_id, contact_ids],
    ).fetchall()
    return {int(a): int(b) for a, b in rows}


def _prune(conn: Any, workspace_id: str, journey_id: str, lower: datetime, now: datetime) -> None:
    slot = (workspace_id, journey_id)
    last = _last_prune.get(slot)
    if last is not None and timedelta(0) <= now - last < PRUNE_EVERY:
        return
    _last_prune[slot] = now
    state.forget_before(conn, workspace_id, journey_id, lower)


def _read_segment(conn: Any, workspace_id: str, journey: LiveJourney, trigger: SegmentTrigger,
                  now: datetime) -> int:  # fmt: skip
    source = f"segment:{trigger.segment_id}:{trigger.on}"
    position = _cursor(conn, workspace_id, journey.journey_id, source, now)
    rows = conn.execute(
        'SELECT contact_id, "at" FROM segment_events WHERE workspace_id = ? AND segment_id = ?'
        ' AND kind = ? AND "at" > ? AND "at" <= ? ORDER BY "at"',
        [workspace_id, trigger.segment_id, trigger.on, position, now],
    ).fetchall()
    if not rows:
        return 0
    entrants = [
        Entrant(journey, int(contact), f"seg\x1f{contact}\x1f{at.isoformat()}", at,
                {"event": f"segment_{trigger.on}", "segment_id": trigger.segment_id,
                 "timestamp": at.isoformat()})
        for contact, at in rows
    ]  # fmt: skip
    started = start_runs(conn, workspace_id, entrants)
    conn.execute(
        "UPDATE journey_cursors SET position = ? WHERE workspace_id = ? AND journey_id = ?"
        " AND source = ?",
        [rows[-1][1], workspace_id, journey.journey_id, source],
    )
    return len(started)


def _cursor(conn: Any, workspace_id: str, journey_id: str, source: str, now: datetime) -> datetime:
    row = conn.execute(
        "SELECT position FROM journey_cursors WHERE workspace_id = ? AND journey_id = ?"
        " AND source = ?",
        [workspace_id, journey_id, source],
    ).fetchone()
    if row is not None:
        return row[0]  # type: ignore[no-any-return]
    conn.execute("INSERT INTO journey_cursors VALUES (?, ?, ?, ?)",
                 [workspace_id, journey_id, source, now])  # fmt: skip
    return now


async def enter_by_api(db: Database, store: JourneyStore, workspace_id: str, journey_id: str,
                       contact_id: int, key: str, data: dict[str, Any]) -> str | None:  # fmt: skip
    """Start a run of an ``api`` journey; the same ``key`` never starts a second one.
    The run id, or ``None`` when the entry rules refused it."""

    def work(conn: Any) -> str | None:
        journey = next((j for j in store.live(conn, workspace_id) if j.journey_id == journey_id),
                       None)  # fmt: skip
        if journey is None:
            raise ApiError(409, "not_live", "the journey is not live", field="journey_id")
        if not isinstance(journey.definition.entry.trigger, ApiTrigger):
            raise ApiError(409, "wrong_trigger", "this journey is not started by the API")
        alive = conn.execute(
            "SELECT 1 FROM contacts WHERE workspace_id = ? AND id = ? AND erased_at IS NULL",
            [workspace_id, contact_id],
        ).fetchone()
        if alive is None:
            raise ApiError(404, "not_found", "no such contact", field="contact_id")
        at = datetime.now(UTC)
        context = {"event": "api", "data": data, "timestamp": at.isoformat()}
        orjson.dumps(context)  # refuse what cannot be stored before writing anything
        entrant = Entrant(journey, contact_id, f"api\x1f{key}", at, context)
        started = start_runs(conn, workspace_id, [entrant])
        return started[0] if started else None

    return await db.awrite(work)
