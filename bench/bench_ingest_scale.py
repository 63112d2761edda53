"""Sustained ``/v1/batch`` into the 1M-contact / 50M-event store, from its own people.

``bench_ingest`` measures ingestion into a store of 100k seeded contacts whose every
identifier is already stored. Here the store is ``bench_lookup``'s (1M contacts with their
emails, phones and external ids; 50M events; 50M message ids), copied afresh for each run,
and the storefront mix (``ingest_load.lua``) comes from its people as a shop's traffic
would: logged in as ``u<N>`` with an anonymous id the store has never seen, or browsing
under that anonymous id alone. So most events attach a new identifier to a known contact,
or merge an anonymous contact into one: identity's slow path, at the issue's scale.

``wrk -c<conns>`` (100 events a request) for ``--windows`` windows of ``--seconds``, and per
window: events/s, p99, the server's cores and RSS, what its writer did (its ``/metrics``:
units and their mean, COMMIT time, compaction steps, checkpoints after the acknowledgement
and inside COMMITs), and an integration's read beside the load: every ``READ_EVERY_S`` a
``GET /api/v1/contacts/lookup`` with the API key, which waits for what ingestion has
answered (``web/after_journal.py``), its p50 and worst, and of that the mean wait (the
server's ``read_wait_seconds`` over its ``read_waits``) and the lead at the window's end.
``--acknowledge`` sets the server's ``RETENTA_INGEST_ACKNOWLEDGE`` (the product's default:
``journal``).

    uv run python -m bench.bench_ingest_scale --data DIR   # DIR: a bench_lookup --data store
    uv run python -m bench.bench_ingest_scale              # builds the store first (~5 min)
    uv run python -m bench.bench_ingest_scale --quick      # 100k / 5M, one 10-s window
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def commit_checkpoints(url: str) -> float:
    return metric(url, "retenta_storage_commit_checkpoints_total")


def read_waits(url: str) -> tuple[float, float]:
    """API reads that waited for ingestion's answers so far, and the seconds they waited."""
    return (metric(url, "retenta_ingest_journal_read_waits_total"),
            metric(url, "retenta_ingest_journal_read_wait_seconds_total"))  # fmt: skip


READ_EVERY_S = 0.5


class ReadProbe:
    """An integration's lookups beside the load, one every ``READ_EVERY_S`` (a thread)."""

    def __init__(self, url: str, api_key: str, contacts: int) -> None:
        self.client = httpx.Client(base_url=url, timeout=60,
                                   headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
        self.contacts = contacts
        self.took_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(READ_EVERY_S):
            n += 1
            started = time.perf_counter()
            person = f"u{1 + n * 7919 % self.contacts}"
            resp = self.client.get("/api/v1/contacts/lookup", params={"external_id": person})
            if resp.status_code != 200:
                raise RuntimeError(f"lookup: {resp.status_code} {resp.text[:200]}")
            self.took_ms.append((time.perf_counter() - started) * 1000)

    def summary(self) -> str:
        took = sorted(self.took_ms)
        if not took:
            return "-"
        return f"{took[len(took) // 2]:,.0f} / {took[-1]:,.0f} ({len(took)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="bench_lookup's store (built there if absent)")
    ap.add_argument("--quick", action="store_true", help="100k contacts / 5M events, 1 x 10 s")
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--acknowledge", choices=("journal", "commit"), default="journal",
                    help="the server's RETENTA_INGEST_ACKNOWLEDGE")  # fmt: skip
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
        workspace_id, api_key = marker.read_text().split()
        data = work / "data"
        shutil.copytree(store, data)  # the run changes the store: a fresh copy each time
        key = write_key(data, workspace_id)
        print(f"bench_ingest_scale — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
              f" {args.contacts:,} contacts, wrk -c{args.conns}, 100 events a request,"
              f" {args.windows} x {args.seconds:.0f} s, answered after"
              f" {'the journal' if args.acknowledge == 'journal' else 'COMMIT'}",
              flush=True)  # fmt: skip
        os.environ["RETENTA_INGEST_ACKNOWLEDGE"] = args.acknowledge
        with server(data, store=True) as (url, proc):
            time.sleep(3)  # the start-up's own work
            load = Load(url, LUA_SCRIPT, key, args.contacts, False, proc.pid, people="lookup")
            print("| window | events/s | p99 ms | API read p50 / worst ms (reads)"
                  " | of which waited, mean ms | lead | server cores | RSS MB"
                  " | writer |")  # fmt: skip
            print("|---|---|---|---|---|---|---|---|---|")
            for window in range(args.windows):
                before, in_commits, waits, started = (
                    writer_totals(url),
                    commit_checkpoints(url),
                    read_waits(url),
                    time.perf_counter(),
                )
                with ReadProbe(url, api_key, args.contacts) as reads:
                    run = wrk(load, size=100, conns=args.conns, seconds=args.seconds)
                took = time.perf_counter() - started
                spent = writer_totals(url) - before
                inside = commit_checkpoints(url) - in_commits
                waited, waited_s = (b - a for a, b in zip(waits, read_waits(url), strict=True))
                mean_wait = f"{waited_s / waited * 1000:,.0f}" if waited else "-"
                lead = metric(url, "retenta_ingest_journal_lead_events")
                print(
                    f"| {window} | {run.per_second(100):,.0f} | {run.p99_ms:,.0f}"
                    f" | {reads.summary()} | {mean_wait} | {lead:,.0f}"
                    f" | {run.server_cpu:.2f} | {rss_mb(proc.pid):,.0f}"
                    f" | {spent.summary(took)}; {inside:.0f} inside COMMITs |",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
