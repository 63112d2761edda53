"""Moving live runs to a journey's new version (``PUT /journeys/{id}`` with ``migrate``).

``stay`` (the default) leaves every run in flight on the version it started on. ``move``
moves each active run whose node exists in the new version — under the same id, or under
the id ``node_map`` gives it — and leaves the others where they are, counting why. A moved
run is due at once: the engine re-reads its node in the new version (a wait of another
length now ends at the new time; a wait it has outlived ends at once) and the trace says
``moved``. The plan is pure (``plan``); ``apply_migration`` runs it inside the writer unit
that saves the new version, so the version and the moves commit together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from retenta.errors import ApiError
from retenta.journeys.definition import Journey


class Migrate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["stay", "move"] = "stay"
    node_map: dict[str, str] = {}


@dataclass
class Plan:
    """Where each (version, node) group of active runs goes; why the others stay."""

    moves: dict[tuple[int, str], str] = field(default_factory=dict)
    moved: int = 0
    stayed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def summary(self, mode: str) -> dict[str, Any]:
        return {"mode": mode, "moved": self.moved, "stayed": self.stayed,
                "reasons": dict(self.reasons)}  # fmt: skip


def parse_migrate(raw: Any) -> Migrate:
    """The ``migrate`` object, or a 422 naming the field."""
    try:
        return Migrate.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(["migrate", *(str(p) for p in error["loc"])])
        raise ApiError(422, "validation_error", f"{path}: {error['msg']}", field=path) from exc


def check_node_map(node_map: Mapping[str, str], new: Journey, old_nodes: set[str]) -> None:
    """Every mapping names a node some earlier version has and a node the new one has."""
    new_nodes = {n.id for n in new.nodes}
    for source, target in node_map.items():
        path = f"migrate.node_map.{source}"
        if source not in old_nodes:
            raise ApiError(422, "validation_error", f"{path}: no node {source!r} in any"
                           " earlier version", field=path)  # fmt: skip
        if target not in new_nodes:
            raise ApiError(422, "validation_error", f"{path}: no node {target!r} in the new"
                           " version", field=path)  # fmt: skip


def plan(groups: Iterable[tuple[int, str, int]], new: Journey, version: int, mode: str,
         node_map: Mapping[str, str]) -> Plan:  # fmt: skip
    """Active runs grouped as (version, node, count) → what moves where.

    >>> from retenta.journeys.definition import parse
    >>> doc = {"name": "j", "entry": {"trigger": {"type": "api"}}, "start": "w",
    ...        "nodes": [{"id": "w", "type": "wait", "duration": {"amount": 1, "unit": "days"},
    ...                   "next": "x"}, {"id": "x", "type": "exit"}]}
    >>> p = plan([(1, "w", 5), (1, "gone", 2), (1, "old", 1)], parse(doc), 2, "move",
    ...          {"old": "w"})
    >>> p.moves, p.moved, p.stayed, dict(p.reasons)
    ({(1, 'w'): 'w', (1, 'old'): 'w'}, 6, 2, {"node 'gone' is not in version 2": 2})
    """
    result = Plan()
    new_nodes = {n.id for n in new.nodes}
    for run_version, node_id, count in groups:
        if run_version == version:
            continue
        target = node_map.get(node_id, node_id)
        if mode == "stay":
            result.reasons["the rule is stay"] += count
        elif target in new_nodes:
            result.moves[(run_version, node_id)] = target
            result.moved += count
            continue
        else:
            result.reasons[f"node {node_id!r} is not in version {version}"] += count
        result.stayed += count
    return result


GROUPS_SQL = """
SELECT version, node_id, count(*) FROM journey_runs
WHERE workspace_id = ? AND journey_id = ? AND state = 'active' GROUP BY ALL ORDER BY ALL
"""
MOVES = pa.schema([("version", pa.int32()), ("node_id", pa.string()), ("to_node", pa.string())])
TRACE_SQL = """
INSERT INTO journey_trace SELECT r.workspace_id, r.run_id, r.journey_id, r.contact_id, ?,
    m.to_node, 'moved',
    'moved from version ' || r.version || ' (' || r.node_id || ') to version ' || ? || ' ('
    || m.to_node || ')'
FROM journey_runs r JOIN _moves m ON r.version = m.version AND r.node_id = m.node_id
WHERE r.workspace_id = ? AND r.journey_id = ? AND r.state = 'active'
"""
MOVE_SQL = """
UPDATE journey_runs r SET version = ?, wake_at = ?, lease_until = NULL, node_id = m.to_node,
    node_entered_at = CASE WHEN m.to_node = r.node_id THEN r.node_entered_at ELSE ? END
FROM _moves m
WHERE r.version = m.version AND r.node_id = m.node_id AND r.workspace_id = ?
  AND r.journey_id = ? AND r.state = 'active'
"""


def apply_migration(conn: Any, workspace_id: str, journey_id: str, version: int, new: Journey,
                    migrate: Migrate, now: datetime) -> dict[str, Any]:  # fmt: skip
    """Writer-side: move the runs the plan moves, log the migration; its summary."""
    groups = conn.execute(GROUPS_SQL, [workspace_id, journey_id]).fetchall()
    result = plan(groups, new, version, migrate.mode, migrate.node_map)
    if result.moves:
        rows = [{"version": v, "node_id": n, "to_node": t} for (v, n), t in result.moves.items()]
        conn.register("_moves", pa.Table.from_pylist(rows, schema=MOVES))
        try:
            conn.execute(TRACE_SQL, [now, version, workspace_id, journey_id])
            conn.execute(MOVE_SQL, [version, now, now, workspace_id, journey_id])
        finally:
            conn.unregister("_moves")
    conn.execute(
        "INSERT INTO journey_migrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [workspace_id, journey_id, version, migrate.mode, orjson.dumps(migrate.node_map).decode(),
         result.moved, result.stayed, orjson.dumps(result.reasons).decode(), now],
    )  # fmt: skip
    return result.summary(migrate.mode)
