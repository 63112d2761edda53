"""Real HTTP servers for tests: uvicorn in a thread, or ``retenta serve`` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:  # a loaded machine
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not become healthy")


@contextmanager
def threaded_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def readable(base_url: str, api_key: str) -> None:
    """An API read with the key: it waits until what ingestion has answered is stored
    (``web/after_journal.py``), so a test's direct reads of the store after it see what it
    sent, whichever way the server acknowledges."""
    httpx.get(f"{base_url}/api/v1/contacts", params={"limit": 1}, timeout=60,
              headers={"Authorization": f"Bearer {api_key}"}).raise_for_status()  # fmt: skip


def retenta(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "retenta.cli", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return out.stdout


def init_data_dir(data: Path) -> dict[str, str]:
    return dict(json.loads(retenta("init", "--data", str(data), "--json")))


@contextmanager
def serve_subprocess(
    data: Path, env: dict[str, str] | None = None, ingest_workers: int = 0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``retenta serve`` as a child process; yields its URL and the process. With
    ``ingest_workers`` the URL is the ingest port's (its workers serve ``/v1``)."""
    port, ingest_port = free_port(), free_port()
    log = (data.parent / "server.log").open("wb")  # a file, not a pipe nobody drains
    cmd = [sys.executable, "-m", "retenta.cli", "serve", "--data", str(data), "--port", str(port)]
    if ingest_workers:
        cmd += ["--ingest-workers", str(ingest_workers), "--ingest-port", str(ingest_port)]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        if ingest_workers:
            url = f"http://127.0.0.1:{ingest_port}"
            wait_healthy(url, proc=proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
