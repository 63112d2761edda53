"""Ingestion throughput: ``/v1/batch`` and ``/v1/track`` against a real ``retenta serve``.

The server runs as a subprocess (uvicorn with uvloop and httptools, one worker, identity
resolution and the commerce applier on, durable acknowledgement). Before it is measured,
``--contacts`` known contacts (userId, anonymousId, email) are seeded through the same
pipeline, in process. The load comes from ``wrk`` (Debian package) in another process with
``ingest_load.lua``: a storefront's mix (3% new visitors, the rest known contacts, logged in
or not; page views, product views, searches, cart changes, checkouts, orders, wishlist,
identify), every event with a unique messageId. The CPU that wrk and the server used is
reported beside each figure, so a starved server shows. ``--pin`` runs the server on CPU 0
and wrk on CPU 1 (``taskset``). Beside the figures, the bounds the issue names, measured in
the same run on the same machine:

* the same server with storage switched off (``RETENTA_INGEST_SKIP_STORAGE=1``): HTTP,
  JSON, validation, no writer;
* plain ``orjson.loads`` of request bodies of the same mix (``storefront_event`` mirrors
  the Lua script);
* the raw Arrow append of the same rows into DuckDB (what the writer does per group,
  without dedup or identity);
* for single events, an empty FastAPI endpoint under the same uvicorn and wrk script
  (``bench/empty_endpoint.py``; the issue: "about 6,800 here"), and ``/v1/track`` as a
  share of it beside the bound's share (3,000 / 6,800).

Each figure is the median of ``--runs`` runs. ``--quick`` makes it a smoke run.
Usage: ``uv run python -m bench.bench_ingest [--quick] [--single-only] [--runs N] [--seconds S]``.
``--p99-conns 8,16`` (the default) adds ``/v1/batch`` runs at those lower concurrencies, each
reported with its events/s and p99 beside the 100 ms bound: with 64 connections x 100 events
in flight the mean latency is 6,400 / throughput (Little's law), so the p99 bound is measured
where a closed loop can meet it. ``--single-only`` measures only the single-event runs
(issue #2: ``/v1/track`` >= 3,000 req/s) with the server CPU a request and its event loop
thread's share.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from bench.procs import free_port, process_cpu, stat_cpu
from retenta.core.messages import Message

BATCH_TARGET_EPS = 50_000
BATCH_TARGET_P99_MS = 100.0
TRACK_TARGET_RPS = 3_000
EMPTY_ENDPOINT_RPS = 6_800  # the figure for an empty FastAPI endpoint on its machine
PIPELINE_TARGET_EPS = 150_000  # the pipeline without identity and commerce, in process
BOUNDS = ("parse", "arrow", "pipeline", "pipeline_cpu", "pipeline_writer_cpu",
          "pipeline_prepare_cpu")  # fmt: skip
SEED_CHUNK = 5_000

LUA_SCRIPT = Path(__file__).with_name("ingest_load.lua")


@dataclass(frozen=True)
class Run:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu: float = 0.0  # CPU seconds per second (1.0 = one whole core)
    server_cpu: float = 0.0  # the server and its ingest workers
    writer_cpu: float = 0.0  # the server process alone (the one writer)
    loop_cpu: float = 0.0  # the server's main thread: its event loop (HTTP, parsing, prepare)

    def per_second(self, events_per_request: int) -> float:
        return (self.requests - self.errors) * events_per_request / self.seconds


def retenta_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "retenta.cli", *args]


def init_workspace(data: Path) -> tuple[str, str]:
    """A data directory with one workspace: ``(workspace_id, write_key)``."""
    out = subprocess.run(
        retenta_cmd("init", "--data", str(data), "--json"), check=True, capture_output=True
    )
    doc = json.loads(out.stdout)
    return str(doc["workspace_id"]), str(doc["write_key"])


def seed_contacts(data: Path, workspace_id: str, contacts: int) -> float:
    """Known contacts (identify with userId, anonymousId, email) through the real pipeline,
    in process, before the server starts; returns events/s."""
    from retenta.app import build_container
    from retenta.cli import settings_for
    from retenta.ingest.schemas import Defaults, parse_batch

    c = build_container(settings_for(data))
    try:
        start = time.perf_counter()
        for first in range(1, contacts + 1, SEED_CHUNK):
            items = [seed_identify(u) for u in range(first, min(first + SEED_CHUNK, contacts + 1))]
            defaults = Defaults(workspace_id=workspace_id, received_at=datetime.now(UTC))
            parsed = parse_batch(items, defaults, max_event_bytes=32_768, check_sizes=False)
            c.ingest.ingest_sync(parsed.messages)
        return contacts / (time.perf_counter() - start)
    finally:
        c.close()


def seed_identify(u: int) -> dict[str, object]:
    return {
        "type": "identify", "userId": f"user-{u}", "anonymousId": f"anon-{u}",
        "messageId": f"seed-{u}", "timestamp": "2025-12-01T00:00:00.000Z",
        "traits": {"email": f"user-{u}@shop.example", "firstName": f"Name{u}"},
    }  # fmt: skip


SERVER_CPU, CLIENT_CPU = "0", "1"


def pinned(cmd: list[str], cpu: str, pin: bool) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if pin else cmd


@contextmanager
def server(
    data: Path, *, store: bool, pin: bool = False, workers: int = 0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``retenta serve``; yields the URL that takes ``/v1`` (the ingest port with workers)."""
    port, ingest_port = free_port(), free_port()
    env = {**os.environ, "RETENTA_INGEST_SKIP_STORAGE": "0" if store else "1"}
    cmd = retenta_cmd("serve", "--data", str(data), "--port", str(port))
    if workers:
        cmd += ["--ingest-workers", str(workers), "--ingest-port", str(ingest_port)]
    proc = subprocess.Popen(
        pinned(cmd, SERVER_CPU, pin),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data / "server.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        if workers:
            url = f"http://127.0.0.1:{ingest_port}"
            wait_healthy(url, proc)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("server did not start")


def basic_header(write_key: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


@dataclass(frozen=True)
class Load:
    """What wrk is told: the script, the key, the known contacts, the connections."""

    url: str
    script: Path
    write_key: str
    users: int
    pin: bool
    server_pid: int
    people: str = "seeded"  # whose ids the known people carry (ingest_load.lua, argument 4)


def wrk(load: Load, *, size: int, conns: int, seconds: float) -> Run:
    duration = f"-d{max(1, round(seconds))}s"
    cmd = ["wrk", "-t1", f"-c{conns}", duration, "--timeout", "10s", "-s", str(load.script)]
    cmd += [load.url, "--", str(size), basic_header(load.write_key), str(load.users), load.people]
    client_before = _children_cpu()
    server_before, writer_before = tree_cpu(load.server_pid), process_cpu(load.server_pid)
    loop_before = thread_cpu(load.server_pid, load.server_pid)
    out = subprocess.run(pinned(cmd, CLIENT_CPU, load.pin), check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    server_used = tree_cpu(load.server_pid) - server_before
    writer_used = process_cpu(load.server_pid) - writer_before
    loop_used = thread_cpu(load.server_pid, load.server_pid) - loop_before
    client_used = _children_cpu() - client_before
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    run = Run(**json.loads(line[len("RESULT ") :]))
    return Run(**{**run.__dict__, "client_cpu": client_used / run.seconds,
                  "server_cpu": server_used / run.seconds,
                  "writer_cpu": writer_used / run.seconds,
                  "loop_cpu": loop_used / run.seconds})  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def thread_cpu(pid: int, tid: int) -> float:
    """CPU seconds of one thread of a live process (the main thread has ``tid == pid``)."""
    return stat_cpu(f"/proc/{pid}/task/{tid}/stat")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a live process and its live descendants (the ingest workers)."""
    total = process_cpu(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):  # it exited meanwhile
                total += tree_cpu(int(child))
    return total


def stored_events(data: Path) -> int:
    import duckdb

    with duckdb.connect(str(data / "retenta.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM all_events").fetchall()
    return int(rows[0][0])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_rss_mb(pid: int) -> float:
    """RSS of the server and its ingest workers (shared pages counted once per process)."""
    children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]  # fmt: skip
    return rss_mb(pid) + sum(rss_mb(c) for c in children)


@dataclass
class Figures:
    batch: list[Run]
    track: list[Run]
    batch_no_store: list[Run]
    track_no_store: list[Run]
    stored_ok: bool
    rss: float
    phases: dict[str, float]
    cpu_phases: dict[str, float]  # CPU time of the thread that ran each phase
    events_per_unit: float
    seed_eps: float
    failures: list[str]
    low: dict[int, list[Run]]  # /v1/batch at the lower concurrencies of ``--p99-conns``


SINGLE = "one process"


def measure_servers(work: Path, script: Path, args: argparse.Namespace) -> dict[str, Figures]:
    """Each mode (one process; ``--workers`` ingest workers) on its own copy of the same
    seeded data, both servers up at once and their runs alternated, so the machine's load
    falls on both alike."""
    data = work / "data"
    workspace_id, key = init_workspace(data)
    seed_eps = seed_contacts(data, workspace_id, args.contacts)
    (data / "bench-key.json").write_text(json.dumps({"key": key}), encoding="utf-8")
    modes = {SINGLE: 0} | ({f"{args.workers} workers": args.workers} if args.workers else {})
    dirs = {mode: work / f"data-{i}" for i, mode in enumerate(modes)}
    for d in dirs.values():
        shutil.copytree(data, d)
    stored = _stored_runs(dirs, modes, script, key, args)
    no_store = _no_store_runs(work, modes, script, args)
    figs = {}
    for mode, d in dirs.items():
        batch, track, rss, low = stored[mode]
        acked = sum((r.requests - r.errors) * 100 for r in batch)
        acked += sum((r.requests - r.errors) * 100 for runs in low.values() for r in runs)
        acked += sum(r.requests - r.errors for r in track)
        stats = json.loads((d / "ingest-stats.json").read_text(encoding="utf-8"))
        figs[mode] = Figures(
            batch, track, no_store[mode][0], no_store[mode][2],
            stored_events(d) >= acked + args.contacts,  # the warm-up adds a few more
            rss, stats["microseconds_per_event"], stats.get("cpu_microseconds_per_event", {}),
            stats["events"] / max(stats["units"], 1), seed_eps,
            server_failures(d / "server.log") + no_store[mode][1], low,
        )  # fmt: skip
    return figs


def _alternated(
    loads: dict[str, Load], *, size: int, conns: int, args: argparse.Namespace
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {mode: [] for mode in loads}
    for _ in range(args.runs):
        for mode, load in loads.items():
            runs[mode].append(wrk(load, size=size, conns=conns, seconds=args.seconds))
    return runs


def _batch_runs(loads: dict[str, Load], args: argparse.Namespace) -> dict[str, list[Run]]:
    if args.single_only:
        return {mode: [] for mode in loads}
    return _alternated(loads, size=100, conns=args.conns, args=args)


def _low_runs(loads: dict[str, Load], args: argparse.Namespace) -> dict[str, dict[int, list[Run]]]:
    """``/v1/batch`` at each lower concurrency of ``--p99-conns``: where a p99 bound can be
    met at all (a closed loop's mean latency is what it has in flight over its rate)."""
    low: dict[str, dict[int, list[Run]]] = {mode: {} for mode in loads}
    if args.single_only:
        return low
    for conns in args.p99_conns:
        for mode, runs in _alternated(loads, size=100, conns=conns, args=args).items():
            low[mode][conns] = runs
    return low


def _stored_runs(
    dirs: dict[str, Path], modes: dict[str, int], script: Path, key: str, args: argparse.Namespace
) -> dict[str, tuple[list[Run], list[Run], float, dict[int, list[Run]]]]:
    with ExitStack() as stack:
        servers = {mode: stack.enter_context(server(d, store=True, pin=args.pin,
                                                    workers=modes[mode]))
                   for mode, d in dirs.items()}  # fmt: skip
        loads = {mode: Load(url, script, key, args.contacts, args.pin, proc.pid)
                 for mode, (url, proc) in servers.items()}  # fmt: skip
        for load in loads.values():
            if args.single_only:
                wrk(load, size=0, conns=args.track_conns, seconds=1)  # warm-up
            else:
                wrk(load, size=100, conns=args.conns, seconds=1)
        batch = _batch_runs(loads, args)
        low = _low_runs(loads, args)
        track = _alternated(loads, size=0, conns=args.track_conns, args=args)
        rss = {mode: tree_rss_mb(proc.pid) for mode, (_, proc) in servers.items()}
    return {mode: (batch[mode], track[mode], rss[mode], low[mode]) for mode in dirs}


def _no_store_runs(
    work: Path, modes: dict[str, int], script: Path, args: argparse.Namespace
) -> dict[str, tuple[list[Run], list[str], list[Run]]]:
    """Storage off: what HTTP, JSON, validation (and, with workers, the hand-over) cost."""
    dirs = {mode: work / f"data-nostore-{i}" for i, mode in enumerate(modes)}
    with ExitStack() as stack:
        loads = {}
        for mode, d in dirs.items():
            _, key = init_workspace(d)
            url, proc = stack.enter_context(server(d, store=False, pin=args.pin,
                                                   workers=modes[mode]))  # fmt: skip
            loads[mode] = Load(url, script, key, args.contacts, args.pin, proc.pid)
        batch = _batch_runs(loads, args)
        track = _alternated(loads, size=0, conns=args.track_conns, args=args)
    return {
        mode: (batch[mode], server_failures(d / "server.log"), track[mode])
        for mode, d in dirs.items()
    }


def sustained_runs(work: Path, script: Path, args: argparse.Namespace) -> list[Run]:
    """``/v1/batch`` at ``--conns`` without a pause for ``--sustained`` seconds, in windows of
    ``--window`` seconds, on a fresh copy of the seeded store: what a long burst costs once
    the tables, the dedup index and the compaction backlog grow (the other runs last seconds)."""
    data = work / "data-sustained"
    shutil.copytree(work / "data", data)
    key = json.loads((work / "data" / "bench-key.json").read_text(encoding="utf-8"))["key"]
    windows = max(1, round(args.sustained / args.window))
    with server(data, store=True, pin=args.pin) as (url, proc):
        load = Load(url, script, key, args.contacts, args.pin, proc.pid)
        return [wrk(load, size=100, conns=args.conns, seconds=args.window) for _ in range(windows)]


def report_sustained(runs: list[Run], args: argparse.Namespace) -> None:
    if not runs:
        return
    rates = [r.per_second(100) for r in runs]
    seconds = sum(r.seconds for r in runs)
    total = sum(r.per_second(100) * r.seconds for r in runs) / max(seconds, 1e-9)
    print(
        f"\nsustained /v1/batch -c{args.conns}, {len(runs)} windows of {args.window:.0f} s"
        f" (events/s, p99 ms): "
        + ", ".join(f"{x:,.0f} ({r.p99_ms:,.0f})" for x, r in zip(rates, runs, strict=True))
    )
    print(f"  over the whole {seconds:.0f} s: {total:,.0f} events/s;"
          f" last window / first: {rates[-1] / max(rates[0], 1e-9):.2f};"
          f" errors {sum(r.errors for r in runs)}")  # fmt: skip


def empty_endpoint_runs(work: Path, script: Path, args: argparse.Namespace) -> list[Run]:
    """The single-event bound's baseline on this machine, now: ``bench/empty_endpoint.py``
    under the same uvicorn, driven by the same wrk script and connections."""
    port = free_port()
    log = (work / "empty-endpoint.log").open("wb")
    cmd = [sys.executable, "-m", "bench.empty_endpoint", str(port)]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(pinned(cmd, SERVER_CPU, args.pin), cwd=root,
                            stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        load = Load(url, script, "any-key", args.contacts, args.pin, proc.pid)
        wrk(load, size=0, conns=args.track_conns, seconds=1)  # warm-up
        return [wrk(load, size=0, conns=args.track_conns, seconds=args.seconds)
                for _ in range(args.runs)]  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def empty_endpoint_rows(
    empty: list[Run], figs: dict[str, Figures]
) -> list[tuple[str, str, str, bool | None]]:
    """The reference and each mode's single events as a share of it: the bound is 3,000 req/s
    where an empty endpoint did ~6,800, so a slower machine shows in both."""
    rps = med([r.per_second(1) for r in empty])
    rows: list[tuple[str, str, str, bool | None]] = [
        ("bound: empty FastAPI endpoint, same uvicorn and wrk (single)", f"{rps:,.0f} req/s",
         f"issue: ~{EMPTY_ENDPOINT_RPS:,} on its machine", None),
    ]  # fmt: skip
    share = TRACK_TARGET_RPS / EMPTY_ENDPOINT_RPS
    for mode, fig in figs.items():
        ratio = med([r.per_second(1) for r in fig.track]) / max(rps, 1e-9)
        rows.append((f"  /v1/track as a share of it ({mode})", f"{ratio:.2f}x",
                     f"bound's share: {share:.2f}x (3,000 / 6,800)", None))  # fmt: skip
    return rows


def server_failures(log: Path, lines: int = 12) -> list[str]:
    """The first lines of the server's log from its first failure on (empty if none)."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    first = next((i for i, line in enumerate(text) if "ERROR" in line or "Traceback" in line), None)
    return [] if first is None else text[first : first + lines]


def _product(k: int) -> dict[str, object]:
    return {"sku": f"SKU-{k}", "name": f"Product {k}", "price": 10 + k % 90 + 0.99,
            "quantity": 1, "category": "Women > Shoes", "brand": f"Brand {k % 40}"}  # fmt: skip


_KNOWN_MIX: list[tuple[int, str, object]] = [
    (36, "page", None), (61, "Product Viewed", "product"),
    (66, "Product List Viewed", {"list_id": "shoes", "category": "Shoes"}),
    (71, "Products Searched", "search"), (79, "Product Added", "product"),
    (80, "Product Removed", "sku"), (82, "Cart Viewed", "cart"),
    (85, "Checkout Started", "cart"), (87, "Order Completed", "order"),
    (89, "Product Added to Wishlist", "product"), (95, "identify", None),
]  # fmt: skip


def storefront_event(rng: random.Random, n: int, users: int, now: str) -> dict[str, object]:
    """One event of ``ingest_load.lua``'s mix (same shares, same shapes)."""
    base: dict[str, object] = {
        "messageId": f"py-{n}", "timestamp": now,
        "context": {"ip": f"10.1.{n % 250}.{n % 200}", "locale": "uk-UA",
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)",
                    "page": {"url": "https://shop.example/p"}, "library": {"name": "analytics.js"}},
    }  # fmt: skip
    if rng.randint(1, 100) <= 3:
        return {**base, "type": "page", "name": "landing", "anonymousId": f"new-{n}"}
    u, k, r = rng.randint(1, users), rng.randint(1, 5000), rng.randint(1, 95)
    ids = {"userId": f"user-{u}", "anonymousId": f"anon-{u}"}
    who = ids if rng.randint(1, 100) <= 60 else {"anonymousId": f"anon-{u}"}
    kind = next((name, props) for limit, name, props in _KNOWN_MIX if r <= limit)
    if kind[0] == "page":
        return {**base, **who, "type": "page", "name": "category", "properties": {"path": "/c"}}
    if kind[0] == "identify":
        traits = {"email": f"user-{u}@shop.example", "firstName": f"Name{u}"}
        return {**base, **ids, "type": "identify", "traits": traits}
    props = {
        "product": _product(k), "sku": {"sku": f"SKU-{k}"}, "search": {"query": f"boots {k % 50}"},
        "cart": {"products": [_product(k)], "currency": "UAH"},
        "order": {"order_id": f"ord-{n}", "total": 20 + k % 90 + 0.99, "currency": "UAH",
                  "products": [_product(k), _product((k * 7) % 5000 + 1)]},
    }.get(str(kind[1]), kind[1])  # fmt: skip
    return {**base, **who, "type": "track", "event": kind[0], "properties": props}


def sample_bodies(n: int, users: int) -> list[bytes]:
    """``n`` request bodies of 100 storefront events each (the load generator's mix)."""
    rng, now = random.Random(11), "2026-01-01T00:00:00.000Z"
    bodies = []
    for r in range(n):
        batch = [storefront_event(rng, r * 100 + i, users, now) for i in range(100)]
        bodies.append(orjson.dumps({"batch": batch, "sentAt": now}))
    return bodies


def parse_rate(bodies: list[bytes], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for body in bodies:
            orjson.loads(body)
        done += len(bodies) * 100
    return done / (time.perf_counter() - start)


def arrow_append_rate(work: Path, bodies: list[bytes], group_rows: int) -> float:
    """Rows/s of ``append_events`` for the same rows, one transaction per group."""
    from retenta.storage.duckdb.engine import DuckDatabase
    from retenta.storage.duckdb.events import append_events, messages_to_arrow

    messages = parse_bodies(bodies)
    for i, m in enumerate(messages):
        m.contact_id = i
    tables = [
        messages_to_arrow(messages[i : i + group_rows]) for i in range(0, len(messages), group_rows)
    ]
    db = DuckDatabase(work / "arrow.duckdb")
    try:
        start = time.perf_counter()
        for table in tables:
            db.write(lambda c, t=table: append_events(c, t))
        return len(messages) / (time.perf_counter() - start)
    finally:
        db.close()


class _OneContactPerUser:
    """A minimal resolver, to measure the pipeline's own share (dedup, Arrow, message_ids)."""

    def resolve(self, conn: object, messages: list[Message]) -> None:
        for m in messages:
            m.contact_id = hash(m.user_id or m.anonymous_id) & 0xFFFFFFFF


def pipeline_only_rate(work: Path, bodies: list[bytes], group_events: int) -> dict[str, float]:
    """Events/s through ``IngestPipeline`` in-process, without identity or commerce
    (``pipeline``), and CPU an event, which a loaded machine changes less: the process
    (``pipeline_cpu``), the writer thread's unit less the stand-in resolver and COMMIT
    (``pipeline_writer_cpu``: dead letters, dedup, append, bookkeeping) and ``prepare``
    (the event loop's share in a server, timed in a separate pass over the same units)."""
    from retenta.ingest.pipeline import IngestPipeline
    from retenta.ingest.stats import IngestStats
    from retenta.ingest.units import PendingRequest, prepare
    from retenta.settings import Settings
    from retenta.storage.duckdb.engine import DuckDatabase

    messages = parse_bodies(bodies)
    db = DuckDatabase(work / "pipeline.duckdb")
    settings = Settings(data_dir=work, background_workers=False)
    pipeline = IngestPipeline(db=db, resolver=_OneContactPerUser(), appliers=[], settings=settings)
    try:
        pipeline.ingest_sync(messages[:1])  # loads the filter
        pipeline.stats = IngestStats()
        chunks = [messages[i : i + group_events] for i in range(1, len(messages), group_events)]
        n = len(messages) - 1
        cpu = time.thread_time()
        for chunk in chunks:
            prepare([PendingRequest(chunk)])
        prepare_cpu = (time.thread_time() - cpu) / n * 1e6
        start, cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            pipeline.ingest_sync(chunk)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        per_event = pipeline.stats.as_dict()["cpu_microseconds_per_event"]
        writer = sum(v for k, v in per_event.items() if k not in ("prepare", "resolve"))
        return {"pipeline": n / wall, "pipeline_cpu": cpu / n * 1e6,
                "pipeline_writer_cpu": writer, "pipeline_prepare_cpu": prepare_cpu}  # fmt: skip
    finally:
        db.close()


def parse_bodies(bodies: list[bytes]) -> list[Message]:
    from retenta.ingest.schemas import Defaults, parse_batch

    defaults = Defaults(workspace_id="ws_bench", received_at=datetime.now(UTC))
    messages: list[Message] = []
    for body in bodies:
        batch = orjson.loads(body)["batch"]
        messages += parse_batch(batch, defaults, max_event_bytes=32_768, check_sizes=False).messages
    return messages


@dataclass(frozen=True)
class DedupFigures:
    ids: int
    megabytes_at_50m: float
    build_ids_per_s: float
    check_ns_per_id: float
    false_positive_rate: float


def dedup_figures(ids: int) -> DedupFigures:
    """The messageId fingerprint set at ``ids`` stored ids: load rate (from sorted hashes,
    as at start-up), check cost, false positives (each one costs a scan of the table)."""
    import numpy as np

    from retenta.ingest.dedup import MessageIdDedup
    from retenta.ingest.fingerprints import FingerprintSet

    rng = np.random.default_rng(7)
    stored = np.sort(rng.integers(0, 2**64, size=ids, dtype=np.uint64))
    start = time.perf_counter()
    fp_set = FingerprintSet.from_sorted(
        (stored[i : i + 1_000_000] for i in range(0, ids, 1_000_000)), ids
    )
    build = ids / (time.perf_counter() - start)
    del stored
    probe = rng.integers(0, 2**64, size=1_000_000, dtype=np.uint64)
    start = time.perf_counter()
    hits = int(fp_set.contains(probe).sum())
    check = (time.perf_counter() - start) / len(probe) * 1e9
    at_50m = MessageIdDedup.set_bytes(50_000_000) / 1e6
    return DedupFigures(ids, at_50m, build, check, hits / len(probe))


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_dedup(d: DedupFigures) -> None:
    print(
        f"messageId fingerprints at {d.ids:,} ids: load {d.build_ids_per_s:,.0f} ids/s, check "
        f"{d.check_ns_per_id:.0f} ns/id (vectorised), false positives {d.false_positive_rate:.5%}"
        f" (each one costs a scan of message_ids.h); set size at 50M stored ids: "
        f"{d.megabytes_at_50m:,.0f} MB"
    )


def server_cpu_us(runs: list[Run], events_per_request: int) -> float:
    """The server's CPU per acknowledged event (µs, median over runs): the figure that
    survives a loaded machine, where events/s only measures the CPU the server was given."""
    return med([r.server_cpu / max(r.per_second(events_per_request), 1e-9) * 1e6 for r in runs])


def little_floor_ms(conns: int, events_per_request: int, events_per_s: float) -> float:
    """Mean latency a closed loop of ``conns`` connections must see at this rate (Little's
    law, L = N / X): the p99 bound needs the throughput first.

    >>> little_floor_ms(64, 100, 50_000)
    128.0
    """
    return conns * events_per_request / max(events_per_s, 1e-9) * 1000


def cpu_note(runs: list[Run]) -> str:
    client = med([r.client_cpu for r in runs])
    server = med([r.server_cpu for r in runs])
    return f"server {server:.2f} cores, wrk {client:.2f} cores"


def server_rows(fig: Figures) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, target, met?) for one server mode."""
    b_eps = med([r.per_second(100) for r in fig.batch])
    b_p99 = med([r.p99_ms for r in fig.batch])
    t_rps = med([r.per_second(1) for r in fig.track])
    n_eps = med([r.per_second(100) for r in fig.batch_no_store])
    return [
        ("/v1/batch, 100 events/request, identity on, durable ack", f"{b_eps:,.0f} events/s",
         f">= {BATCH_TARGET_EPS:,} events/s", b_eps >= BATCH_TARGET_EPS),
        ("  p99 request latency", f"{b_p99:.1f} ms", f"<= {BATCH_TARGET_P99_MS:.0f} ms",
         b_p99 <= BATCH_TARGET_P99_MS),
        *low_rows(fig),
        ("/v1/track etc., 1 event/request", f"{t_rps:,.0f} req/s",
         f">= {TRACK_TARGET_RPS:,} req/s", t_rps >= TRACK_TARGET_RPS),
        ("  p99 request latency", f"{med([r.p99_ms for r in fig.track]):.1f} ms", "-", None),
        ("  server CPU per event (batch; load-independent)",
         f"{server_cpu_us(fig.batch, 100):.1f} µs", "50,000/s on 2 cores: <= 40 µs", None),
        ("    of which the writer process",
         f"{writer_cpu_us(fig.batch, 100):.1f} µs", "-", None),
        ("  cores used: server / writer process (batch)",
         f"{med([r.server_cpu for r in fig.batch]):.2f} / "
         f"{med([r.writer_cpu for r in fig.batch]):.2f}", "-", None),
        ("  events/s per server core (batch)",
         f"{b_eps / max(med([r.server_cpu for r in fig.batch]), 1e-9):,.0f}", "-", None),
        ("  server CPU per request (single)", f"{server_cpu_us(fig.track, 1):.1f} µs",
         "3,000/s on 2 cores: <= 667 µs", None),
        ("    of which the writer process", f"{writer_cpu_us(fig.track, 1):.1f} µs", "-", None),
        ("    of which its event loop thread (HTTP, prepare)",
         f"{loop_cpu_us(fig.track, 1):.1f} µs", "-", None),
        ("  cores used: server / writer process (single)",
         f"{med([r.server_cpu for r in fig.track]):.2f} / "
         f"{med([r.writer_cpu for r in fig.track]):.2f}", "-", None),
        ("bound: same server, storage off", f"{n_eps:,.0f} events/s",
         "issue: FastAPI+pydantic ~155,000", None),
        ("  server CPU per event, storage off (HTTP + validation)",
         f"{server_cpu_us(fig.batch_no_store, 100):.1f} µs", "-", None),
        ("  single events, storage off",
         f"{med([r.per_second(1) for r in fig.track_no_store]):,.0f} req/s", "-", None),
        ("    server CPU per request / of which the writer process",
         f"{server_cpu_us(fig.track_no_store, 1):.0f} / "
         f"{writer_cpu_us(fig.track_no_store, 1):.0f} µs", "-", None),
        ("server RSS after the runs (with its workers)", f"{fig.rss:,.0f} MB", "<= 1,500 MB",
         fig.rss <= 1500),
    ]  # fmt: skip


def low_rows(fig: Figures) -> list[tuple[str, str, str, bool | None]]:
    """``/v1/batch`` at each lower concurrency: events/s, and p99 beside its bound."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for conns, runs in sorted(fig.low.items()):
        eps, p99 = med([r.per_second(100) for r in runs]), med([r.p99_ms for r in runs])
        rows += [
            (f"/v1/batch at -c{conns} ({conns * 100:,} events in flight)", f"{eps:,.0f} events/s",
             f"Little: mean {little_floor_ms(conns, 100, eps):,.0f} ms", None),
            ("  p99 request latency", f"{p99:.1f} ms", f"<= {BATCH_TARGET_P99_MS:.0f} ms",
             p99 <= BATCH_TARGET_P99_MS),
            ("  server CPU per event", f"{server_cpu_us(runs, 100):.1f} µs", "-", None),
        ]  # fmt: skip
    return rows


def loop_cpu_us(runs: list[Run], events_per_request: int) -> float:
    return med([r.loop_cpu / max(r.per_second(events_per_request), 1e-9) * 1e6 for r in runs])


def writer_cpu_us(runs: list[Run], events_per_request: int) -> float:
    return med([r.writer_cpu / max(r.per_second(events_per_request), 1e-9) * 1e6 for r in runs])


def report(
    figs: dict[str, Figures], bounds: dict[str, float], empty: list[Run], args: argparse.Namespace
) -> None:
    modes = list(figs)
    first = figs[modes[0]]
    per_mode = {mode: server_rows(fig) for mode, fig in figs.items()}
    shared = [
        *empty_endpoint_rows(empty, figs),
        ("bound: plain orjson parsing", f"{bounds['parse']:,.0f} events/s", "issue: ~550,000",
         None),
        ("bound: pipeline in-process, no identity/commerce",
         f"{bounds['pipeline']:,.0f} events/s", f">= {PIPELINE_TARGET_EPS:,} events/s",
         None),
        ("  its CPU an event: process / writer (no COMMIT) / prepare",
         f"{bounds['pipeline_cpu']:.1f} / {bounds['pipeline_writer_cpu']:.1f} / "
         f"{bounds['pipeline_prepare_cpu']:.1f} µs", "writer <= 4 µs", None),
        (f"bound: raw Arrow append ({args.group_rows:,}-row groups)",
         f"{bounds['arrow']:,.0f} rows/s", "-", None),
        (f"seeding {args.contacts:,} contacts (identify, in process)",
         f"{first.seed_eps:,.0f} events/s", "-", None),
    ]  # fmt: skip
    pin = "server on CPU 0, wrk on CPU 1 (taskset)" if args.pin else "not pinned"
    print(f"\nbench_ingest — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {args.load_before} before / {load_average()} after, median of "
          f"{args.runs} x {args.seconds}s runs (modes alternated), wrk -c{args.conns} (batch) / "
          f"-c{args.track_conns} (single), {pin}\n")  # fmt: skip
    head = "".join(f" {m:>18} |" for m in modes)
    print(f"| {'figure':<56} |{head} {'target / bound':<34} | ok |")
    print("|" + "-" * 58 + "|" + ("-" * 20 + "|") * len(modes) + "-" * 36 + "|----|")
    for i, (name, _, target, _) in enumerate(per_mode[modes[0]]):
        if all(per_mode[m][i][1].startswith("nan") for m in modes):
            continue  # not measured (--single-only)
        values = "".join(f" {per_mode[m][i][1]:>18} |" for m in modes)
        oks = [per_mode[m][i][3] for m in modes]
        mark = "/".join("" if ok is None else ("yes" if ok else "NO") for ok in oks)
        print(f"| {name:<56} |{values} {target:<34} | {mark} |")
    for name, value, target, _ in shared:
        if value.startswith("nan"):
            continue
        print(f"| {name:<56} | {value:>18} |" + " " * 21 * (len(modes) - 1)
              + f" {target:<34} |    |")  # fmt: skip
    for mode, fig in figs.items():
        report_mode(mode, fig, args)


def report_mode(mode: str, fig: Figures, args: argparse.Namespace) -> None:
    errors = sum(r.errors for r in fig.batch + fig.track + fig.batch_no_store + fig.track_no_store)
    b_eps = med([r.per_second(100) for r in fig.batch])
    print(f"\n[{mode}] non-2xx or socket errors: {errors}; acknowledged events all stored: "
          f"{fig.stored_ok}")  # fmt: skip
    if fig.failures:
        print("server errors (first lines of its log):\n" + "\n".join(fig.failures))
    print(
        f"CPU used (median): batch {cpu_note(fig.batch)}; single {cpu_note(fig.track)}; "
        f"storage off {cpu_note(fig.batch_no_store)}"
    )
    batch_runs = ", ".join(f"{r.per_second(100):,.0f}" for r in fig.batch)
    track_runs = ", ".join(f"{r.per_second(1):,.0f}" for r in fig.track)
    low_runs = "".join(
        f" | batch -c{conns} events/s (p99 ms) "
        + ", ".join(f"{r.per_second(100):,.0f} ({r.p99_ms:.1f})" for r in runs)
        for conns, runs in sorted(fig.low.items())
    )
    print(f"runs: batch events/s {batch_runs}{low_runs} | single req/s {track_runs}")
    floor = little_floor_ms(args.conns, 100, b_eps)
    if fig.batch:  # not with --single-only
        print(
            f"closed loop: {args.conns} connections x 100 events at {b_eps:,.0f} events/s put"
            f" the mean latency at {floor:,.0f} ms (Little's law); p99 <= 100 ms at"
            f" -c{args.conns} needs >= {little_floor_ms(args.conns, 100, 1) / 100:,.0f}"
            " events/s first"
        )
    phases = ", ".join(f"{k} {v:.1f}" for k, v in fig.phases.items())
    print(
        f"time per event (µs; prepare in the event loop or the workers, the rest in the writer;"
        f" batch and single runs together, {fig.events_per_unit:,.0f} events per unit of work"
        f" on average): {phases}"
    )
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in fig.cpu_phases.items())
    print(f"CPU time per event (µs; the thread's own CPU, less sensitive to load): {cpu}")


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 run of 3 s, 20k contacts")
    ap.add_argument(
        "--single-only",
        action="store_true",
        help="only the single-event runs (issue #2's /v1/track bound): no /v1/batch runs, no"
        " in-process bounds, no filter test",
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--contacts", type=int, default=100_000, help="known contacts seeded first")
    ap.add_argument("--conns", type=int, default=64, help="wrk connections for /v1/batch")
    ap.add_argument("--track-conns", type=int, default=256, help="wrk connections, single")
    ap.add_argument(
        "--p99-conns",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[8, 16],
        help="also run /v1/batch at these lower concurrencies (comma-separated; '' for none)"
        " and report their events/s and p99",
    )
    ap.add_argument("--pin", action="store_true", help="server on CPU 0, wrk on CPU 1")
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also measure a server with this many ingest workers (0: only one process)",
    )
    ap.add_argument("--group-rows", type=int, default=5_000)
    ap.add_argument(
        "--sustained",
        type=float,
        default=0.0,
        help="also run /v1/batch without a pause for this many seconds on a fresh copy of the"
        " store, reported window by window (e.g. 300)",
    )
    ap.add_argument("--window", type=float, default=30.0, help="seconds a --sustained window")
    ap.add_argument("--dedup-ids", type=int, default=50_000_000, help="ids in the set test")
    args = ap.parse_args()
    args.load_before = load_average()
    if args.quick:
        args.runs, args.seconds, args.contacts = 1, 3.0, min(args.contacts, 20_000)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        figures = measure_servers(work, LUA_SCRIPT, args)
        empty = empty_endpoint_runs(work, LUA_SCRIPT, args)
        sustained = sustained_runs(work, LUA_SCRIPT, args) if args.sustained > 0 else []
        bounds = dict.fromkeys(BOUNDS, float("nan"))
        if not args.single_only:
            bodies = sample_bodies(50 if args.quick else 200, args.contacts)
            bounds = {
                "parse": parse_rate(bodies, 1.0 if args.quick else 3.0),
                "arrow": arrow_append_rate(work, bodies, args.group_rows),
                **pipeline_only_rate(work, bodies, 2_000),
            }
    report(figures, bounds, empty, args)
    report_sustained(sustained, args)
    if not args.single_only:
        report_dedup(dedup_figures(1_000_000 if args.quick else args.dedup_ids))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
