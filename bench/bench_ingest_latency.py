"""Ingestion latency at a steady rate: what a shop's trackers see below the server's ceiling.

``bench_ingest`` drives the server in a closed loop (wrk, as many requests in flight as it
has connections), which measures throughput; its p99 is then Little's law of the rate and
the connections. A site's trackers are an open loop: requests arrive on their own schedule
whether or not the last one was answered. Here requests are sent on a fixed schedule
(``/v1/batch`` of 100 storefront events, ``/v1/track`` of one), each on a free keep-alive
connection or a new one, and each latency is taken from the time the request was *due*, so
a stall that delays later sends is counted in full (no coordinated omission).

The server is a real ``retenta serve`` (durable acknowledgement, identity and commerce on)
on a store seeded with ``--contacts`` known contacts, as ``bench_ingest`` seeds it; the
events are ``bench_ingest``'s storefront mix. The client is a few lines of asyncio over
raw HTTP/1.1 (requests built before the run), so it costs little of the 2 cores.

Each ``--acknowledge`` mode runs on its own copy of the seeded store, one after the other:
``commit`` answers a request after the COMMIT that stored it, ``journal`` once it is in the
intake journal (``docs/ingest.md``).

Usage: ``uv run python -m bench.bench_ingest_latency [--quick] [--seconds S]
[--batch-rates 1000,2500,5000] [--track-rates 250,500,1000] [--acknowledge commit,journal]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.bench_ingest import (
    basic_header,
    init_workspace,
    seed_contacts,
    server,
    storefront_event,
    tree_cpu,
)
from bench.server_metrics import writer_totals

NOW = "2026-01-01T00:00:00.000Z"
BOUND_MS = 100.0


@dataclass(frozen=True)
class Result:
    mode: str  # when the server answered: "commit" or "journal"
    endpoint: str
    rate: float  # events/s asked
    sent: int
    achieved: float  # events/s acknowledged over the run
    p50: float
    p90: float
    p99: float
    worst: float
    errors: int
    server_cores: float
    writer: str = ""  # what the server's /metrics say its writer did meanwhile


def batch_bodies(requests: int, users: int, seed: int) -> list[bytes]:
    """``requests`` bodies of 100 storefront events, every messageId new."""
    rng = random.Random(seed)
    return [
        orjson.dumps(
            {
                "batch": [
                    storefront_event(rng, seed * 10**8 + r * 100 + i, users, NOW)
                    for i in range(100)
                ],
                "sentAt": NOW,
            }
        )
        for r in range(requests)
    ]


def track_bodies(requests: int, users: int, seed: int) -> list[bytes]:
    """``requests`` single track events (``bench_ingest``'s mix, tracks only)."""
    rng, bodies, n = random.Random(seed), [], seed * 10**8
    while len(bodies) < requests:
        event = storefront_event(rng, n, users, NOW)
        n += 1
        if event.get("type") == "track":
            bodies.append(orjson.dumps({**event, "sentAt": NOW}))
    return bodies


def http_request(host: str, path: str, auth: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connections:
    """Keep-alive HTTP/1.1 connections; a request takes a free one or opens one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def send(self, raw: bytes) -> int:
        reader, writer = await self._connection()
        writer.write(raw)
        try:
            status_line = await reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            status_line = b""
        if not status_line:  # the server closed it while idle (keep-alive timeout, with a
            writer.close()  # FIN or, when the request crossed the close, a reset): again
            reader, writer = await self._open()
            writer.write(raw)
            status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.free.append((reader, writer))
        return int(status_line.split()[1])

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return self.free.pop() if self.free else await self._open()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        for _, writer in self.free:
            writer.close()


async def open_loop(
    url: str, path: str, auth: str, bodies: list[bytes], per_s: float
) -> tuple[list[float], int, float]:
    """Send ``bodies`` at ``per_s`` requests a second; latencies (ms, from each request's
    due time), non-2xx count and the seconds until the last answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = Connections(host, port)
    raws = [http_request(f"{host}:{port}", path, auth, b) for b in bodies]
    latencies: list[float] = []
    errors = 0

    async def one(raw: bytes, due: float) -> None:
        nonlocal errors
        status = await conns.send(raw)
        latencies.append((time.perf_counter() - due) * 1000)
        errors += not 200 <= status < 300

    tasks = []
    start = time.perf_counter() + 0.05
    for i, raw in enumerate(raws):
        due = start + i / per_s
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    conns.close()
    return latencies, errors, elapsed


def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))]


def run(
    mode: str,
    url: str,
    pid: int,
    write_key: str,
    endpoint: str,
    rate: float,
    seconds: float,
    users: int,
    seed: int,
) -> Result:
    per_request = 100 if endpoint == "batch" else 1
    requests = max(1, round(rate * seconds / per_request))
    bodies = (batch_bodies if endpoint == "batch" else track_bodies)(requests, users, seed)
    path = "/v1/batch" if endpoint == "batch" else "/v1/track"
    totals_before = writer_totals(url)
    cpu_before, wall_before = tree_cpu(pid), time.perf_counter()
    latencies, errors, elapsed = asyncio.run(
        open_loop(url, path, basic_header(write_key), bodies, rate / per_request)
    )
    took = time.perf_counter() - wall_before
    cores = (tree_cpu(pid) - cpu_before) / took
    writer = (writer_totals(url) - totals_before).summary(took)
    ms = sorted(latencies)
    return Result(
        mode, f"/v1/{endpoint}", rate, requests, requests * per_request / elapsed,
        pct(ms, 0.5), pct(ms, 0.9), pct(ms, 0.99), ms[-1], errors, cores, writer,
    )  # fmt: skip


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nbench_ingest_latency — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} after;"
        f" open loop, {args.seconds:.0f} s a rate, {args.contacts:,} seeded contacts\n"
    )
    print(
        "| answered after | endpoint | asked | acknowledged | p50 ms | p90 ms | p99 ms | worst ms"
        " | non-2xx | server cores | p99 ≤ 100 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        unit = "events/s" if r.endpoint == "/v1/batch" else "req/s"
        print(
            f"| {r.mode} | {r.endpoint} | {r.rate:,.0f} {unit} | {r.achieved:,.0f}"
            f" | {r.p50:.1f} | {r.p90:.1f} | {r.p99:.1f} | {r.worst:.0f} | {r.errors}"
            f" | {r.server_cores:.2f}"
            f" | {'yes' if r.p99 <= BOUND_MS else 'NO'} |"
        )
    print("\nThe server's writer over each run (its /metrics, before and after):")
    for r in results:
        print(f"- {r.mode}, {r.endpoint} at {r.rate:,.0f}: {r.writer}")


def run_mode(mode: str, store: Path, write_key: str, args: argparse.Namespace) -> list[Result]:
    """Every rate against one server answering after ``mode``."""
    results = []
    before = os.environ.get("RETENTA_INGEST_ACKNOWLEDGE")
    os.environ["RETENTA_INGEST_ACKNOWLEDGE"] = mode
    try:
        with server(store, store=True) as (url, proc):
            time.sleep(2)  # the start-up's own work (prewarm, the dedup's load)
            seed = 1
            for endpoint, asked in (("batch", args.batch_rates), ("track", args.track_rates)):
                for rate in asked:
                    result = run(
                        mode, url, proc.pid, write_key, endpoint, rate, args.seconds,
                        args.contacts, seed,
                    )  # fmt: skip
                    seed += 1
                    print(f"{mode}: {result.endpoint} at {rate:,.0f}: p99 {result.p99:.1f} ms",
                          flush=True)  # fmt: skip
                    results.append(result)
    finally:
        if before is None:
            os.environ.pop("RETENTA_INGEST_ACKNOWLEDGE", None)
        else:
            os.environ["RETENTA_INGEST_ACKNOWLEDGE"] = before
    return results


def rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 20k contacts, 5 s a rate")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds at each rate")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch-rates", type=rates, default=[1000.0, 2500.0, 5000.0])
    parser.add_argument("--track-rates", type=rates, default=[250.0, 500.0, 1000.0])
    parser.add_argument(
        "--acknowledge",
        type=lambda v: [m for m in v.split(",") if m],
        default=["commit", "journal"],
        help="the servers' RETENTA_INGEST_ACKNOWLEDGE, each on its own copy of the store",
    )
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.seconds = 20_000, 5.0
    work = Path(tempfile.mkdtemp(prefix="retenta-bench-latency-"))
    try:
        workspace_id, write_key = init_workspace(work)
        print(f"seeding {args.contacts:,} contacts …", flush=True)
        seed_contacts(work, workspace_id, args.contacts)
        results = []
        for mode in args.acknowledge:
            store = work.with_name(f"{work.name}-{mode}")
            shutil.copytree(work, store)
            try:
                results += run_mode(mode, store, write_key, args)
            finally:
                shutil.rmtree(store, ignore_errors=True)
        report(results, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
