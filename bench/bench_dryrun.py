"""Dry run: what replaying a past window through a journey costs, per simulated run.

No bound is named by the issue; the figure says how large a ``limit`` the API can afford
(it answers synchronously). A generated demo store (``--contacts``, a year of a small shop)
and the abandoned-cart journey (on "Product Added": wait for an order 1 h, reminder, wait
24 h, last call) replayed over the last ``--days`` days with ``--limit``. Prints the CPU
time of the whole dry run and per simulated run (medians of ``--runs``), the entries, and
the load average.

    uv run python -m bench.bench_dryrun                   # 2,000 contacts, 93 days, limit 1000
    uv run python -m bench.bench_dryrun --quick           # 300 contacts, 30 days, limit 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retenta.app import build_container
from retenta.demo.generate import generate_store
from retenta.journeys.definition import parse
from retenta.journeys.dryrun import DryRun, dry_run
from retenta.settings import Settings

CART: dict[str, Any] = {
    "name": "Abandoned cart",
    "entry": {"trigger": {"type": "event", "event": "Product Added"},
              "rule": {"type": "once_per", "period": {"amount": 1, "unit": "days"}}},
    "start": "wait",
    "nodes": [
        {"id": "wait", "type": "wait_event", "event": "Order Completed",
         "timeout": {"amount": 1, "unit": "hours"}, "then": "done", "else": "reminder"},
        {"id": "reminder", "type": "send", "message_id": "msg_cart", "next": "again"},
        {"id": "again", "type": "wait_event", "event": "Order Completed",
         "timeout": {"amount": 24, "unit": "hours"}, "then": "done", "else": "last"},
        {"id": "last", "type": "send", "message_id": "msg_last", "next": "done"},
        {"id": "done", "type": "exit"},
    ],
}  # fmt: skip


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=93)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 contacts, 30 days, limit 200")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.days, args.limit, args.runs = 300, 30, 200, 2
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp), background_workers=False))
        try:
            workspace_id = container.tenancy.create_workspace(name="bench")
            began = time.perf_counter()
            generate_store(container.db, workspace_id, contacts=args.contacts, seed=7, now=now)
            print(f"demo store: {args.contacts:,} contacts, a year"
                  f" (generated in {time.perf_counter() - began:.1f} s); {load()}")  # fmt: skip
            measure(container, workspace_id, now, args)
        finally:
            container.close()


def measure(container: Any, workspace_id: str, now: datetime, args: Any) -> None:
    journey = parse(CART)
    since = now - timedelta(days=args.days)
    times, result = [], DryRun(since, now)
    for _ in range(args.runs):
        with container.db.read() as cur:
            started = time.process_time()
            result = dry_run(cur, workspace_id, journey, journey_id="bench", since=since,
                             until=now, limit=args.limit, now=now)  # fmt: skip
            times.append(time.process_time() - started)
    spent = statistics.median(times)
    simulated = max(len(result.runs), 1)
    print(f"dry run over {args.days} days, limit {args.limit}: {result.entered:,} entered,"
          f" {len(result.runs):,} simulated, {result.refused:,} refused; {load()}")  # fmt: skip
    print(f"  {spent:.2f} s CPU, {spent / simulated * 1000:.1f} ms CPU a simulated run;"
          f" outcomes {result.as_dict()['outcomes']}")  # fmt: skip


if __name__ == "__main__":
    main()
