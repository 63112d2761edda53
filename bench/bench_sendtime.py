"""Send-time optimization: what a best-hour answer costs, alone and in a campaign batch.

No bound is named by the issue; the figures say whether computing on read (no precomputed
profiles, docs/sendtime.md) is affordable where it is used:

- ``best_hour``: one contact (a journey's ``wait_until: "best"`` asks once per run), CPU ms;
- ``population``: the workspace histogram alone (cached per workspace for 10 minutes), and
  one answer with that cache emptied first, CPU ms;
- a busy workspace: 5,000 single answers in one step (the first 63 on the spot, then a
  snapshot of every contact, then from memory), CPU s and ms a call;
- ``best_hours``: every contact at once (``schedule.send_time: "optimal"`` snapshots), CPU s
  and CPU µs per contact.

The store: ``--contacts`` contacts in 8 timezones and ``--sends`` engaged sends (a ``sent``
row, an open and for a third a click; 10 % of opens are machine opens), written through the
single writer from Arrow. Medians of ``--runs``; load average printed beside each figure.

    uv run python -m bench.bench_sendtime                 # 100k contacts, 1M engaged sends
    uv run python -m bench.bench_sendtime --quick         # 5k contacts, 50k sends
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from retenta.app import build_container
from retenta.messaging.events import APPEND_SQL, ROWS
from retenta.sendtime import best_hour, best_hours
from retenta.sendtime import service as sendtime_service
from retenta.sendtime import store as sendtime_store
from retenta.sendtime.hot import HotAnswers
from retenta.settings import Settings

ZONES = ["UTC", "Europe/Kyiv", "Europe/Lisbon", "America/New_York", "America/Los_Angeles",
         "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney"]  # fmt: skip
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def seed(container: Any, workspace_id: str, contacts: int, sends: int) -> list[int]:
    rng = np.random.default_rng(7)
    ids = list(range(1, contacts + 1))
    zones = [ZONES[i % len(ZONES)] for i in ids]
    container.db.write(lambda conn: _contacts(conn, workspace_id, ids, zones))
    for start in range(0, sends, 200_000):
        n = min(200_000, sends - start)
        table = _events(rng, workspace_id, contacts, start, n)
        container.db.write(lambda conn, t=table: _append(conn, t))
    return ids


def _contacts(conn: Any, workspace_id: str, ids: list[int], zones: list[str]) -> None:
    table = pa.table({"id": ids, "tz": zones})
    conn.register("_c", table)
    conn.execute("INSERT INTO contacts (workspace_id, id, created_at, updated_at, timezone)"
                 " SELECT ?, id, now(), now(), tz FROM _c", [workspace_id])  # fmt: skip
    conn.unregister("_c")


def _events(rng: Any, workspace_id: str, contacts: int, start: int, n: int) -> pa.Table:
    contact = rng.integers(1, contacts + 1, n)
    habit = (contact * 7) % 24  # each contact's own local hour, plus noise
    hour = (habit + rng.integers(-1, 2, n)) % 24
    day = rng.integers(2, 170, n)
    opened = [_local(int(c), int(d), int(h)) for c, d, h in zip(contact, day, hour, strict=True)]
    send_ids = [f"snd_b{start + i}" for i in range(n)]
    clicked = rng.random(n) < 0.33
    machine = rng.random(n) < 0.10
    rows: dict[str, list[Any]] = {name: [] for name in ROWS.names}
    for i in range(n):
        facts = [("sent", opened[i] - timedelta(hours=2), False),
                 ("opened", opened[i], bool(machine[i]))]  # fmt: skip
        if clicked[i]:
            facts.append(("clicked", opened[i] + timedelta(minutes=1), False))
        for status, at, is_machine in facts:
            for name, value in (("workspace_id", workspace_id), ("contact_id", int(contact[i])),
                                ("send_id", send_ids[i]), ("channel", "email"),
                                ("campaign_id", None), ("message_id", "msg_b"), ("tags", []),
                                ("status", status), ("at", at), ("machine", is_machine),
                                ("properties", "{}")):  # fmt: skip
                rows[name].append(value)
    return pa.table(rows, schema=ROWS)


def _local(contact_id: int, days_ago: int, hour: int) -> datetime:
    """``hour``:20 local time in the contact's zone, ``days_ago`` days before NOW (UTC)."""
    zone = ZoneInfo(ZONES[contact_id % len(ZONES)])
    day = (NOW - timedelta(days=days_ago)).date()
    return datetime.combine(day, dt_time(hour, 20), tzinfo=zone).astimezone(UTC)


def _append(conn: Any, table: pa.Table) -> None:
    conn.register("_msg_events", table)
    try:
        conn.execute(APPEND_SQL)
    finally:
        conn.unregister("_msg_events")


def cpu(fn: Callable[[], Any], runs: int) -> float:
    """Median CPU seconds of ``fn`` over ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5k contacts, 50k sends, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.sends, args.runs = 5_000, 50_000, 3
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp), background_workers=False))
        try:
            workspace_id = container.tenancy.create_workspace(name="bench")
            began = time.perf_counter()
            ids = seed(container, workspace_id, args.contacts, args.sends)
            print(f"store: {args.contacts:,} contacts, {args.sends:,} engaged sends"
                  f" (seeded in {time.perf_counter() - began:.1f} s); {load()}")  # fmt: skip
            measure(container, workspace_id, ids, args.runs)
        finally:
            container.close()


def population_read(cur: Any, workspace_id: str) -> Any:
    since = NOW - timedelta(days=180)
    return sendtime_store.population_hours(cur, workspace_id, zone="UTC", since=since, until=NOW)


def cold_best_hour(cur: Any, workspace_id: str, contact_id: int) -> Any:
    sendtime_service._cache.clear()
    return best_hour(cur, workspace_id, contact_id, now=NOW)


BUSY_CALLS = 5_000


def busy_workspace(cur: Any, workspace_id: str, ids: list[int]) -> None:
    """A journey's runs reaching ``wait_until: "best"``: many single answers in one step."""
    hot = HotAnswers()
    for i in range(BUSY_CALLS):
        hot.best_hour(cur, workspace_id, ids[(i * 7919) % len(ids)], NOW)


def measure(container: Any, workspace_id: str, ids: list[int], runs: int) -> None:
    with container.db.read() as cur:
        probe = ids[len(ids) // 2]
        one = cpu(lambda: best_hour(cur, workspace_id, probe, now=NOW), runs * 4)
        print(f"best_hour (one contact, population cached): {one * 1000:.1f} ms CPU; {load()}")
        pop = cpu(lambda: population_read(cur, workspace_id), runs)
        print(f"population histogram (read, uncached): {pop * 1000:.1f} ms CPU; {load()}")
        cold = cpu(lambda: cold_best_hour(cur, workspace_id, probe), runs)
        print(f"best_hour with the population cache emptied first: {cold * 1000:.1f} ms CPU;"
              f" {load()}")  # fmt: skip
        busy = cpu(lambda: busy_workspace(cur, workspace_id, ids), 1)
        print(f"busy workspace ({BUSY_CALLS:,} single answers, snapshot after 64):"
              f" {busy:.2f} s CPU, {busy / BUSY_CALLS * 1000:.2f} ms a call; {load()}")  # fmt: skip
        many = cpu(lambda: best_hours(cur, workspace_id, ids, now=NOW), runs)
        print(f"best_hours ({len(ids):,} contacts): {many:.2f} s CPU,"
              f" {many / len(ids) * 1e6:.1f} µs CPU a contact; {load()}")  # fmt: skip
        answers = best_hours(cur, workspace_id, ids, now=NOW)
        own = sum(1 for a in answers.values() if a.source == "contact")
        off = [min((a.hour - c * 7) % 24, (c * 7 - a.hour) % 24)
               for c, a in answers.items() if a.source == "contact"]  # fmt: skip
        exact, near = sum(d == 0 for d in off), sum(d <= 1 for d in off)
        print(f"  {own:,} from their own history: {exact / max(own, 1):.0%} at the seeded"
              f" local habit hour, {near / max(own, 1):.0%} within an hour of it"
              " (opens are seeded at habit ± 1 h)")  # fmt: skip


if __name__ == "__main__":
    main()
