"""Sustained ``/v1/batch`` into the 1M-contact / 50M-event store, from its own people.

``bench_ingest`` measures ingestion into a store of 100k seeded contacts whose every
identifier is already stored. Here the store is ``bench_lookup``'s (1M contacts with their
emails, phones and external ids; 50M events; 50M message ids), copied afresh for each run,
and the storefront mix (``ingest_load.lua``) comes from its people as a shop's traffic
would: logged in as ``u<N>`` with an anonymous id the store has never seen, or browsing
under that anonymous id alone. So most events attach a new identifier to a known contact,
or merge an anonymous contact into one: identity's slow path, at the issue's scale.

``wrk -c<conns>`` (100 events a request) for ``--windows`` windows of ``--seconds``, and per
window: events/s, p99, the server's cores and RSS, and what its writer did (its
``/metrics``: units and their mean, COMMIT time, compaction steps, checkpoints after the
acknowledgement and inside COMMITs).

    uv run python -m bench.bench_ingest_scale --data DIR   # DIR: a bench_lookup --data store
    uv run python -m bench.bench_ingest_scale              # builds the store first (~5 min)
    uv run python -m bench.bench_ingest_scale --quick      # 100k / 5M, one 10-s window
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_ingest import LUA_SCRIPT, Load, rss_mb, server, wrk
from bench.bench_lookup import build
from bench.server_metrics import writer_totals


def write_key(data: Path, workspace_id: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "retenta.cli", "key", "create", "--data", str(data),
         "--workspace", workspace_id, "--kind", "write"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(json.loads(out.stdout)["secret"])


def commit_checkpoints(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("retenta_storage_commit_checkpoints_total "):
            return float(line.split()[1])
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="bench_lookup's store (built there if absent)")
    ap.add_argument("--quick", action="store_true", help="100k contacts / 5M events, 1 x 10 s")
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--conns", type=int, default=64)
    args = ap.parse_args()
    if args.quick:
        args.contacts, args.events, args.windows, args.seconds = 100_000, 5_000_000, 1, 10.0
    work = Path(tempfile.mkdtemp(prefix="retenta-bench-scale-"))
    try:
        store = args.data or work / "store"  # without --data: built here, removed after
        marker = store / "bench_lookup.ids"
        if not marker.exists():
            ids = build(store, args.contacts, args.events)
            marker.write_text(f"{ids['workspace_id']} {ids['api_key']}")
        workspace_id = marker.read_text().split()[0]
        data = work / "data"
        shutil.copytree(store, data)  # the run changes the store: a fresh copy each time
        key = write_key(data, workspace_id)
        print(f"bench_ingest_scale — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
              f" {args.contacts:,} contacts, wrk -c{args.conns}, 100 events a request,"
              f" {args.windows} x {args.seconds:.0f} s", flush=True)  # fmt: skip
        with server(data, store=True) as (url, proc):
            time.sleep(3)  # the start-up's own work
            load = Load(url, LUA_SCRIPT, key, args.contacts, False, proc.pid, people="lookup")
            print("| window | events/s | p99 ms | server cores | RSS MB | writer |")
            print("|---|---|---|---|---|---|")
            for window in range(args.windows):
                before, in_commits, started = (
                    writer_totals(url),
                    commit_checkpoints(url),
                    time.perf_counter(),
                )
                run = wrk(load, size=100, conns=args.conns, seconds=args.seconds)
                took = time.perf_counter() - started
                spent = writer_totals(url) - before
                inside = commit_checkpoints(url) - in_commits
                print(
                    f"| {window} | {run.per_second(100):,.0f} | {run.p99_ms:,.0f}"
                    f" | {run.server_cpu:.2f} | {rss_mb(proc.pid):,.0f}"
                    f" | {spent.summary(took)}; {inside:.0f} inside COMMITs |",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
