"""The journey-level goal: its event while a run is active ends the run as converted.

``check_goals`` runs inside the ingest writer transaction of the event (called by the entry
applier before it starts new runs, so the event that starts a run never converts it): the
conversion is recorded in ``journey_goals`` (once per run), the run finishes and its trace
says ``converted`` — in the same unit as the event, so an accepted goal event and the
conversion it causes commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from retenta.core.messages import Message
from retenta.journeys.definition import DefinitionError, Journey
from retenta.journeys.engine import compare
from retenta.journeys.nodes import JourneyGoal
from retenta.journeys.store import JourneyStore, LiveJourney

log = logging.getLogger(__name__)
GOAL_NODE = "goal"  # journey_goals.node_id of the journey-level goal

ACTIVE_RUNS_SQL = """
SELECT run_id, version, contact_id, node_id FROM journey_runs
WHERE workspace_id = ? AND journey_id = ? AND state = 'active'
  AND contact_id IN (SELECT unnest(?::BIGINT[]))
"""


def goal_met(goal: JourneyGoal, message: Message) -> bool:
    """Whether the event is the goal (name and every property filter)."""
    if message.event != goal.event:
        return False
    props = message.properties or {}
    return all(compare(props.get(f.property), f.op, f.value) for f in goal.where)


def check_goals(conn: Any, store: JourneyStore, workspace_id: str, batch: Sequence[Message],
                live: Sequence[LiveJourney]) -> int:  # fmt: skip
    """Writer-side: convert the active runs whose journey's goal these events meet; how many."""
    converted = 0
    for journey in live:
        names = goal_events(conn, store, workspace_id, journey)
        events = [m for m in batch if m.event in names]
        if events:
            converted += _convert(conn, store, workspace_id, journey, events)
    return converted


_GOAL_EVENTS: dict[tuple[str, str, int], frozenset[str]] = {}


def goal_events(conn: Any, store: JourneyStore, workspace_id: str, journey: LiveJourney
                ) -> frozenset[str]:  # fmt: skip
    """The goal events of every version up to the live one: a run keeps the goal of the
    version it started on, so an edited goal must not strand older runs (versions are
    immutable, so the answer is cached per live version)."""
    key = (workspace_id, journey.journey_id, journey.version)
    names = _GOAL_EVENTS.get(key)
    if names is None:
        goal = journey.definition.goal
        found = {goal.event} if goal is not None else set()
        if journey.version > 1:
            rows = conn.execute(
                "SELECT version FROM journey_versions WHERE workspace_id = ? AND journey_id = ?"
                " AND version < ?", [workspace_id, journey.journey_id, journey.version],
            ).fetchall()  # fmt: skip
            for (version,) in rows:
                older = _goal_of(conn, store, workspace_id, journey, int(version))
                if older is not None:
                    found.add(older.event)
        names = _GOAL_EVENTS[key] = frozenset(found)
    return names


def _convert(conn: Any, store: JourneyStore, workspace_id: str, journey: LiveJourney,
             events: list[Message]) -> int:  # fmt: skip
    contacts = sorted({int(m.contact_id or 0) for m in events})
    runs = conn.execute(ACTIVE_RUNS_SQL, [workspace_id, journey.journey_id, contacts]).fetchall()
    now = datetime.now(UTC)
    done = 0
    for run_id, version, contact_id, node_id in runs:
        goal = _goal_of(conn, store, workspace_id, journey, int(version))
        met = next((m for m in events if int(m.contact_id or 0) == int(contact_id)
                    and goal is not None and goal_met(goal, m)), None)  # fmt: skip
        if met is None or goal is None:
            continue
        _finish(conn, workspace_id, journey.journey_id, int(version), str(run_id),
                int(contact_id), str(node_id), goal, met, now)  # fmt: skip
        done += 1
    return done


def _goal_of(conn: Any, store: JourneyStore, workspace_id: str, journey: LiveJourney,
             version: int) -> JourneyGoal | None:  # fmt: skip
    """The goal of the version the run is on (a run keeps its version's rules)."""
    if version == journey.version:
        return journey.definition.goal
    try:
        definition: Journey = store.version(conn, workspace_id, journey.journey_id, version)
    except (DefinitionError, ValueError):  # never let one stored version fail ingestion
        log.exception("journey %s v%s no longer parses; its goal is skipped",
                      journey.journey_id, version)  # fmt: skip
        return None
    return definition.goal


def _finish(conn: Any, workspace_id: str, journey_id: str, version: int, run_id: str,
            contact_id: int, node_id: str, goal: JourneyGoal, event: Message,
            now: datetime) -> None:  # fmt: skip
    from retenta.journeys.effects import record_goal

    record_goal(conn, workspace_id, journey_id, version, run_id, contact_id, GOAL_NODE,
                goal.name, event.message_id, event.timestamp or now)  # fmt: skip
    conn.execute(
        "UPDATE journey_runs SET state = 'done', wake_at = NULL, waiting_for = NULL,"
        " finished_at = ? WHERE run_id = ? AND state = 'active'",
        [now, run_id],
    )
    conn.execute(
        "INSERT INTO journey_trace VALUES (?, ?, ?, ?, ?, ?, 'converted', ?)",
        [workspace_id, run_id, journey_id, contact_id, now, node_id,
         f"goal {goal.name!r}: {event.event!r} while the run was active"],
    )  # fmt: skip
