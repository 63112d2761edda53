"""Helpers of the membership tests (no tests here): a controllable clock, saved segments,
messages through the real pipeline, and a small stand-in compiler.

The stand-in (``fake_compile``) reads the physical tables for a few condition shapes
(event count in a window, attribute equals, all/any/not) so the engine is tested before
and independently of COMPILER's ``compile_segment``; test_membership_compiled.py runs the
same properties through the real compiler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.app import Container
from retenta.core.messages import Message
from retenta.segments import store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


class Clock:
    """An injectable clock that only moves when told."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Compiled:
    sql: str


def _lit(value: Any) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _ts(value: datetime) -> str:
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def _leaf_sql(node: Mapping[str, Any], ws: str, now: datetime, universe: str) -> str:
    kind = node["type"]
    if kind == "all":
        return " INTERSECT ".join(
            f"({_leaf_sql(c, ws, now, universe)})" for c in node["conditions"]
        )
    if kind == "any":
        return " UNION ".join(f"({_leaf_sql(c, ws, now, universe)})" for c in node["conditions"])
    if kind == "not":
        return f"({universe}) EXCEPT ({_leaf_sql(node['condition'], ws, now, universe)})"
    if kind == "attribute":
        return (
            f"SELECT contact_id FROM ({universe}) u JOIN contacts c ON c.id = u.contact_id"
            f" WHERE json_extract_string(c.attributes, {_lit('$.' + node['field'])})"
            f" = {_lit(node['value'])}"
        )
    if kind == "event":
        window = node.get("window", {"kind": "ever"})
        time_filter = ""
        if window["kind"] == "last":
            since = now - timedelta(seconds=window["amount"] * UNITS[window["unit"]])
            time_filter = f" AND e.timestamp > {_ts(since)} AND e.timestamp <= {_ts(now)}"
        at_least = node.get("compare", {}).get("value", 1)
        return (
            f"SELECT u.contact_id FROM ({universe}) u JOIN all_events e"
            f" ON e.workspace_id = {_lit(ws)} AND e.contact_id = u.contact_id"
            f" WHERE e.event = {_lit(node['event'])}{time_filter}"
            f" GROUP BY u.contact_id HAVING count(*) >= {int(at_least)}"
        )
    raise ValueError(f"fake compiler: no {kind}")


def fake_compile(
    definition: Any,
    *,
    workspace_id: str,
    dialect: str = "duckdb",
    params: Mapping[str, Any] | None = None,
    now: datetime,
    resolve_segment: Callable[[str], Any] | None = None,
    candidates: str | None = None,
    rfm_config: Any = None,
    event_facts: bool = False,  # the physical tables are read as they are either way
) -> Compiled:
    """Members over the physical tables (no merges in these streams: ids are live)."""
    universe = (
        "SELECT id AS contact_id FROM contacts WHERE workspace_id = "
        f"{_lit(workspace_id)} AND merged_into IS NULL AND erased_at IS NULL"
    )
    if candidates:
        universe += f" AND id IN (SELECT contact_id FROM {candidates})"
    return Compiled(_leaf_sql(definition["root"], workspace_id, now, universe))


def save_segment(
    container: Container,
    ws: str,
    seg_id: str,
    root: Mapping[str, Any],
    *,
    realtime: bool = True,
    revision: int = 1,
) -> None:
    row = store.SegmentRow(
        id=seg_id,
        workspace_id=ws,
        name=seg_id,
        kind="rules",
        created_at=T0,
        updated_at=T0,
        definition={"version": 1, "root": dict(root)},
        realtime=realtime,
        revision=revision,
    )
    container.db.write(lambda c: store.insert(c, row))


def bump_revision(container: Container, ws: str, seg_id: str, root: Mapping[str, Any]) -> None:
    import orjson

    container.db.write(
        lambda c: c.execute(
            "UPDATE segments SET definition = ?, revision = revision + 1"
            " WHERE workspace_id = ? AND id = ?",
            [orjson.dumps({"version": 1, "root": root}).decode(), ws, seg_id],
        )
    )


_counter = iter(range(10**9))


def track(
    ws: str, user: str | None, event: str, at: datetime, *, anonymous_id: str | None = None
) -> Message:
    return Message(
        workspace_id=ws,
        message_id=f"m{next(_counter)}",
        type="track",
        timestamp=at,
        received_at=at,
        event=event,
        user_id=user,
        anonymous_id=anonymous_id,
    )


def identify(
    ws: str, user: str, at: datetime, *, anonymous_id: str | None = None, **traits: Any
) -> Message:
    return Message(
        workspace_id=ws,
        message_id=f"m{next(_counter)}",
        type="identify",
        timestamp=at,
        received_at=at,
        user_id=user,
        anonymous_id=anonymous_id,
        traits=traits,
    )


def current_members(container: Container, ws: str, seg_id: str) -> set[int]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id FROM segment_membership"
            " WHERE workspace_id = ? AND segment_id = ? AND exited_at IS NULL",
            [ws, seg_id],
        ).fetchall()
    return {int(r[0]) for r in rows}


def recompute(
    container: Container, ws: str, seg_id: str, now: datetime, compile_fn: Any
) -> set[int]:
    """The full member query, run directly (the reference for incremental state)."""
    with container.db.read() as cur:
        row = store.get(cur, ws, seg_id)
        assert row is not None
        assert row.definition is not None
        sql = compile_fn(row.definition, workspace_id=ws, now=now).sql
        return {int(r[0]) for r in cur.execute(f"SELECT contact_id FROM ({sql})").fetchall()}


def contact_of(container: Container, ws: str, user: str) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT contact_id FROM identities WHERE workspace_id = ? AND type = 'external_id'"
            " AND value = ?",
            [ws, user],
        ).fetchone()
    assert row is not None
    return int(row[0])
