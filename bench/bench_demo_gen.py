"""Demo store generation: time, rows/s and peak memory for a whole store.

Generates ``--contacts`` people (default 1,000,000, about 50M events over 365 days) into
a fresh data directory through the single writer, exactly as ``retenta demo`` does, and
prints the figures beside the bounds we hold the generator to: the issue asks for a
store of that size "within a few GB and in minutes". Also printed for reference: the raw
Arrow → DuckDB append rate of the same event rows (the floor the writer cannot beat).

Usage: ``uv run python -m bench.bench_demo_gen [--quick] [--contacts N] [--keep DIR]``.
``--quick`` is a 10,000-contact smoke run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np

from retenta.app import build_container
from retenta.demo.catalog import build_catalog
from retenta.demo.generate import CHUNK_CONTACTS, StoreSpec, generate_store, simulate_chunk
from retenta.demo.model import Calendar, Mix
from retenta.demo.tables import CatalogText
from retenta.settings import Settings
from retenta.storage.duckdb.events import append_events

BOUND_SECONDS_1M = 600.0  # "in minutes": ten of them at most for 1M contacts / ~50M events
BOUND_PEAK_GB = 4.0  # "within a few GB"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def raw_append_rate() -> float:
    """Events/s of a bare Arrow append of one generated chunk into a fresh DuckDB file."""
    spec = StoreSpec("ws_bench", CHUNK_CONTACTS, 1, 365, NOW, Mix())
    cal = Calendar.build(NOW, 365)
    cat = build_catalog(np.random.default_rng(1), 3000, now=NOW)
    ids = np.arange(1, CHUNK_CONTACTS + 1, dtype=np.int64)
    _, events = simulate_chunk(spec, cal, cat, CatalogText.build(cat), 0, ids)
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(str(Path(tmp) / "raw.duckdb"))
        conn.execute(
            "CREATE TABLE events (workspace_id VARCHAR, message_id VARCHAR, contact_id BIGINT,"
            " type VARCHAR, event VARCHAR, user_id VARCHAR, anonymous_id VARCHAR,"
            " timestamp TIMESTAMPTZ, original_timestamp TIMESTAMPTZ, sent_at TIMESTAMPTZ,"
            " received_at TIMESTAMPTZ, properties JSON, traits JSON, context JSON, source VARCHAR)"
        )
        started = time.perf_counter()
        append_events(conn, events, target="events")
        conn.execute("CHECKPOINT")
        elapsed = time.perf_counter() - started
        conn.close()
    return events.num_rows / elapsed


def run(contacts: int, data: Path, message_ids: bool) -> None:
    container = build_container(Settings(data_dir=data, background_workers=False))
    ws = container.tenancy.create_workspace(name="Bench store")
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    last = [wall0]

    def progress(done: int, total: int, rows: dict[str, int]) -> None:
        now = time.perf_counter()
        if now - last[0] > 15 or done == total:
            last[0] = now
            print(f"  {done:>9,}/{total:,} contacts  {rows.get('events', 0):>12,} events"
                  f"  {now - wall0:7.1f} s", flush=True)  # fmt: skip

    report = generate_store(container.db, ws, contacts=contacts, seed=42, now=NOW,
                            progress=progress, message_ids=message_ids)  # fmt: skip
    closing = time.perf_counter()
    container.close()  # includes the final checkpoint: the data is on disk
    wall = time.perf_counter() - wall0
    cpu = cpu_seconds() - cpu0
    size_gb = sum(p.stat().st_size for p in data.iterdir()) / 1024**3
    _print(contacts, report.rows, wall, cpu, time.perf_counter() - closing, size_gb)


def _print(
    contacts: int, rows: dict[str, int], wall: float, cpu: float, close: float, size: float
) -> None:
    events, total = rows.get("events", 0), sum(rows.values())
    bound = max(60.0, BOUND_SECONDS_1M * contacts / 1_000_000)  # start-up dominates small runs
    print()
    print("| figure | measured | bound |")
    print("|---|---|---|")
    print(f"| contacts | {contacts:,} | |")
    print(
        f"| events | {events:,} ({events / max(contacts, 1):.1f} per contact) | ~50 per contact |"
    )
    print(f"| all rows (events, orders, identities, …) | {total:,} | |")
    print(f"| wall time (incl. final checkpoint {close:.1f} s) | {wall:.1f} s | ≤ {bound:.0f} s |")
    print(f"| CPU time (all threads) | {cpu:.1f} s | |")
    print(f"| events/s | {events / wall:,.0f} | |")
    print(f"| rows/s (all tables) | {total / wall:,.0f} | |")
    print(f"| peak RSS | {peak_gb():.2f} GB | ≤ {BOUND_PEAK_GB:.0f} GB |")
    print(f"| data directory | {size:.2f} GB | |")
    print(f"| ok | {'yes' if wall <= bound and peak_gb() <= BOUND_PEAK_GB else 'NO'} | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="10,000 contacts (smoke run)")
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    parser.add_argument(
        "--no-message-ids", action="store_true", help="skip recording event ids for dedup"
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw append reference")
    args = parser.parse_args()
    contacts = 10_000 if args.quick else args.contacts
    if not args.no_raw:
        print(f"raw Arrow append of one {CHUNK_CONTACTS:,}-contact chunk: "
              f"{raw_append_rate():,.0f} events/s", flush=True)  # fmt: skip
    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="retenta-demo-bench-"))
    data = args.keep or (tmp / "data")  # type: ignore[operator]
    try:
        run(contacts, data, message_ids=not args.no_message_ids)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
