"""Journey entry triggers read from durable sources: what one read (a "poll") costs.

The issue names no bound for these; the figures say whether reading every source of every
live journey each runner tick (at most every 0.5 s per journey, docs/journeys.md
"Triggers") is affordable beside a large store. CPU per poll (``time.process_time``, the
writer unit included), medians of ``--runs``, the load average printed beside each:

- ``next_due``: the first moment any zone reaches the trigger's time, computed once per due
  moment (before it a tick does not read a schedule or date journey at all);
- ``date`` due in a zone where few contacts have their birthday today, and a due moment where
  every one of ``--contacts`` enters at once (runs started in one writer unit);
- ``message`` (opened, one campaign) beside ``--rows`` message events, and ``subscription``
  beside ``--rows`` consent changes: nothing new, then 20 new rows.

    uv run python -m bench.bench_triggers            # 100k contacts, 1M rows
    uv run python -m bench.bench_triggers --quick    # 10k contacts, 50k rows
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from retenta.app import Container, build_container
from retenta.journeys.definition import parse
from retenta.journeys.sources import poll_one, timed
from retenta.journeys.store import LiveJourney
from retenta.settings import Settings

ZONES = ["Europe/Kyiv", "America/New_York", "UTC", None, "Asia/Tokyo"]
NOW = datetime(2026, 5, 17, tzinfo=UTC)
WS = "ws_bench"


def live(journey_id: str, trigger: dict[str, Any]) -> LiveJourney:
    rule = {"type": "every_time", "max_concurrent": 100}
    doc = {"name": journey_id, "entry": {"trigger": trigger, "rule": rule}, "start": "x",
           "nodes": [{"id": "x", "type": "exit"}]}  # fmt: skip
    return LiveJourney(journey_id, 1, parse(doc))


def seed(container: Container, contacts: int, rows: int) -> None:
    """Contacts in 5 zones with birthdays spread over the year, as many again in Tokyo all born
    on 18 May; ``rows`` message events and consent changes in the minutes before NOW."""

    def work(conn: Any) -> None:
        conn.execute("INSERT INTO workspaces (id, name) VALUES (?, 'bench')", [WS])
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, timezone, attributes)"
            " SELECT ?, i, ?, ?, list_extract(?::VARCHAR[], 1 + i % 5),"
            " json_object('birthday', printf('19%02d-%02d-%02d', 50 + i % 50,"
            " 1 + (i // 5) % 12, 1 + (i // 60) % 28)) FROM range(1, ? + 1) t(i)",
            [WS, NOW, NOW, ZONES, contacts],
        )
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, timezone, attributes)"
            " SELECT ?, i, ?, ?, 'Asia/Tokyo', json_object('birthday', '1990-05-18')"
            " FROM range(? + 1, 2 * ? + 1) t(i)",
            [WS, NOW, NOW, contacts, contacts],
        )
        conn.execute(
            "INSERT INTO message_events (workspace_id, contact_id, send_id, channel, campaign_id,"
            " message_id, status, \"at\") SELECT ?, 1 + i % ?, 'snd_' || i // 4, 'email',"
            " 'cmp_' || i % 7, 'msg_1', ['queued', 'sent', 'delivered', 'opened'][1 + i % 4],"
            " ?::TIMESTAMPTZ - INTERVAL 1 SECOND * (? - i) FROM range(?) t(i)",
            [WS, contacts, NOW - timedelta(minutes=1), rows, rows],
        )
        conn.execute(
            "INSERT INTO consents SELECT ?, 1 + i % ?, 'email', '*', CASE WHEN i % 3 = 0"
            " THEN 'unsubscribed' ELSE 'subscribed' END, 'import',"
            " ?::TIMESTAMPTZ - INTERVAL 1 SECOND * (? - i) FROM range(?) t(i)",
            [WS, contacts, NOW - timedelta(minutes=1), rows, rows],
        )

    container.db.write(work)


def add_rows(container: Container, at: datetime, tag: str) -> None:
    def work(conn: Any) -> None:
        conn.execute(
            "INSERT INTO message_events (workspace_id, contact_id, send_id, channel, campaign_id,"
            " message_id, status, \"at\") SELECT ?, 1 + i, 'new_' || ? || i, 'email', 'cmp_3',"
            " 'msg_1', 'opened', ? FROM range(20) t(i)",
            [WS, tag, at],
        )
        for status, moment in (
            ("unsubscribed", at - timedelta(milliseconds=1)),
            ("subscribed", at),
        ):  # a change: each one is an entry
            conn.execute("INSERT INTO consents SELECT ?, 1 + i, 'email', '*', ?, 'form', ?"
                         " FROM range(20) t(i)", [WS, status, moment])  # fmt: skip

    container.db.write(work)


def warm(container: Container) -> None:
    """DuckDB imports pandas on a process's first Arrow ``register`` (~1 s CPU): not a poll's."""

    def work(conn: Any) -> None:
        conn.register("_warm", pa.table({"a": [1]}))
        conn.unregister("_warm")

    container.db.write(work)


def cpu_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    out = fn()
    return (time.process_time() - start) * 1000, out


def poll(container: Container, journey: LiveJourney, now: datetime) -> tuple[float, int]:
    return cpu_ms(lambda: container.db.write(lambda conn: poll_one(conn, WS, journey, now)))


def line(label: str, samples: list[float], note: str = "") -> None:
    load = os.getloadavg()[0]
    print(f"| {label} | {statistics.median(samples):.1f} ms | {note} | {load:.1f} |", flush=True)


def run(args: argparse.Namespace) -> None:
    print(
        f"{args.contacts:,} contacts (+{args.contacts:,} all born on 18 May, Tokyo),"
        f" {args.rows:,} message events and consent changes; medians of {args.runs} runs\n"
    )
    print("| poll | CPU | what happened | load |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp) / "data",
                                             background_workers=False))  # fmt: skip
        try:
            seed(container, args.contacts, args.rows)
            warm(container)
            timed_polls(container, args)
            history_polls(container, args)
        finally:
            container.close()


def timed_polls(container: Container, args: argparse.Namespace) -> None:
    schedule = {"type": "schedule", "cron": "0 9 * * 1", "timezone": "contact",
                "segment_id": "seg_none"}  # fmt: skip
    date = {"type": "date", "attribute": "birthday", "at": "09:00", "timezone": "contact",
            "offset": {"amount": 1, "unit": "days"}, "direction": "before"}  # fmt: skip
    for name, trigger in (("schedule", schedule), ("date", date)):
        model = live("jny_" + name, trigger).definition.entry.trigger
        timed.next_due(model, NOW)  # zone groups of the day cached
        samples = [cpu_ms(partial(timed.next_due, model, NOW + timedelta(hours=h)))[0]
                   for h in range(1, args.runs + 1)]  # fmt: skip
        line(f"`next_due`, {name} in every zone", samples, "once per due moment")
    samples, started = [], []
    for i in range(args.runs):  # Kyiv 09:00 (06:00 UTC) on successive days: ~1/336 born then
        journey = live(f"jny_date_{i}", date)
        day = NOW + timedelta(days=i)
        poll(container, journey, day + timedelta(hours=5, minutes=59))  # the source starts
        ms, n = poll(container, journey, day + timedelta(hours=6))
        samples.append(ms)
        started.append(n)
    line("date, due in one zone", samples, f"{statistics.median(started):.0f} runs started")
    journey = live("jny_date_all", date)
    tokyo = datetime(2026, 5, 17, 0, tzinfo=UTC)  # 09:00 in Tokyo, a day before 18 May
    poll(container, journey, tokyo - timedelta(seconds=1))
    ms, n = poll(container, journey, tokyo)
    line("date, everyone due at once", [ms], f"{n:,} runs started in one unit")


def history_polls(container: Container, args: argparse.Namespace) -> None:
    journeys = {
        "message (opened, campaign filter)": live(
            "jny_msg", {"type": "message", "on": "opened", "campaign_id": "cmp_3"}),
        "subscription (email)": live(
            "jny_sub", {"type": "subscription", "channel": "email", "on": "subscribed"}),
    }  # fmt: skip
    for journey in journeys.values():
        poll(container, journey, NOW)  # sources start at NOW
        poll(container, journey, NOW + timedelta(seconds=1))  # warm (first Arrow register)
    for label, journey in journeys.items():
        idle, fresh, started = [], [], []
        for i in range(args.runs):
            base = NOW + timedelta(seconds=10 * (i + 1))
            idle.append(poll(container, journey, base)[0])
            add_rows(container, base + timedelta(seconds=1), f"{label[:3]}{i}_")
            ms, n = poll(container, journey, base + timedelta(seconds=2))
            fresh.append(ms)
            started.append(n)
        line(f"{label}, nothing new", idle, f"beside {args.rows:,} rows")
        line(f"{label}, 20 new rows", fresh, f"{statistics.median(started):.0f} runs started")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10k contacts, 50k rows, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.rows, args.runs = 10_000, 50_000, 3
    run(args)


if __name__ == "__main__":
    main()
