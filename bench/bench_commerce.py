"""E-commerce entities on the ingestion hot path: ``CommerceService.apply`` per 100-event
batch with a typical storefront mix, side by side with the budget it has to live within.

The bound: the whole server must take 50,000 events/s in 100-event batches on 2 cores, i.e.
500 batches/s, 2 ms per batch for *everything* (HTTP, validation, identity, the Arrow append,
appliers). The ingest pipeline commits groups of requests in one transaction, so ``apply``
normally sees several batches at once; the group sizes below show how its cost amortizes.

Goals: a unit with a few e-commerce events costs ≤ 2 ms in ``apply``; batch-sized units
(2,000–3,000 events, what ``/v1/batch`` produces) with the typical mix cost ≤ 8 µs of CPU per
event (issue #2, session 6). The machine is shared, so the CPU time of the writer thread is
the figure to compare (wall time also counts the time other processes ran); medians.

    uv run --frozen python bench/bench_commerce.py [--quick]

``--refund-store DIR`` measures instead a unit of refunds on a large store (1M orders, 2M lines,
10k return facts by default), seeded once into ``DIR`` and reused: the writer and process CPU
of ``apply`` for 9 refunds (whole, partial, re-sent, of unknown orders), each unit rolled back
so every run sees the same store. The unit's reads must cost by its keys, not by the store's
size (session 9, REFUNDS). Run it with ``PYTHONPATH=<worktree of the base>/src`` for the A/B.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from retenta.app import build_container
from retenta.core.messages import Message
from retenta.settings import Settings
from retenta.storage.duckdb.events import append_events, messages_to_arrow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WS = "bench"
# per 1,000 events: what a storefront sends (views dominate; some carts; 2% orders, and
# refunds for about one order in seven)
MIX = [
    ("Product Viewed", 350), ("Product List Viewed", 80), ("page", 150), ("Product Added", 100),
    ("Product Removed", 30), ("Cart Viewed", 50), ("Checkout Started", 30),
    ("Order Completed", 20), ("Products Searched", 80), ("Product Added to Wishlist", 30),
    ("Order Refunded", 3), ("Email Opened", 77),
]  # fmt: skip
SKUS = 5000


class Stream:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.orders: list[tuple[int, str]] = []

    def product(self) -> dict[str, Any]:
        sku = self.rng.randrange(SKUS)
        return {"sku": f"SKU-{sku}", "name": f"Product {sku}", "price": 10 + sku % 90,
                "category": f"Cat {sku % 40} > Sub {sku % 7}",
                "brand": f"Brand {sku % 25}"}  # fmt: skip

    def props(self, event: str, contact: int) -> dict[str, Any]:
        if event in ("Product List Viewed", "Cart Viewed", "Checkout Started"):
            return {"products": [self.product() for _ in range(self.rng.randint(1, 4))]}
        if event == "Order Completed":
            order_id = f"O-{self.n}"
            self.orders.append((contact, order_id))
            items = [{**self.product(), "quantity": 1} for _ in range(self.rng.randint(1, 3))]
            return {"order_id": order_id, "total": 99, "currency": "EUR", "products": items}
        if event == "Order Refunded":
            return {"order_id": self.orders[-1][1] if self.orders else "none"}
        if event == "Products Searched":
            return {"query": self.rng.choice(["shoes", "red dress", "hat", "bag"])}
        return self.product()

    def message(self, event: str) -> Message:
        self.n += 1
        contact = self.rng.randrange(1, 20_000)
        at = T0 + timedelta(milliseconds=self.n * 10)
        kind = "page" if event == "page" else "track"
        return Message(WS, f"b-{self.n}", kind, at, at, event=event, contact_id=contact,  # type: ignore[arg-type]
                       properties=self.props(event, contact))  # fmt: skip

    def batch(self, size: int) -> list[Message]:
        """``size`` events drawn from the mix (so a 100-event batch has 0–5 orders)."""
        events = [e for e, weight in MIX for _ in range(weight)]
        return [self.message(self.rng.choice(events)) for _ in range(size)]


def seed_catalog(container: Any) -> None:
    """A product feed that describes every sku (as a store with a feed has)."""
    skus = [f"SKU-{i}" for i in range(SKUS)]
    table = pa.table(
        {
            "sku": skus,
            "name": [f"Feed {s}" for s in skus],
            "url": [f"https://shop.example/{s}" for s in skus],
            "image_url": [f"https://shop.example/{s}.jpg" for s in skus],
            "price": [20.0] * SKUS,
            "currency": ["EUR"] * SKUS,
            "category_path": [["Cat", "Sub"]] * SKUS,
            "brand": ["Acme"] * SKUS,
        }
    )
    container.db.write(lambda c: container.commerce.upsert_products(c, WS, table))


def timed(container: Any, batch: list[Message]) -> tuple[float, float, float, float]:
    """Seconds for appending the batch's events (the baseline) and for ``apply``, then the
    CPU seconds of ``apply``: the writer thread's, and the process's (with DuckDB's threads)."""

    def work(conn: Any) -> tuple[float, float, float, float]:
        start = time.perf_counter()
        append_events(conn, messages_to_arrow(batch))
        middle, cpu, proc = time.perf_counter(), time.thread_time(), time.process_time()
        container.commerce.apply(conn, batch)
        return (middle - start, time.perf_counter() - middle, time.thread_time() - cpu,
                time.process_time() - proc)  # fmt: skip

    return tuple(float(x) for x in container.db.write(work))  # type: ignore[return-value]


def run(
    group: int, batches: int, stream: Stream, container: Any
) -> list[tuple[float, float, float, float]]:
    for _ in range(20):  # warm up: caches, first carts and orders
        timed(container, stream.batch(100 * group))
    return [timed(container, stream.batch(100 * group)) for _ in range(batches)]


FEW = [
    [("Product Viewed", {}), ("Product Added", {}), ("Products Searched", {"query": "hat"})],
    [("Product Added", {}), ("Order Completed", None)],
]


def few_events(stream: Stream, kinds: list[tuple[str, dict[str, Any] | None]]) -> list[Message]:
    """A unit with a few e-commerce events of one contact (the fixed cost per unit)."""
    batch = [stream.message(event) for event, _ in kinds]
    contact = batch[0].contact_id
    for message, (_, props) in zip(batch, kinds, strict=True):
        message.contact_id = contact
        if props:
            message.properties = props
    return batch


def fixed_cost(container: Any, stream: Stream, batches: int) -> list[tuple[str, float]]:
    out = []
    for kinds in FEW:
        for _ in range(10):
            timed(container, few_events(stream, kinds))
        times = [timed(container, few_events(stream, kinds))[1] for _ in range(batches)]
        out.append((" + ".join(e for e, _ in kinds), statistics.median(times)))
    return out


def report_groups(container: Any, stream: Stream, batches: int) -> None:
    print(f"{'events':>6} {'apply med ms':>12} {'p95 ms':>8} {'µs/event':>9} {'append med ms':>13}"
          f" {'apply/append':>12} {'CPU µs/event':>12} {'process CPU':>11}"
          "  bound: CPU ≤ 8 µs/event at 2,000–3,000")  # fmt: skip
    for group in (1, 10, 20, 30):
        times = run(group, batches, stream, container)
        applies = sorted(t[1] for t in times)
        med, p95 = statistics.median(applies), applies[int(len(applies) * 0.95)]
        append = statistics.median(t[0] for t in times)
        per_event = med / (group * 100) * 1e6
        cpu = statistics.median(t[2] for t in times) / (group * 100) * 1e6
        proc = statistics.median(t[3] for t in times) / (group * 100) * 1e6
        print(f"{group * 100:>6} {med * 1e3:>12.2f} {p95 * 1e3:>8.2f} {per_event:>9.1f}"
              f" {append * 1e3:>13.2f} {med / append:>12.1f} {cpu:>12.1f}"
              f" {proc:>11.1f}")  # fmt: skip


STORE_ORDERS = 1_000_000
STORE_FACTS = 10_000
SEED_SQL = (
    "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
    " updated_at, source_message_id)"
    " SELECT $ws, 'R-' || i, 1 + (i * 7919) % 200000, 'placed', 99, $t0::TIMESTAMPTZ"
    " + INTERVAL 1 MINUTE * i, $t0::TIMESTAMPTZ + INTERVAL 1 MINUTE * i, 'seed-' || i"
    " FROM range($n) t(i)",
    "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price)"
    " SELECT $ws, 'R-' || i, l, 'SKU-' || ((i * 31 + l) % 5000), 1 + l, 10"
    " FROM range($n) t(i), range(2) u(l)",
    # facts on spread orders (a store refunds ~1% of its orders): line 0 partly, by sku
    "INSERT INTO order_returns (workspace_id, order_id, sku, quantity, amount, returned_at,"
    " source_message_id) SELECT $ws, 'R-' || (i * 97), 'SKU-' || ((i * 97 * 31) % 5000), 1, 10,"
    " $t0::TIMESTAMPTZ + INTERVAL 1 MINUTE * (i * 97 + 60), 'seed-ret-' || i FROM range($f) t(i)",
)


def refund_store(path: Path) -> Any:
    """A container on the large store in ``path``, seeded the first time (a minute or so)."""
    path.mkdir(parents=True, exist_ok=True)
    container = build_container(Settings(data_dir=path, background_workers=False))
    done = path / "seeded"
    if not done.exists():
        params = {"ws": WS, "t0": T0, "n": STORE_ORDERS, "f": STORE_FACTS}

        def seed(conn: Any) -> None:
            for sql in SEED_SQL:
                conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})

        container.db.write(seed)
        container.db.write(lambda c: c.execute("CHECKPOINT"))
        done.write_text(f"{STORE_ORDERS} orders, {STORE_FACTS} return facts\n")
    return container


class RollbackError(Exception):
    """Raised inside a measured unit so that it leaves the store as it found it."""


def refund_unit(rng: random.Random, n: int) -> list[Message]:
    """9 refunds: 3 whole orders, 3 partial (by sku), 1 that re-sends a stored fact's message,
    2 of orders the store does not have."""
    out: list[Message] = []
    at = T0 + timedelta(days=3000)

    def msg(mid: str, props: dict[str, Any]) -> None:
        out.append(Message(WS, mid, "track", at, at, event="Order Refunded", contact_id=1,  # type: ignore[arg-type]
                           properties=props))  # fmt: skip

    for j in range(3):
        msg(f"rw-{n}-{j}", {"order_id": f"R-{rng.randrange(STORE_ORDERS)}", "total": 5})
    for j in range(3):
        i = rng.randrange(STORE_ORDERS)
        sku = f"SKU-{(i * 31) % 5000}"
        line = {"sku": sku, "quantity": 1, "price": 10}
        msg(f"rp-{n}-{j}", {"order_id": f"R-{i}", "products": [line]})
    f = rng.randrange(STORE_FACTS)
    sku = f"SKU-{(f * 97 * 31) % 5000}"
    line = {"sku": sku, "quantity": 1, "price": 10}
    msg(f"seed-ret-{f}", {"order_id": f"R-{f * 97}", "products": [line]})
    for j in range(2):
        msg(f"ru-{n}-{j}", {"order_id": f"NOPE-{n}-{j}", "total": 5})
    return out


def refund_cpu(container: Any, batch: list[Message]) -> tuple[float, float]:
    """Writer-thread and process CPU seconds of ``apply`` for ``batch``; the unit rolls back."""
    got: list[tuple[float, float]] = []

    def work(conn: Any) -> None:
        cpu, proc = time.thread_time(), time.process_time()
        container.commerce.apply(conn, batch)
        got.append((time.thread_time() - cpu, time.process_time() - proc))
        raise RollbackError

    with contextlib.suppress(RollbackError):
        container.db.write(work)
    return got[0]


def report_refunds(path: Path, units: int) -> None:
    container = refund_store(path)
    try:
        with container.db.read() as cur:
            counts = [cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("orders", "order_items", "order_returns")]  # fmt: skip
        print(f"refund units on {path}: {counts[0]:,} orders, {counts[1]:,} lines,"
              f" {counts[2]:,} return facts; 9 refunds a unit, rolled back,"
              f" {units} units")  # fmt: skip
        rng = random.Random(11)
        for n in range(5):  # warm up: the table blocks in memory
            refund_cpu(container, refund_unit(rng, n))
        times = [refund_cpu(container, refund_unit(rng, n)) for n in range(5, 5 + units)]
        writer = statistics.median(t[0] for t in times) * 1e3
        proc = statistics.median(t[1] for t in times) * 1e3
        print(f"apply() of a 9-refund unit: writer CPU {writer:.2f} ms, process CPU {proc:.2f} ms"
              " (medians)  bound: by the unit's keys, not the store's size")  # fmt: skip
    finally:
        container.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--refund-store", type=Path, help="seed/reuse a 1M-order store here")
    parser.add_argument("--units", type=int, default=21, help="refund units to measure")
    args = parser.parse_args()
    if args.refund_store:
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        report_refunds(args.refund_store, args.units)
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return
    batches = 30 if args.quick else 200
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), background_workers=False)
        container = build_container(settings)
        try:
            seed_catalog(container)
            stream = Stream(7)
            print(f"apply() vs the Arrow append of the same events, typical mix, {batches} units")
            report_groups(container, stream, batches)
            print("fixed cost: a unit with a few e-commerce events (bound: ≤ 2 ms)")
            for label, seconds in fixed_cost(container, stream, batches):
                print(f"  {seconds * 1e3:6.2f} ms  {label}")
            empty = [Message(WS, f"x{i}-{j}", "page", T0, T0, event="Home", contact_id=1)  # type: ignore[arg-type]
                     for j in range(200) for i in range(100)]  # fmt: skip
            t = statistics.median(
                timed(container, empty[j * 100 : (j + 1) * 100])[1] for j in range(200)
            )
            print(f"apply() of 100 events without e-commerce ones: {t * 1e6:.1f} µs")
        finally:
            container.close()
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
