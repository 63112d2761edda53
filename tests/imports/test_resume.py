"""Crash safety: a job stopped or killed after chunk k resumes from its checkpoint and ends
with exact counts — nothing lost, nothing written twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from retenta.app import Container, build_container
from retenta.settings import Settings
from tests.conftest import Workspace, make_workspace
from tests.imports.helpers import rejects, write_csv

HEADER = ["email", "first_name", "subscribed"]
ROWS = [[f"user{i}@example.com", f"User {i}", "yes"] for i in range(10)]
ROWS[1][0] = "broken"  # one reject, in the first chunk


def _facts(container: Container, ws_id: str, job_id: str) -> dict[str, Any]:
    job = container.imports.job(workspace_id=ws_id, job_id=job_id)
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT (SELECT count(*) FROM contacts WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM identities WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM consents WHERE workspace_id = $ws)",
            {"ws": ws_id},
        ).fetchone()
    assert row is not None
    return {
        "status": job["status"],
        "processed": job["processed_rows"],
        "accepted": job["accepted_rows"],
        "rejected": job["rejected_rows"],
        "contacts_identities_consents": tuple(row),
        "rejects": [(r["row_number"], r["field"]) for r in rejects(container, ws_id, job_id)],
    }


EXPECTED = {
    "status": "done",
    "processed": 10,
    "accepted": 9,
    "rejected": 1,
    "contacts_identities_consents": (9, 9, 9),
    "rejects": [(3, "email")],
}


def _queued_job(container: Container, ws_id: str, path: Path) -> str:
    up = container.imports.upload_path(workspace_id=ws_id, path=path)
    job = container.imports.create_job(
        workspace_id=ws_id, upload_id=up["upload_id"], entity="contacts"
    )
    return str(job["id"])


def test_stopped_after_chunk_k_resumes_exactly(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "c.csv", HEADER, ROWS)
    container.imports.chunk_rows = 3
    job_id = _queued_job(container, ws.id, path)
    stop = threading.Event()
    seen: list[int] = []

    def after_chunk(state: dict[str, Any]) -> None:
        seen.append(state["processed_rows"])
        if len(seen) == 2:
            stop.set()

    paused = container.imports.run_job(job_id, on_progress=after_chunk, stop=stop)
    assert (paused["status"], paused["processed_rows"], seen) == ("running", 6, [3, 6])
    assert container.imports.run_pending() == 1
    assert _facts(container, ws.id, job_id) == EXPECTED


CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from retenta.app import build_container
    from retenta.settings import Settings

    c = build_container(Settings(data_dir=Path(sys.argv[1]), background_workers=False))
    c.imports.chunk_rows = 3
    done = []

    def crash_after_second_chunk(state):
        done.append(state["processed_rows"])
        if len(done) == 2:
            os._exit(9)  # no close, no checkpoint: as if the process were killed

    c.imports.run_job(sys.argv[2], on_progress=crash_after_second_chunk)
    """
)


def test_killed_process_resumes_from_checkpoint(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", background_workers=False)
    path = write_csv(tmp_path / "c.csv", HEADER, ROWS)
    first = build_container(settings)
    ws_id = make_workspace(first).id
    job_id = _queued_job(first, ws_id, path)
    first.close()
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(settings.data_dir), job_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    second = build_container(settings)
    try:
        interrupted = second.imports.job(workspace_id=ws_id, job_id=job_id)
        assert (interrupted["status"], interrupted["processed_rows"]) == ("running", 6)
        assert second.imports.run_pending() == 1
        assert _facts(second, ws_id, job_id) == EXPECTED
    finally:
        second.close()


def test_background_worker_runs_and_resumes_jobs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", background_workers=False)
    path = write_csv(tmp_path / "c.csv", HEADER, ROWS)
    c = build_container(settings)
    try:
        ws_id = make_workspace(c).id
        job_id = _queued_job(c, ws_id, path)

        async def run_worker() -> None:
            await c.imports.start()
            deadline = time.monotonic() + 60
            while c.imports.job(workspace_id=ws_id, job_id=job_id)["status"] != "done":
                assert time.monotonic() < deadline, "worker did not finish the job"
                await asyncio.sleep(0.05)
            await c.imports.stop()

        asyncio.run(run_worker())
        assert _facts(c, ws_id, job_id) == EXPECTED
    finally:
        c.close()
