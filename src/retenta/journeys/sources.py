"""Entries that do not come with an event: segment entries/exits and API calls.

Segment entries are read from the membership engine's durable log (``segment_events``)
with a cursor per journey, in the runner's tick; the run id derives from the log row, so
an entry becomes a run exactly once even when a tick dies half-way. A tick reads every
entry up to now (a refresh writes many entries with one timestamp, so a page boundary
inside them would skip some). A journey reads
entries from when it went live (its cursor starts then), never the segment's past.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.errors import ApiError
from retenta.journeys.definition import ApiTrigger, SegmentTrigger
from retenta.journeys.entry import Entrant, start_runs
from retenta.journeys.store import JourneyStore, LiveJourney
from retenta.storage.base import Database


def segment_entries(conn: Any, store: JourneyStore, now: datetime) -> int:
    """Writer-side: start runs for new segment entries/exits of every live segment journey."""
    started = 0
    for workspace_id, journey in store.live_everywhere(conn):
        trigger = journey.definition.entry.trigger
        if isinstance(trigger, SegmentTrigger):
            started += _read_segment(conn, workspace_id, journey, trigger, now)
    return started


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
