"""How long the signal passes take on a generated demo store (no bound in issue #5: a
figure to watch). Prints wall and CPU seconds for the daily pass (replenishment, win-back,
next best offer: the SQL, then the emission through ingestion) and for a catalog pass after
a price drop of many products, with the signals each emitted and the load.

    uv run python bench/bench_signals.py            # 20,000 contacts
    uv run python bench/bench_signals.py --quick    # 2,000 contacts
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from retenta.app import build_container
from retenta.demo.generate import generate_store
from retenta.settings import Settings
from retenta.signals.daily import daily_signals
from retenta.signals.service import for_container
from retenta.signals.settings import SignalSettings


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} / {five:.1f} (1 / 5 min, {os.cpu_count()} cores)"


def timed(label: str, work: Any) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    print(f"{label:<44} {time.perf_counter() - wall:7.2f} s wall {time.process_time() - cpu:7.2f}"
          f" s CPU   {load()}")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--drops", type=int, default=500, help="products whose price falls")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    contacts = 2_000 if args.quick else args.contacts
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp) / "data",
                                             background_workers=False))  # fmt: skip
        ws = container.tenancy.create_workspace(name="Bench")
        now = datetime.now(UTC)
        start = now - timedelta(minutes=1)
        timed(f"generate {contacts:,} contacts", lambda: generate_store(
            container.db, ws, contacts=contacts, seed=1, now=start))  # fmt: skip
        service = for_container(container)
        with container.db.read() as cur:
            found = timed("daily pass: the three queries", lambda: daily_signals(
                cur, ws, SignalSettings(), now))  # fmt: skip
        kinds: dict[str, int] = {}
        for s in found:
            kinds[s.event] = kinds.get(s.event, 0) + 1
        print(f"  signals: {kinds}")
        timed("daily pass: queries + emission (ingest)",
              lambda: asyncio.run(service.daily_pass(now, force=True)))  # fmt: skip
        with container.db.read() as cur:
            skus = [r[0] for r in cur.execute(
                "SELECT sku FROM products WHERE workspace_id = ? ORDER BY hash(sku) LIMIT ?",
                [ws, args.drops]).fetchall()]  # fmt: skip
        table = pa.table({"sku": skus, "price": pa.array([0.5] * len(skus), pa.float64())})
        timed(f"catalog upsert: {len(skus)} prices fall", lambda: container.db.write(
            lambda c: container.commerce.upsert_products(c, ws, table)))  # fmt: skip
        changes, emitted = timed("catalog pass: audience + emission", lambda: asyncio.run(
            service.catalog_pass(datetime.now(UTC))))  # fmt: skip
        print(f"  changes {changes}, Price Dropped signals {emitted}")
        container.close()


if __name__ == "__main__":
    main()
