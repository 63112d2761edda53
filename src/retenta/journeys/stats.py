"""Live counts per node for the canvas (``GET /journeys/{id}/stats``, polled every ~2 s).

Per node: ``entered`` (runs that reached it, from the trace), ``waiting`` (active runs
there now), ``converted`` (runs that met a goal there: trace decision ``converted``) and
``exited`` (runs that ended there: done or stopped). Two grouped reads, one over the runs
and one over the journey's trace; no per-run work in Python.
"""

from __future__ import annotations

from typing import Any

RUNS_SQL = """
SELECT node_id, count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state <> 'active')
FROM journey_runs WHERE workspace_id = ? AND journey_id = ? GROUP BY node_id
"""
TRACE_SQL = """
SELECT node_id, count(DISTINCT run_id), count(DISTINCT run_id) FILTER (WHERE decision = 'converted')
FROM journey_trace WHERE workspace_id = ? AND journey_id = ? AND decision <> 'moved'
GROUP BY node_id
"""
TOTALS_SQL = """
SELECT count(*), count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'done'),
       count(*) FILTER (WHERE state = 'stopped')
FROM journey_runs WHERE workspace_id = ? AND journey_id = ?
"""
CONVERTED_SQL = """
SELECT count(DISTINCT run_id) FROM journey_trace
WHERE workspace_id = ? AND journey_id = ? AND decision = 'converted'
"""
ZERO = {"entered": 0, "waiting": 0, "converted": 0, "exited": 0}


def journey_stats(cur: Any, workspace_id: str, journey_id: str) -> dict[str, Any]:
    """The per-node counts and totals of one journey, over all its versions."""
    key = [workspace_id, journey_id]
    nodes: dict[str, dict[str, int]] = {}
    for node_id, waiting, exited in cur.execute(RUNS_SQL, key).fetchall():
        nodes.setdefault(node_id, dict(ZERO)).update(waiting=waiting, exited=exited)
    for node_id, entered, converted in cur.execute(TRACE_SQL, key).fetchall():
        nodes.setdefault(node_id, dict(ZERO)).update(entered=entered, converted=converted)
    runs, active, done, stopped = cur.execute(TOTALS_SQL, key).fetchone()
    converted = cur.execute(CONVERTED_SQL, key).fetchone()[0]
    totals = {"entered": runs, "active": active, "done": done, "stopped": stopped,
              "exited": done + stopped, "converted": converted}  # fmt: skip
    return {"nodes": nodes, "totals": totals}
