"""A server killed with SIGKILL mid-ingestion loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from retenta.app import build_container
from retenta.settings import Settings
from tests.ingest.servers import init_data_dir, serve_subprocess

SENDERS = 4
BATCH = 50


def sender(url: str, write_key: str, acked: list[str], stop: threading.Event) -> None:
    """Send batches of fresh events until the server dies; record what it acknowledged."""
    with httpx.Client(base_url=url, auth=(write_key, ""), timeout=60) as http:
        while not stop.is_set():
            ids = [str(uuid.uuid4()) for _ in range(BATCH)]
            batch = [
                {"type": "track", "userId": f"u{i % 7}", "event": "Crash Test", "messageId": m}
                for i, m in enumerate(ids)
            ]
            try:
                res = http.post("/v1/batch", json={"batch": batch})
            except httpx.HTTPError:
                return
            if res.status_code == 200:
                acked.extend(ids)


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for t in tasks for c in (t / "children").read_text().split()]


def gone(pid: int) -> bool:
    """Exited (or a zombie nobody reaped: its parent was killed)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize(
    ("workers", "acknowledge"),
    [(0, "commit"), (2, "commit"), (0, "journal"), (2, "journal")],
    ids=["one process", "ingest workers", "intake journal", "workers and journal"],
)
def test_sigkill_loses_no_acknowledged_event(
    tmp_path: Path, workers: int, acknowledge: str
) -> None:
    """Killed mid-ingestion: every acknowledged event is stored exactly once. With ingest
    workers, the server is killed (not a worker): the workers must die with it, and what
    they acknowledged was acknowledged only after the server's COMMIT. With the intake
    journal, what was answered from the journal is stored by the next start."""
    data = tmp_path / "data"
    keys = init_data_dir(data)
    acked: list[str] = []
    stop = threading.Event()
    env = {"RETENTA_INGEST_ACKNOWLEDGE": acknowledge}
    with serve_subprocess(data, env=env, ingest_workers=workers) as (url, proc):
        worker_pids = children(proc.pid)
        assert len(worker_pids) == workers
        threads = [
            threading.Thread(target=sender, args=(url, keys["write_key"], acked, stop))
            for _ in range(SENDERS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 1_500 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of ingestion: senders still running
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not all(gone(p) for p in worker_pids):
            assert time.monotonic() < deadline, "ingest workers outlived the server"
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert len(acked) >= 1_500
    if acknowledge == "journal":
        assert list((data / "ingest-journal").glob("journal-*.log"))
        with serve_subprocess(data, env=env):  # applies the journal before it serves
            pass
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            counts = dict(
                cur.execute(
                    "SELECT message_id, count(*) FROM all_events WHERE workspace_id = ?"
                    " GROUP BY message_id",
                    [keys["workspace_id"]],
                ).fetchall()
            )
    finally:
        container.close()
    missing = [m for m in acked if m not in counts]
    assert missing == []
    assert all(counts[m] == 1 for m in acked)
    assert max(counts.values()) == 1
