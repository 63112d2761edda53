"""A contacts chunk planned in a worker process (``imports/planning.py``) is the chunk planned
in process, field for field; a worker that dies costs nothing but a fallback."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from retenta.app import Container
from retenta.imports.fresh_contacts import Plan, plan
from retenta.imports.loaders import TRAIT_COLUMNS, LoadContext
from retenta.imports.mapping import ROW
from retenta.imports.planning import PlanWorkers
from retenta.settings import Settings

N = 300


def chunk() -> pa.Table:
    """Brand-new people, one row sharing another's e-mail, an invalid phone, empty cells."""
    emails = [f"user{i}@example.com" for i in range(N)]
    emails[7] = emails[8]
    phones = [f"+38050{2000000 + i}" if i % 3 else None for i in range(N)]
    phones[11] = "12"
    return pa.table(
        {
            "external_id": [f"c-{i}" if i % 5 else None for i in range(N)],
            "email": emails,
            "phone": phones,
            "first_name": [f"Name {i}" if i % 4 else "" for i in range(N)],
            "attr.tier": ["gold" if i % 2 else None for i in range(N)],
            ROW: np.arange(2, N + 2),
        }
    )


def context(container: Container) -> LoadContext:
    return LoadContext(
        workspace_id="ws_plan", job_id="job_1", file_sha256="ab" * 32,
        at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC), identity=container.identity,
        commerce=container.commerce, events=container.ingest,
    )  # fmt: skip


def same(a: Plan | None, b: Plan | None) -> None:
    assert a is not None
    assert b is not None
    assert a.names == b.names
    assert a.ok.tolist() == b.ok.tolist()
    assert a.values.keys() == b.values.keys()
    assert all(a.values[t].equals(b.values[t]) for t in a.values)
    assert all(np.array_equal(a.hashes[t], b.hashes[t]) for t in a.hashes)
    assert a.attributes.equals(b.attributes)
    assert a.provenance.equals(b.provenance)


def worker_pids(planner: PlanWorkers) -> list[int]:
    executor = planner._executor
    assert executor is not None
    return [p.pid for p in (executor._processes or {}).values() if p.pid is not None]


def test_a_worker_plans_what_the_process_plans(container: Container) -> None:
    ctx, table = context(container), chunk()
    here = plan(container.identity, table, ctx, TRAIT_COLUMNS)
    planner = PlanWorkers(1)
    try:
        there = planner.plan(container.identity, table, ctx, TRAIT_COLUMNS)
        pids = worker_pids(planner)
    finally:
        planner.close()
    same(here, there)
    assert here is not None
    assert here.ok.sum() == N - 3  # the shared e-mail's two rows, the invalid phone
    assert not here.ok[[7, 8, 11]].any()
    assert pids
    assert os.getpid() not in pids
    assert planner.fallbacks == 0


def test_a_dead_worker_is_planned_in_process_then_replaced(container: Container) -> None:
    ctx, table = context(container), chunk()
    here = plan(container.identity, table, ctx, TRAIT_COLUMNS)
    planner = PlanWorkers(1)
    try:
        planner.plan(container.identity, table, ctx, TRAIT_COLUMNS)
        (dead,) = worker_pids(planner)
        os.kill(dead, signal.SIGKILL)
        same(here, planner.plan(container.identity, table, ctx, TRAIT_COLUMNS))
        assert planner.fallbacks == 1
        same(here, planner.plan(container.identity, table, ctx, TRAIT_COLUMNS))
        assert planner.fallbacks == 1
        assert dead not in worker_pids(planner)
    finally:
        planner.close()


def test_zero_workers_plan_in_process(container: Container) -> None:
    planner = PlanWorkers(0)
    same(
        plan(container.identity, chunk(), context(container), TRAIT_COLUMNS),
        planner.plan(container.identity, chunk(), context(container), TRAIT_COLUMNS),
    )
    assert planner._executor is None


def test_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert PlanWorkers(None).size == (1 if (os.cpu_count() or 1) >= 2 else 0)
    monkeypatch.setenv("RETENTA_IMPORT_PLAN_WORKERS", "0")
    assert Settings(data_dir=tmp_path).import_plan_workers == 0
    monkeypatch.setenv("RETENTA_IMPORT_PLAN_WORKERS", "2")
    with pytest.raises(ValueError, match="import_plan_workers"):
        Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="0 \\(in process\\) or 1"):
        PlanWorkers(2)


def test_a_chunk_the_plan_refuses_starts_no_worker(container: Container) -> None:
    planner = PlanWorkers(1)
    small = chunk().slice(0, 10)
    assert planner.plan(container.identity, small, context(container), TRAIT_COLUMNS) is None
    assert planner._executor is None
