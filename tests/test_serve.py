"""``retenta serve`` as an operator runs it: a SIGTERM shuts it down cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import duckdb
import httpx

from tests.ingest.servers import init_data_dir, serve_subprocess


def test_sigterm_checkpoints_and_closes_the_store(tmp_path: Path) -> None:
    """After a SIGTERM the server exits 0 through its ``finally``: the store is checkpointed
    (no write-ahead log left), the accepted event is in the database file, and the log ends
    clean."""
    data = tmp_path / "data"
    keys = init_data_dir(data)
    with serve_subprocess(data) as (url, proc):
        sent = httpx.post(f"{url}/v1/track", auth=(keys["write_key"], ""), timeout=30,
                          json={"userId": "u-1", "event": "Signed Up"})  # fmt: skip
        assert sent.status_code == 200, sent.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Application shutdown complete" in log
    assert "nanobind" not in log  # no teardown report of what daemon threads held
    wal = data / "retenta.duckdb.wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with duckdb.connect(str(data / "retenta.duckdb"), read_only=True) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM all_events WHERE event = 'Signed Up'"
        ).fetchone()
    assert stored == (1,)
