"""The segment API at scale, through the real app (TestClient → router → service → DuckDB):
the builder's preview of a 10-condition definition (count + 10 sample profiles with their
reasons), the segment list, a members page, a full refresh, and a CSV/Parquet export.

Bound (issue #3): "segment count in the builder ≤ 1 s for definitions of up to 10
conditions" — the preview is that count plus the sample, so it is held to the same bound.
The compiled count alone is measured by bench/bench_segments.py (COMPILER).

Reads a demo data directory (``python -m retenta.demo.generate --data DIR --contacts N``);
``--quick`` makes a 20k-contact demo in a temp dir. Medians of ``--runs`` runs.

    uv run python -m bench.bench_segment_api --data /tmp/segbench/1m
    uv run python -m bench.bench_segment_api --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import build_container, create_app
from retenta.settings import Settings

BOUND_S = 1.0


def last(amount: int, unit: str = "days") -> dict[str, Any]:
    return {"kind": "last", "amount": amount, "unit": unit}


CITIES = ["Kyiv", "Lviv", "Odesa", "London"]
RECENT_CART = [
    {"type": "event", "event": "Product Added", "window": last(90)},
    {"type": "event", "event": "Checkout Started", "window": last(90)},
]
ORDERED_LATELY = {"type": "event", "event": "Order Completed", "window": last(3)}
VIEWED_TWICE = {"type": "event", "event": "Product Viewed", "window": last(180)}
# Ten leaf conditions of every kind the demo has data for.
TEN_CONDITIONS: dict[str, Any] = {
    "type": "all",
    "conditions": [
        {"type": "attribute", "field": "city", "op": "in", "value": CITIES},
        {"type": "attribute", "field": "email", "op": "exists"},
        {"type": "attribute", "field": "created_at", "value_type": "date", "op": "in_last",
         "value": 400},
        {"type": "trait", "trait": "orders", "op": "gte", "value": 1},
        {"type": "order", "window": last(365), "compare": {"op": "gte", "value": 1}},
        {**VIEWED_TWICE, "compare": {"op": "gte", "value": 2}},
        {"type": "purchase", "window": last(365)},
        {"type": "any", "conditions": RECENT_CART},
        {"type": "not", "condition": ORDERED_LATELY},
    ],
}  # fmt: skip


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def ok(resp: Any) -> Any:
    if resp.status_code >= 400:
        raise SystemExit(
            f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        )
    return resp


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def line(name: str, seconds: float, note: str = "", bound: float | None = None) -> None:
    verdict = ""
    if bound is not None:
        verdict = f"  bound ≤ {bound:g} s: {'OK' if seconds <= bound else 'OVER'}"
    sys.stdout.write(f"{name:<46} {seconds * 1000:9.1f} ms  {note}{verdict}\n")


def store_size(container: Any) -> tuple[int, int]:
    with container.db.read() as cur:
        contacts = cur.execute("SELECT count(*) FROM contacts").fetchone()
        events = cur.execute("SELECT count(*) FROM all_events").fetchone()
    return int(contacts[0]), int(events[0])


def run(data: Path, runs: int) -> None:
    info = json.loads((data / "demo.json").read_text(encoding="utf-8"))
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with TestClient(create_app(container)) as client:
            measure(client, {"Authorization": f"Bearer {info['api_key']}"}, container, runs)
    finally:
        container.close()


def measure(client: TestClient, h: dict[str, str], container: Any, runs: int) -> None:
    from bench.bench_segments import ensure_facts

    contacts, events = store_size(container)
    sys.stdout.write(f"store: {contacts:,} contacts, {events:,} events; load {load()}\n")
    ensure_facts(container)  # the demo loads events straight into L2, past the copy
    base = "/api/v1/segments"
    body = {"kind": "rules", "definition": {"version": 1, "root": TEN_CONDITIONS}}

    def preview(sample: int) -> Any:
        return ok(client.post(f"{base}/preview", json={**body, "sample": sample}, headers=h)).json()

    t, got = timed(lambda: preview(10), runs)
    line("preview, 10 conditions, count + 10 with reasons", t, f"n {got['count']:,}", BOUND_S)
    t, got = timed(lambda: preview(0), runs)
    line("preview, 10 conditions, count only", t, f"n {got['count']:,}", BOUND_S)
    seg = ok(client.post(base, json={"name": f"bench {time.time()}", **body}, headers=h)).json()
    url = f"{base}/{seg['id']}"
    t, _ = timed(lambda: ok(client.get(f"{url}/members?limit=50", headers=h)), runs)
    line("members, first page of 50 (computed)", t)
    container.segments._fields_cache.ttl_s = 0  # measure the read, not the cache
    t, fields = timed(lambda: ok(client.get(f"{base}/fields", headers=h)).json(), runs)
    n_attrs, n_events = len(fields["attributes"]), len(fields["events"])
    line("fields (uncached)", t, f"{n_attrs} attributes, {n_events} events")
    t, refreshed = timed(lambda: ok(client.post(f"{url}/refresh", headers=h)).json(), runs)
    line("refresh (full recompute + diff, stored)", t, f"size {refreshed['size']:,}")
    t, _ = timed(lambda: ok(client.get(base, headers=h)), runs)
    line("list segments", t)
    t, _ = timed(lambda: ok(client.get(f"{url}/members?limit=50", headers=h)), runs)
    line("members, first page of 50 (stored)", t)
    for fmt in ("csv", "parquet"):
        export_url = f"{url}/export?format={fmt}"
        t, resp = timed(lambda: ok(client.get(export_url, headers=h)), runs)  # noqa: B023
        rate = refreshed["size"] / t if t else 0
        line(f"export {fmt}", t, f"{len(resp.content):,} bytes, {rate:,.0f} members/s")
    ok(client.delete(url, headers=h))
    sys.stdout.write(f"load after: {load()}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, help="a demo data directory")
    parser.add_argument("--quick", action="store_true", help="a 20k-contact demo in a temp dir")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick or args.data is None:
        from retenta.demo.setup import prepare_demo

        with tempfile.TemporaryDirectory(prefix="segapi-") as tmp:
            prepare_demo(Path(tmp) / "demo", contacts=20_000, seed=7, days=365)
            run(Path(tmp) / "demo", args.runs)
        return 0
    run(args.data, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
