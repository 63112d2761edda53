"""RFM per workspace: the stored configuration and the report (grid and named cells)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlglot import exp

from retenta.segments import views
from retenta.segments.rfm import CELLS, RfmConfig, cell_of, rfm_query
from retenta.storage.base import Database


def report_query(config: RfmConfig, workspace_id: str, now: datetime) -> exp.Query:
    """Buyers per (R, F, cell) with their average monetary value, views prepended."""
    scored = rfm_query(config, "duckdb", now).subquery("scored")
    grouped = (
        exp.select("r", "f", "cell", "count(*) AS buyers", "avg(monetary) AS monetary_avg")
        .from_(scored)
        .group_by("r", "f", "cell")
    )
    return views.with_views(grouped, workspace_id, "duckdb")


def shape_report(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The report body from ``(r, f, cell, buyers, monetary_avg)`` rows. Pure.

    >>> body = shape_report([(5, 5, "champions", 3, 10.0), (1, 1, "lost", 1, 2.0)])
    >>> body["buyers"], body["grid"][0], body["cells"][0]["share"]
    (4, {'r': 5, 'f': 1, 'cell': 'new_customers', 'count': 0, 'monetary_avg': None}, 0.75)
    """
    counts = {(int(r), int(f)): (int(n), avg) for r, f, _, n, avg in rows}
    total = sum(n for n, _ in counts.values())
    grid: list[dict[str, Any]] = []
    for r in range(5, 0, -1):
        for f in range(1, 6):
            n, avg = counts.get((r, f), (0, None))
            money = round(float(avg), 2) if avg is not None else None
            grid.append({"r": r, "f": f, "cell": cell_of(r, f), "count": n, "monetary_avg": money})
    per_cell = dict.fromkeys(CELLS, 0)
    for item in grid:
        per_cell[item["cell"]] += item["count"]
    cells = [
        {
            "name": name,
            "label": CELLS[name],
            "count": n,
            "share": round(n / total, 4) if total else 0.0,
        }
        for name, n in per_cell.items()
    ]
    return {"buyers": total, "grid": grid, "cells": cells}


def _share(part: int, total: int) -> float:
    """
    >>> _share(1, 3), _share(0, 0)
    (0.3333, 0.0)
    """
    return round(part / total, 4) if total else 0.0


class RfmService:
    """Stateless over the database; one per request is fine."""

    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or (lambda: datetime.now(UTC))

    def config(self, workspace_id: str) -> RfmConfig:
        with self.db.read() as cur:
            return load_config(cur, workspace_id)

    def save_config(self, workspace_id: str, config: RfmConfig) -> RfmConfig:
        now = self.clock()
        body = orjson.dumps(config.model_dump()).decode()

        def work(conn: Any) -> None:
            conn.execute(
                "INSERT INTO rfm_config (workspace_id, config, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (workspace_id) DO UPDATE SET config = excluded.config,"
                " updated_at = excluded.updated_at",
                [workspace_id, body, now],
            )

        self.db.write(work)
        return config

    def report(self, workspace_id: str) -> dict[str, Any]:
        now = self.clock()
        started = time.perf_counter()
        with self.db.read() as cur:
            config = load_config(cur, workspace_id)
            sql = report_query(config, workspace_id, now).sql("duckdb")
            rows = cur.execute(sql).fetchall()
        body = shape_report(rows)
        body["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        body["computed_at"] = now
        body["config"] = config.model_dump()
        return body


def load_config(cur: Any, workspace_id: str) -> RfmConfig:
    """The workspace's stored configuration, or the defaults."""
    row = cur.execute(
        "SELECT config FROM rfm_config WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    return RfmConfig.model_validate_json(row[0]) if row else RfmConfig()
