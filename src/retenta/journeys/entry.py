"""Runs start inside the writer transaction of the event that triggers them.

``JourneyEntry`` is an ingest applier: the accepted event and the runs it starts commit
together (or not at all), so no trigger is ever lost between "event stored" and "run
started", and a retried event (same ``messageId``) is dropped by ingest dedup before it
gets here. The run id derives from (journey, message id) as a second line of defence.
It also wakes runs waiting for the event ("until Order Completed or 24 h").

Entry rules: ``once`` (never again for this contact), ``once_per`` (not within the period
since the last entry), ``every_time``; and never more than ``max_concurrent`` active runs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.journeys.definition import EventTrigger
from retenta.journeys.engine import compare
from retenta.journeys.goals import check_goals
from retenta.journeys.store import JourneyStore, LiveJourney, event_journeys

RUN_COLUMNS = ("run_id", "workspace_id", "journey_id", "version", "contact_id", "state",
               "node_id", "node_entered_at", "entered_at", "wake_at", "context")  # fmt: skip


def run_id_for(journey_id: str, message_id: str) -> str:
    """The run a (journey, entry key) starts: the same key always names the same run.

    >>> run_id_for("jny_1", "m1") == run_id_for("jny_1", "m1") != run_id_for("jny_2", "m1")
    True
    """
    return "run_" + hashlib.sha256(f"{journey_id}\x1f{message_id}".encode()).hexdigest()[:28]


def matches(trigger: EventTrigger, message: Message) -> bool:
    if message.event != trigger.event:
        return False
    props = message.properties or {}
    return all(compare(props.get(f.property), f.op, f.value) for f in trigger.where)


class JourneyEntry:
    name = "journeys"

    def __init__(self, store: JourneyStore) -> None:
        self.store = store

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        by_workspace: dict[str, list[Message]] = defaultdict(list)
        for message in messages:
            if message.type == "track" and message.event and message.contact_id is not None:
                by_workspace[message.workspace_id].append(message)
        for workspace_id, batch in by_workspace.items():
            live = self.store.live(conn, workspace_id)
            if live:
                check_goals(conn, self.store, workspace_id, batch, live)  # goals.py: converted
                self._start(conn, workspace_id, batch, event_journeys(live))
                _wake(conn, workspace_id, batch)

    def _start(self, conn: Any, workspace_id: str, batch: list[Message],
               by_event: dict[str, list[LiveJourney]]) -> None:  # fmt: skip
        entrants = [
            Entrant(
                journey,
                int(message.contact_id or 0),
                message.message_id,
                message.timestamp,
                _event_context(message),
            )
            for message in batch
            for journey in by_event.get(message.event or "", ())
            if matches(journey.definition.entry.trigger, message)  # type: ignore[arg-type]
        ]
        start_runs(conn, workspace_id, entrants)


@dataclass(frozen=True, slots=True)
class Entrant:
    """A contact about to enter a journey; ``key`` makes the run id (one run per key)."""

    journey: LiveJourney
    contact_id: int
    key: str
    at: datetime
    context: dict[str, Any]


def start_runs(conn: Any, workspace_id: str, entrants: list[Entrant]) -> list[str]:
    """Writer-side: the runs the entry rules allow, inserted (a known key is skipped);
    their ids."""
    if not entrants:
        return []
    run_ids = [run_id_for(e.journey.journey_id, e.key) for e in entrants]
    history, known = _history(conn, workspace_id, entrants, run_ids)
    now = datetime.now(UTC)
    rows = []
    for entrant, run_id in zip(entrants, run_ids, strict=True):
        if run_id in known:  # a replayed entry: starts nothing, counts toward no rule
            continue
        known.add(run_id)
        key = (entrant.journey.journey_id, entrant.contact_id)
        last, active = history.get(key, (None, 0))
        if not _may_enter(entrant.journey, last, active, entrant.at):
            continue
        history[key] = (entrant.at, active + 1)
        rows.append(_run_row(workspace_id, entrant, run_id, now))
    if rows:
        _insert_runs(conn, rows, now)
    return [str(r["run_id"]) for r in rows]


def _may_enter(journey: LiveJourney, last: datetime | None, active: int, at: datetime) -> bool:
    rule = journey.definition.entry.rule
    if active >= rule.max_concurrent:
        return False
    if last is None or rule.type == "every_time":
        return True
    if rule.type == "once":
        return False
    return rule.period is None or at - last >= rule.period.delta()


HISTORY_SQL = """
WITH wanted AS (SELECT unnest($run_ids::VARCHAR[]) AS run_id)
SELECT r.journey_id, r.contact_id, max(r.entered_at), count(*) FILTER (WHERE r.state = 'active'),
       list(r.run_id) FILTER (WHERE w.run_id IS NOT NULL)
FROM journey_runs r LEFT JOIN wanted w ON w.run_id = r.run_id
WHERE r.workspace_id = $ws AND r.journey_id IN (SELECT unnest($journeys::VARCHAR[]))
  AND r.contact_id IN (SELECT unnest($contacts::BIGINT[]))
GROUP BY ALL
"""


def _history(conn: Any, workspace_id: str, entrants: list[Entrant], run_ids: list[str]
             ) -> tuple[dict[tuple[str, int], tuple[datetime | None, int]], set[str]]:  # fmt: skip
    """Per (journey, contact): the last entry and the active runs; and which of the entrants'
    run ids exist already (only those are fetched, however many runs a contact has had)."""
    rows = conn.execute(HISTORY_SQL, {
        "ws": workspace_id, "journeys": sorted({e.journey.journey_id for e in entrants}),
        "contacts": sorted({e.contact_id for e in entrants}),
        "run_ids": run_ids,
    }).fetchall()  # fmt: skip
    history = {(j, int(c)): (last, int(active)) for j, c, last, active, _ in rows}
    return history, {run_id for *_, run_ids in rows for run_id in run_ids or ()}


def _event_context(message: Message) -> dict[str, Any]:
    return {
        "event": message.event,
        "properties": message.properties or {},
        "timestamp": message.timestamp.isoformat(),
        "message_id": message.message_id,
    }


def _run_row(workspace_id: str, entrant: Entrant, run_id: str, now: datetime
             ) -> dict[str, Any]:  # fmt: skip
    journey = entrant.journey
    return {
        "run_id": run_id,
        "workspace_id": workspace_id, "journey_id": journey.journey_id,
        "version": journey.version, "contact_id": entrant.contact_id,
        "state": "active", "node_id": journey.definition.start, "node_entered_at": now,
        "entered_at": now, "wake_at": now,
        "context": orjson.dumps(entrant.context, default=str).decode(),
    }  # fmt: skip


def _insert_runs(conn: Any, rows: list[dict[str, Any]], now: datetime) -> None:
    table = pa.Table.from_pylist(rows)
    cols = ", ".join(RUN_COLUMNS)
    conn.register("_new_runs", table)
    try:
        conn.execute(
            f"INSERT INTO journey_runs ({cols}) SELECT {cols} FROM _new_runs ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO journey_trace SELECT workspace_id, run_id, journey_id, contact_id, ?,"
            " node_id, 'entered', 'triggered by ' || coalesce(context->>'event', 'api')"
            " FROM _new_runs",
            [now],
        )
    finally:
        conn.unregister("_new_runs")


def _wake(conn: Any, workspace_id: str, batch: list[Message]) -> None:
    """Runs waiting for one of these events, for these contacts, are due now."""
    events = sorted({m.event or "" for m in batch})
    contacts = sorted({int(m.contact_id or 0) for m in batch})
    conn.execute(
        "UPDATE journey_runs SET wake_at = ? WHERE workspace_id = ? AND state = 'active'"
        " AND waiting_for IN (SELECT unnest(?::VARCHAR[])) AND contact_id IN"
        " (SELECT unnest(?::BIGINT[]))",
        [datetime.now(UTC), workspace_id, events, contacts],
    )
