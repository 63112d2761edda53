"""How far each live journey has read each source (``journey_source_state``), and the keys
of log entries already decided (``journey_entry_keys``), both migration 0029.

Every function runs on the writer connection, inside the unit that starts the runs, so the
runs and the read position commit together: a tick that dies rolls both back and the next
one reads the same entries again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from retenta.journeys.triggers import Strict

KEYS = pa.schema(
    [("workspace_id", pa.string()), ("journey_id", pa.string()), ("key", pa.string()),
     ("at", pa.timestamp("us", tz="UTC"))]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourceState:
    since: datetime  # when the journey started reading: nothing earlier is an entry
    position: datetime  # read (or fired) up to here


def source_name(trigger: Strict) -> str:
    """The trigger's type and a digest of its settings: an edited trigger is a new source.

    >>> from retenta.journeys.triggers import ListTrigger
    >>> source_name(ListTrigger(type="list", name="vip")).startswith("list:")
    True
    """
    digest = hashlib.sha256(trigger.model_dump_json().encode()).hexdigest()[:16]
    return f"{getattr(trigger, 'type', 'source')}:{digest}"


def load(conn: Any, workspace_id: str, journey_id: str, source: str, now: datetime,
         lookback: timedelta) -> SourceState:  # fmt: skip
    """The source's state. A source read for the first time starts when the journey went live
    with it (its last change), so an entry between that and this first tick is not lost —
    but never more than ``lookback`` ago."""
    row = conn.execute(
        "SELECT since, position FROM journey_source_state WHERE workspace_id = ?"
        " AND journey_id = ? AND source = ?",
        [workspace_id, journey_id, source],
    ).fetchone()
    if row is not None:
        return SourceState(row[0], row[1])
    changed = conn.execute(
        "SELECT updated_at FROM journeys WHERE workspace_id = ? AND id = ?",
        [workspace_id, journey_id],
    ).fetchone()
    start = min(now, max(changed[0] if changed else now, now - lookback))
    conn.execute("INSERT INTO journey_source_state VALUES (?, ?, ?, ?, ?)",
                 [workspace_id, journey_id, source, start, start])  # fmt: skip
    return SourceState(start, start)


def start_again(conn: Any, workspace_id: str, journey_id: str, source: str, moment: datetime
                ) -> SourceState:  # fmt: skip
    """Nothing before ``moment`` is an entry any more (a journey resumed after a pause)."""
    conn.execute(
        "UPDATE journey_source_state SET since = greatest(since, ?), position ="
        " greatest(position, ?) WHERE workspace_id = ? AND journey_id = ? AND source = ?",
        [moment, moment, workspace_id, journey_id, source],
    )
    row = conn.execute(
        "SELECT since, position FROM journey_source_state WHERE workspace_id = ?"
        " AND journey_id = ? AND source = ?",
        [workspace_id, journey_id, source],
    ).fetchone()
    return SourceState(row[0], row[1])


def advance(conn: Any, workspace_id: str, journey_id: str, source: str, position: datetime
            ) -> None:  # fmt: skip
    conn.execute(
        "UPDATE journey_source_state SET position = greatest(position, ?) WHERE workspace_id = ?"
        " AND journey_id = ? AND source = ?",
        [position, workspace_id, journey_id, source],
    )


def seen_keys(conn: Any, workspace_id: str, journey_id: str, after: datetime) -> set[str]:
    """Keys already decided whose entry time is after ``after`` (all a re-read can meet)."""
    rows = conn.execute(
        'SELECT key FROM journey_entry_keys WHERE workspace_id = ? AND journey_id = ? AND "at" > ?',
        [workspace_id, journey_id, after],
    ).fetchall()
    return {str(r[0]) for r in rows}


def remember(conn: Any, workspace_id: str, journey_id: str,
             keys: Iterable[tuple[str, datetime]]) -> None:  # fmt: skip
    """Record decided keys (one Arrow insert)."""
    items = list(keys)
    if not items:
        return
    table = pa.Table.from_pydict(
        {"workspace_id": [workspace_id] * len(items), "journey_id": [journey_id] * len(items),
         "key": [k for k, _ in items], "at": [at for _, at in items]},
        schema=KEYS,
    )  # fmt: skip
    conn.register("_entry_keys", table)
    try:
        conn.execute(
            "INSERT INTO journey_entry_keys SELECT * FROM _entry_keys ON CONFLICT DO NOTHING"
        )
    finally:
        conn.unregister("_entry_keys")


def forget_before(conn: Any, workspace_id: str, journey_id: str, before: datetime) -> None:
    """Drop keys no re-read can reach any more (entry time at or before ``before``)."""
    conn.execute(
        'DELETE FROM journey_entry_keys WHERE workspace_id = ? AND journey_id = ? AND "at" <= ?',
        [workspace_id, journey_id, before],
    )
