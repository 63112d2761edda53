"""What an idle server burns: CPU a second and by thread, with nothing to do.

Seeds a small store (one workspace, one live journey holding ``--waits`` runs that wait 30
days, an email channel), starts a real server with the background workers, lets it settle
and reads ``/proc/<pid>/stat`` utime+stime over ``--seconds``; then the same for the code
at ``--base`` (a ``git worktree`` path, its ``src`` first on ``PYTHONPATH``), alternated,
``--runs`` times each. Prints the median ms of CPU a second per side and the busiest
threads (``/proc/<pid>/task/*/stat``), with the load average.

    python -m bench.bench_idle --base /tmp/idle-base --runs 3 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.procs import free_port, stat_cpu

SEED = r"""
import asyncio, sys, orjson
from datetime import UTC, datetime
from retenta.app import build_container
from retenta.journeys.service import for_container
from retenta.settings import Settings

data_dir, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = build_container(Settings(data_dir=data_dir, background_workers=False))
ws = c.tenancy.create_workspace(name="Idle")
keys = {k: c.tenancy.issue_key(workspace_id=ws, kind=k).secret for k in ("write", "api")}
store = for_container(c).store
doc = {"name": "Held", "entry": {"trigger": {"type": "event", "event": "Signed Up"}},
       "start": "wait",
       "nodes": [{"id": "wait", "type": "wait", "duration": {"amount": 30, "unit": "days"},
                  "next": "done"}, {"id": "done", "type": "exit"}]}
held = asyncio.run(store.create(ws, doc))["id"]
asyncio.run(store.set_status(ws, held, "live"))
c.db.write(lambda conn: conn.execute(
    "INSERT INTO journey_runs (run_id, workspace_id, journey_id, version, contact_id, state,"
    " node_id, node_entered_at, entered_at, wake_at, context)"
    " SELECT 'run_held' || lpad(i::VARCHAR, 8, '0'), ?, ?, 1, 10000000 + i, 'active', 'wait',"
    " ts, ts, ts + INTERVAL 30 DAY, '{}' FROM (SELECT i, ?::TIMESTAMPTZ - INTERVAL 1 DAY"
    " - to_seconds(i % 3600) AS ts FROM range(?) t(i))",
    [ws, held, datetime.now(UTC), count]))
c.db.write(lambda conn: conn.execute("CHECKPOINT"))
c.close()
open(out, "wb").write(orjson.dumps({"ws": ws, **keys}))
"""
SERVER = r"""
import sys, uvicorn
from retenta.app import build_container, create_app
from retenta.settings import Settings

c = build_container(Settings(data_dir=sys.argv[1], background_workers=True))
uvicorn.run(create_app(c), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
c.close()
"""


def threads(pid: int) -> dict[str, float]:
    """CPU seconds by thread (``name/tid``)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = f"{(task / 'comm').read_text().strip()}/{task.name}"
            out[name] = stat_cpu(task / "stat")
        except OSError:
            continue
    return out


def env_for(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, *sys.path])}


def one(data_dir: str, src: str, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, data_dir, str(port)], env=env_for(src))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(args.settle)
        cpu0, by0, t0 = stat_cpu(f"/proc/{proc.pid}/stat"), threads(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        cpu1, by1, t1 = stat_cpu(f"/proc/{proc.pid}/stat"), threads(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    per_s = 1000 * (cpu1 - cpu0) / (t1 - t0)
    by = {k: 1000 * (v - by0.get(k, 0.0)) / (t1 - t0) for k, v in by1.items()}
    return per_s, by


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="a worktree of the base revision (its src is used)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--waits", type=int, default=1000)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    sides = {"now": here, **({"base": f"{args.base}/src"} if args.base else {})}
    results: dict[str, list[tuple[float, dict[str, float]]]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory(prefix="bench_idle_") as tmp:
        keys = f"{tmp}/keys.json"
        subprocess.run([sys.executable, "-c", SEED, f"{tmp}/seed", str(args.waits), keys],
                       env=env_for(here), check=True)  # fmt: skip
        for n in range(args.runs):
            for side, src in sides.items() if n % 2 == 0 else reversed(sides.items()):
                data = f"{tmp}/{side}{n}"
                subprocess.run(["cp", "-r", f"{tmp}/seed", data], check=True)
                load = os.getloadavg()[0]
                per_s, by = one(data, src, args)
                results[side].append((per_s, by))
                top = sorted(by.items(), key=lambda kv: -kv[1])[:4]
                print(f"  {side:4} run {n + 1}: {per_s:6.1f} ms CPU/s  (load {load:.2f}; "
                      + ", ".join(f"{k} {v:.1f}" for k, v in top) + ")", flush=True)  # fmt: skip
    print(f"idle server, {args.seconds:.0f} s, {args.waits:,} waiting runs, load "
          f"{os.getloadavg()[0]:.2f}; bound: a few ms of CPU a second")  # fmt: skip
    for side, got in results.items():
        med = statistics.median(r[0] for r in got)
        print(f"  {side:4}: median {med:.1f} ms CPU/s  (runs "
              + " / ".join(f"{r[0]:.1f}" for r in got) + ")")  # fmt: skip
    print(orjson.dumps({k: [r[0] for r in v] for k, v in results.items()}).decode())


if __name__ == "__main__":
    main()
