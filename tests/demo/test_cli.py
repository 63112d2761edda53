"""``retenta demo`` end to end: a real server process, the demo user, live events."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retenta.demo.refused import REFUSED
from retenta.demo.setup import DEMO_EMAIL, DemoError, prepare_demo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo server exited early"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the demo server did not answer /healthz in time")


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, data = _free_port(), tmp_path / "demo"
    cmd = [sys.executable, "-m", "retenta.cli", "demo", "--data", str(data),
           "--contacts", "200", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, limit=90)
        yield f"http://127.0.0.1:{port}", data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _events_last_minutes(client: httpx.Client) -> int:
    r = client.get("/api/v1/stats/live", params={"minutes": 10})
    assert r.status_code == 200, r.text
    return int(r.json()["totals"]["events"])


def test_demo_serves_logs_in_and_moves(demo_server: tuple[str, Path]) -> None:
    base, data = demo_server
    info = json.loads((data / "demo.json").read_text())
    assert info["generated"]
    assert info["email"] == DEMO_EMAIL
    headers = {"X-Requested-With": "XMLHttpRequest"}  # the UI's CSRF guard
    with httpx.Client(base_url=base, timeout=10, headers=headers) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": DEMO_EMAIL, "password": info["password"]}
        )
        assert login.status_code == 200, login.text
        first = _events_last_minutes(client)
        deadline = time.monotonic() + 20
        while _events_last_minutes(client) <= first:
            assert time.monotonic() < deadline, "no live events within 20 s"
            time.sleep(0.5)
    bearer = {"Authorization": f"Bearer {info['api_key']}"}
    workspace = httpx.get(f"{base}/api/v1/workspace", headers=bearer, timeout=10)
    assert workspace.status_code == 200
    assert workspace.json()["name"] == "Demo store"
    # a few refused events wait in the dead letters, each with the validator's reason
    letters = httpx.get(f"{base}/api/v1/dead-letters", headers=bearer, timeout=10).json()
    assert len(letters["items"]) == len(REFUSED)
    assert {e["field"] for i in letters["items"] for e in i["errors"]} == {
        "event", "timestamp", "userId", "properties"
    }  # fmt: skip
    live = httpx.get(f"{base}/api/v1/stats/live", headers=bearer, timeout=10).json()
    assert live["dead_letters"] == {"refused": 2, "pending": len(REFUSED)}


def test_rerun_reuses_and_reset_regenerates(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = prepare_demo(data, contacts=30, seed=1)
    again = prepare_demo(data, contacts=999, seed=2)  # reused: no regeneration
    assert (again.workspace_id, again.contacts, again.password) == (
        first.workspace_id,
        30,
        first.password,
    )
    fresh = prepare_demo(data, contacts=30, seed=1, reset=True)
    assert fresh.workspace_id != first.workspace_id


def test_refuses_to_touch_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DemoError, match="not a demo directory"):
        prepare_demo(tmp_path, contacts=10, reset=True)
    with pytest.raises(DemoError, match="not empty"):
        prepare_demo(tmp_path, contacts=10)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
