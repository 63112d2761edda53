"""Point lookups at scale: contact by identifier and the first timeline page.

Bound (issue #2): p99 ≤ 10 ms with 1M contacts and 50M events; server ≤ 1.5 GB RSS.

Builds the data set with DuckDB SQL (``range()``; events written in contact order into
``events`` like the demo generator, plus a steady-state L1 of sorted runs and a full L0),
then measures, over random contacts:

- the service functions in-process (``contacts.find`` → id, ``contacts.lookup`` → profile,
  ``contacts.timeline`` first page of 100 — twice: the first touch of those contacts' event
  blocks, read from disk, and warm, as a server with its data in memory answers);
- the same over HTTP against a real server process (``retenta serve``, as users run it),
  through one keep-alive ``http.client`` connection (``LeanClient``; one lookup row also
  through httpx, for comparison), the server's CPU a request (its mean, background loops
  included: an idle server uses ~25 ms of CPU a second) beside ``/healthz`` as the floor,
  and that process's RSS;
- baselines: the same timeline query on an unsorted copy of the events, and the same
  identifier lookup on a copy of ``identities`` without its primary-key index;
- with ``--ingest-rate N``: ``contacts.find`` and the timeline again while a writer thread
  appends N events/s to L0 and runs compaction steps (WAL growth, automatic checkpoints),
  as live ingestion does;
- with ``--ab-against REV``: the profile by email and the first timeline page as the read
  code of git revision REV did them (``contacts/queries.py`` and ``profile_sql.py`` loaded
  from ``git show``) and as it does now, alternating rounds in one process over the same
  contacts, after checking that both give the same answers — the like-for-like figure on
  a shared machine (e.g. ``--ab-against 5dc5163``, before session 6's point-read changes).

- with ``--cold``: the database file evicted from the page cache once the process (and,
  for the HTTP rows, the server and its prewarm) has started, so every block a read needs
  beyond DuckDB's buffer pool comes from the disk; the ``disk KB/call`` column says how
  much each kind of read fetched (``/proc/self/io``). The in-process rows prewarm the point
  reads' tables as a server does at start, unless ``--no-prewarm``.

The first identifier type measured (email) pays the first touch of the identity index's
nodes and of the contacts' blocks for all three types (the same contacts are looked up by
each type): its tail is that first touch, not the type.

    uv run python -m bench.bench_lookup            # 1M contacts / 50M events
    uv run python -m bench.bench_lookup --quick    # 100k / 5M
    uv run python -m bench.bench_lookup --data DIR --ingest-rate 5000 --no-http
    uv run python -m bench.bench_lookup --data DIR --no-http --ab-against 5dc5163
    uv run python -m bench.bench_lookup --data DIR --cold [--no-prewarm]
    uv run python -m bench.bench_lookup --data DIR --http-only   # the HTTP rows alone
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import importlib.util
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from retenta.app import Container, build_container
from retenta.contacts import profile_sql, queries
from retenta.contacts.traits import computed_traits, consent_state, order_summary
from retenta.ingest.dedup import HASH_SQL
from retenta.settings import Settings
from retenta.storage.duckdb import event_summary
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor
from retenta.storage.duckdb.events import EVENT_SCHEMA
from retenta.storage.duckdb.tier_members import L0_TIER

COLUMNS = ", ".join(EVENT_SCHEMA.names)
CHUNK = 5_000_000
BOUND_MS = 10.0
BOUND_RSS_MB = 1536
EVENT_NAMES = (
    "['Product Viewed', 'Product Added', 'Order Completed', 'Products Searched', 'Email Opened']"
)


# --- data set ------------------------------------------------------------------------------


def event_select(ws: str, contact_expr: str, prefix: str, lo: int, hi: int) -> str:
    """SQL producing events ``lo..hi`` with the contact id given by ``contact_expr`` of ``i``."""
    return f"""
        SELECT '{ws}', '{prefix}' || i, {contact_expr} AS contact_id,
            CASE WHEN i % 10 = 0 THEN 'page' ELSE 'track' END,
            {EVENT_NAMES}[1 + (i % 5)::INT], NULL, 'a' || ({contact_expr}),
            TIMESTAMPTZ '2025-01-01' + to_seconds((i * 7919) % 31536000) AS ts,
            NULL, NULL, TIMESTAMPTZ '2025-01-01' + to_seconds((i * 7919) % 31536000),
            '{{"sku": "sku-' || (i % 5000) || '", "category": "cat-' || (i % 40) || '"}}',
            NULL, '{{"ip": "10.0.0.1"}}', 'demo'
        FROM range({lo}, {hi}) t(i)"""


def load_events(c: Container, ws: str, n: int, m: int, log: Callable[[str], None]) -> None:
    """L2 in contact order (as the demo writes it), 2% in four L1 runs (``events_l1_runs``),
    a nearly full L0."""
    l1_rows, l0_rows = m // 50, min(90_000, m // 50)
    l2_rows = m - l1_rows - l0_rows
    for lo in range(0, l2_rows, CHUNK):
        hi = min(lo + CHUNK, l2_rows)
        sql = event_select(ws, f"1 + (i * {n}) // {l2_rows}", "e", lo, hi)
        c.db.write(lambda cur, s=sql: cur.execute(f"INSERT INTO events ({COLUMNS}) {s}"))
        log(f"events {hi:,}/{l2_rows:,}")
    for run in range(4):
        sql = event_select(ws, f"1 + hash(i + {run}) % {n}", f"r{run}-", 0, l1_rows // 4)
        c.db.write(
            lambda cur, s=sql: cur.execute(
                f"INSERT INTO events_l1_runs ({COLUMNS}) SELECT * FROM ({s})"
                " ORDER BY contact_id, ts"
            )
        )
    c.db.write(lambda cur: cur.execute("UPDATE event_tier_state SET runs = 4"))
    c.db.write(c.db.tier_members.note_all)  # tiers written by hand (tier_members)
    sql = event_select(ws, f"1 + hash(i * 31) % {n}", "n", 0, l0_rows)
    c.db.write(lambda cur: cur.execute(f"INSERT INTO events_recent ({COLUMNS}) {sql}"))
    c.db.write(event_summary.rebuild)  # the rows above went around the writer's tier moves
    log(f"tiers: L2 {l2_rows:,}, L1 {l1_rows:,} in 4 runs, L0 {l0_rows:,}; summary rebuilt")


def load_message_ids(c: Container, log: Callable[[str], None]) -> None:
    """Every event's id in ``message_ids``, as ingestion would have left them: a server on
    this store holds the dedup's fingerprints of all of them (~4 bytes an id), so its RSS
    is the figure the issue's memory bound asks about."""
    for tier in ("events", "events_l1", "events_l1_runs", "events_recent"):
        c.db.write(
            lambda cur, t=tier: cur.execute(
                "INSERT INTO message_ids (workspace_id, message_id, h)"
                f" SELECT workspace_id, message_id, {HASH_SQL} FROM {t}"
            )
        )
    with c.db.read() as cur:
        ((ids,),) = cur.execute("SELECT count(*) FROM message_ids").fetchall()
    log(f"message ids {ids:,}")


def load_baseline_events(c: Container, ws: str, n: int, m: int, log: Callable[[str], None]) -> None:
    """The same number of events, in arrival order (contacts interleaved): the baseline."""
    c.db.write(lambda cur: cur.execute("CREATE TABLE bench_events_unsorted AS FROM events LIMIT 0"))
    for lo in range(0, m, CHUNK):
        sql = event_select(ws, f"1 + hash(i) % {n}", "u", lo, min(lo + CHUNK, m))
        c.db.write(
            lambda cur, s=sql: cur.execute(f"INSERT INTO bench_events_unsorted ({COLUMNS}) {s}")
        )
    log(f"baseline unsorted events {m:,}")


def load_contacts(c: Container, ws: str, n: int) -> None:
    def work(cur: Any) -> None:
        cur.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, last_seen_at,"
            " attributes, language, timezone)"
            " SELECT ?, i, TIMESTAMPTZ '2024-01-01', TIMESTAMPTZ '2025-01-01',"
            " TIMESTAMPTZ '2025-06-01', json_object('first_name', 'Name' || i, 'plan', 'basic'),"
            " 'uk', 'Europe/Kyiv' FROM range(1, ? + 1) t(i)",
            [ws, n],
        )
        cur.execute("SELECT max(nextval('contact_id_seq')) FROM range(?)", [n])
        cur.execute(
            "INSERT INTO identities SELECT ?, t, v, i, TIMESTAMPTZ '2024-01-01',"
            " TIMESTAMPTZ '2025-06-01' FROM ("
            " SELECT i, unnest(['email', 'phone', 'external_id', 'anonymous_id']) AS t,"
            " unnest(['user' || i || '@example.com', '+38067' || lpad(i::VARCHAR, 7, '0'),"
            " 'u' || i, 'a' || i]) AS v FROM range(1, ? + 1) r(i))",
            [ws, n],
        )
        cur.execute("CREATE TABLE bench_identities_unindexed AS FROM identities")

    c.db.write(work)


def load_orders(c: Container, ws: str, n: int) -> None:
    """One order with two lines for every fifth contact (the traits read them)."""

    def work(cur: Any) -> None:
        cur.execute(
            "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, currency,"
            " placed_at, updated_at) SELECT ?, 'o' || i, i, 'paid', 60, 'UAH',"
            " TIMESTAMPTZ '2025-03-01', TIMESTAMPTZ '2025-03-01'"
            " FROM range(1, ? + 1, 5) t(i)",
            [ws, n],
        )
        cur.execute(
            "INSERT INTO order_items (workspace_id, order_id, line_no, sku, category, quantity,"
            " price) SELECT ?, 'o' || i, l, 'sku-' || (i % 5000), 'cat-' || (i % 40), 1, 30"
            " FROM range(1, ? + 1, 5) t(i), range(1, 3) s(l)",
            [ws, n],
        )

    c.db.write(work)


def build(data: Path, n: int, m: int) -> dict[str, str]:
    """Create the data set; returns the workspace id and an API key."""
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"  [{time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    c = build_container(Settings(data_dir=data, background_workers=False))
    try:
        ws = c.tenancy.create_workspace(name="Bench")
        key = c.tenancy.issue_key(workspace_id=ws, kind="api").secret
        load_contacts(c, ws, n)
        log(f"contacts {n:,} and identities {4 * n:,}")
        load_orders(c, ws, n)
        load_events(c, ws, n, m, log)
        load_message_ids(c, log)
        load_baseline_events(c, ws, n, m, log)
    finally:
        c.close()  # checkpoints
    log("checkpoint")
    return {"workspace_id": ws, "api_key": key}


# --- measuring -----------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds.

    >>> percentiles([0.001] * 99 + [0.5])
    (1.0, 500.0)
    """
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


Row = tuple[str, float, float, float | None, float | None, float | None]


def disk_read_bytes() -> int:
    """Bytes this process has had read from the disk (not from the page cache) so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return 0


def drop_page_cache(data: Path) -> None:
    """Evict the database file from the OS page cache: the next reads of its blocks come
    from the disk (what a server meets after other work has churned the cache)."""
    fd = os.open(data / "retenta.duckdb", os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(
    fn: Callable[[int], Any], keys: list[int], warmup: int = 20
) -> tuple[float, float, float, float, float]:
    """Wall-clock and this process's CPU time per call: p50 and p99 of each, in ms; and the
    mean KB a call read from the disk.

    On a shared, oversubscribed machine the wall clock mostly measures waiting for a
    core; the CPU time (all threads of the process, DuckDB's included) is the work.
    """
    for k in keys[:warmup]:
        fn(k)
    wall, cpu = [], []
    disk = disk_read_bytes()
    for k in keys[warmup:]:
        t, c = time.perf_counter(), time.process_time()
        fn(k)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    disk_kb = (disk_read_bytes() - disk) / 1024 / max(1, len(wall))
    return (*percentiles(wall), *percentiles(cpu), disk_kb)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_remote(
    fn: Callable[[int], Any], keys: list[int], pid: int
) -> tuple[float, float, float, None, None]:
    """Wall-clock p50/p99 per request and the server's mean CPU ms per request."""
    for k in keys[:20]:
        fn(k)
    before = process_cpu_s(pid)
    wall = []
    for k in keys[20:]:
        t = time.perf_counter()
        fn(k)
        wall.append(time.perf_counter() - t)
    mean_cpu = (process_cpu_s(pid) - before) / len(wall) * 1000
    p50, p99 = percentiles(wall)
    return p50, p99, mean_cpu, None, None


IDENTIFIERS: dict[str, Callable[[int], str]] = {
    "email": lambda i: f"user{i}@example.com",
    "phone": lambda i: f"+38067{i:07d}",
    "external_id": lambda i: f"u{i}",
}


def service_rows(data: Path, ws: str, keys: list[int], *, cold: bool, warm: bool) -> list[Any]:
    """The in-process rows; ``warm``: the point reads' tables prewarmed as a server does at
    start (``storage/duckdb/prewarm``); ``cold``: then the file evicted from the page cache,
    so each block the reads touch beyond DuckDB's pool comes from the disk."""
    c = build_container(Settings(data_dir=data, background_workers=False))
    rows: list[Any] = []
    try:
        if warm:
            t, p, d = time.perf_counter(), time.process_time(), disk_read_bytes()
            c.contacts.prewarm()
            loaded = sum(size for _, size in c.contacts.prewarmed)
            print(
                f"prewarm: {loaded / 2**20:.0f} MB of {len(c.contacts.prewarmed)} tables in"
                f" {time.perf_counter() - t:.2f} s ({time.process_time() - p:.2f} s CPU,"
                f" {(disk_read_bytes() - d) / 2**20:.0f} MB from the disk)",
                flush=True,
            )
        if cold:  # a started server whose page cache other work has churned since
            drop_page_cache(data)
        for id_type, value in IDENTIFIERS.items():
            rows.append(
                (
                    f"service: contacts.find by {id_type} → id",
                    *timed(
                        lambda i, t=id_type, v=value: c.contacts.find(
                            workspace_id=ws, id_type=t, value=v(i)
                        ),
                        keys,
                    ),
                )
            )
        for id_type, value in IDENTIFIERS.items():
            rows.append(
                (
                    f"service: contacts.lookup by {id_type} → profile",
                    *timed(
                        lambda i, t=id_type, v=value: c.contacts.lookup(
                            workspace_id=ws, id_type=t, value=v(i)
                        ),
                        keys,
                    ),
                )
            )
        # The first pass over these contacts' events reads their blocks from disk (the
        # profiles above read the per-contact summary, not the events); the second pass
        # is the steady state of a server whose data is in memory — as in the HTTP rows,
        # which run over the same contacts afterwards.
        for label in ("first touch of their events", "warm: same contacts again"):
            rows.append(
                (
                    f"service: timeline, first page of 100 ({label})",
                    *timed(
                        lambda i: c.contacts.timeline(
                            workspace_id=ws, contact_id=i, limit=100, cursor=None
                        ),
                        keys,
                        warmup=0,
                    ),
                )
            )
        rows += baseline_rows(c, ws, keys)
    finally:
        c.close()
    return rows


def module_at(rev: str, path: str, name: str) -> Any:
    """The module ``path`` as it was at git revision ``rev`` (imported as ``name``)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def read_paths(q: Any, ps: Any, c: Container, ws: str) -> tuple[Callable[[int], Any], ...]:
    """(profile by email, first timeline page) through the modules ``q`` and ``ps``, as
    ``ContactService.lookup`` and ``.timeline`` use them (merges followed the same way)."""
    merged = c.identity.timeline_contact_ids

    def profile(i: int) -> Any:
        with c.db.read() as cur:
            found = ps.read_profile(
                cur, ws, q.holder_of(cur, ws, "email", IDENTIFIERS["email"](i)), merged
            )
        figures, bought = order_summary(found.orders, found.lines)
        traits = computed_traits(figures, bought, found.viewed, found.last_activity)
        return dataclasses.asdict(found), consent_state(found.consents), traits

    def page(i: int) -> Any:
        with c.db.read() as cur:
            live = q.live_contact_id(cur, ws, i)
            ids = [live]
            if q.has_merged_in(cur, ws, live):
                ids += sorted(set(merged(cur, ws, live)) - {live})
            return q.timeline(cur, ws, ids, limit=101)

    return profile, page


def ab_rows(data: Path, ws: str, keys: list[int], rev: str) -> list[Any]:
    """Alternating A/B of the read paths at ``rev`` and now (see the module docstring)."""
    old_q = module_at(rev, "src/retenta/contacts/queries.py", "bench_old_queries")
    old_ps = module_at(rev, "src/retenta/contacts/profile_sql.py", "bench_old_profile_sql")
    old_ps.lines_of, old_ps.live_contact_id = old_q.lines_of, old_q.live_contact_id
    c = build_container(Settings(data_dir=data, background_workers=False))
    try:
        before, now = read_paths(old_q, old_ps, c, ws), read_paths(queries, profile_sql, c, ws)
        for i in keys[:40]:
            for old_fn, new_fn in zip(before, now, strict=True):
                if old_fn(i) != new_fn(i):
                    raise RuntimeError(f"contact {i}: {rev} and now answer differently")
        samples: dict[str, tuple[list[float], list[float]]] = {}
        for _ in range(4):
            for label, (profile, page) in ((rev, before), ("now", now)):
                for what, fn in (("profile by email", profile), ("timeline page", page)):
                    wall, cpu = samples.setdefault(f"a/b: {what}, {label}", ([], []))
                    for i in keys:
                        t, p = time.perf_counter(), time.process_time()
                        fn(i)
                        wall.append(time.perf_counter() - t)
                        cpu.append(time.process_time() - p)
    finally:
        c.close()
    order = sorted(samples, key=lambda k: (k.split(",")[0], not k.endswith(rev)))
    return [(k, *percentiles(samples[k][0]), *percentiles(samples[k][1]), None) for k in order]


def asgi_get(app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """One GET through the ASGI app in this process (no socket, no client library)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 9),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"{path}?{query}: {sent[0]['status']} {sent[1]['body'][:200]!r}")

    return call()


def asgi_ab_rows(data: Path, ids: dict[str, str], keys: list[int]) -> list[Any]:
    """The HTTP layer alone, like for like: each read through the app in this process, by
    FastAPI's routes and by the point-read fast path (``web/point_reads.py``), alternating
    rounds over the same contacts; process CPU per request (DuckDB's threads included)."""
    import asyncio

    from retenta.app import create_app
    from retenta.web import point_reads

    c = build_container(Settings(data_dir=data, background_workers=False))
    app = create_app(c)
    headers = [(b"authorization", f"Bearer {ids['api_key']}".encode())]
    reads = {
        f"lookup?{t}=": (lambda i, t=t, v=v: ("/api/v1/contacts/lookup", f"{t}={v(i)}"))
        for t, v in IDENTIFIERS.items()
    }
    reads["{id}/events?limit=100"] = lambda i: (f"/api/v1/contacts/{i}/events", "limit=100")
    fast_read = point_reads.point_read
    samples: dict[str, tuple[list[float], list[float]]] = {}

    async def rounds() -> None:
        for _ in range(3):
            for side, chooser in (("routes", lambda scope: None), ("fast path", fast_read)):
                point_reads.point_read = chooser  # type: ignore[assignment]
                for what, target in reads.items():
                    wall, cpu = samples.setdefault(f"asgi a/b: {what}, {side}", ([], []))
                    for i in keys:
                        t, p = time.perf_counter(), time.process_time()
                        await asgi_get(app, *target(i), headers)
                        wall.append(time.perf_counter() - t)
                        cpu.append(time.process_time() - p)

    try:
        for target in reads.values():  # warm both paths and the contacts' blocks
            for i in keys[:20]:
                asyncio.run(asgi_get(app, *target(i), headers))
        asyncio.run(rounds())
    finally:
        point_reads.point_read = fast_read
        c.close()
    return [(k, *percentiles(v[0]), *percentiles(v[1]), None) for k, v in sorted(samples.items())]


class IngestLoad:
    """Writer load like live ingestion, in the same process as the reads: every 20 ms one
    unit of work appends ``rate / 50`` events to L0 (``events_recent``) — so WAL growth,
    automatic checkpoints and L0 → L1 compaction steps happen as under traffic — and a
    compaction step runs whenever one is due. Its events are deleted again by ``stop``."""

    def __init__(self, c: Container, ws: str, n: int, rate: int) -> None:
        self.c, self.ws, self.n, self.rate = c, ws, n, rate
        self.stopping = threading.Event()
        self.units: list[float] = []
        self.started = self.elapsed = 0.0
        self.thread = threading.Thread(target=self._run, name="bench-ingest", daemon=True)

    def __enter__(self) -> IngestLoad:
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.elapsed = time.perf_counter() - self.started
        self.c.db.write(remove_load_events)

    def _run(self) -> None:
        per_unit, seq = max(1, self.rate // 50), 0
        compactor = Compactor(CompactionPolicy(l1_merge_min_rows=10**12))
        while not self.stopping.is_set():
            started = time.perf_counter()
            sql = event_select(
                self.ws, f"1 + hash(i * 13 + {seq}) % {self.n}", f"load-{seq}-", 0, per_unit
            )
            self.c.db.write(lambda cur, s=sql: self._append(cur, s))
            self.c.db.write(compactor.step)
            self.units.append(time.perf_counter() - started)
            seq += 1
            self.stopping.wait(max(0.0, 0.02 - (time.perf_counter() - started)))

    def _append(self, cur: Any, sql: str) -> None:
        """The unit's events into L0, marked there as ``append_events`` would (``tier_members``)."""
        found = cur.execute(f"INSERT INTO events_recent ({COLUMNS}) {sql} RETURNING contact_id")
        self.c.db.tier_members.added(L0_TIER, found.fetchnumpy()["contact_id"])

    def summary(self) -> str:
        p50, p99 = percentiles(self.units)
        events = len(self.units) * max(1, self.rate // 50)
        return (
            f"ingest load: {len(self.units)} units of {max(1, self.rate // 50)} events,"
            f" {events / self.elapsed:,.0f} events/s reached (target {self.rate:,});"
            f" the process CPU of the rows under load includes this writer work;"
            f" writer unit + compaction step p50 {p50:.1f} ms,"
            f" p99 {p99:.1f} ms, max {max(self.units) * 1000:.0f} ms"
        )


def remove_load_events(cur: Any) -> None:
    """Delete ``IngestLoad``'s events from every tier and re-summarize their contacts."""
    tiers = ("events_recent", "events_l1_runs", "events_l1", "events")
    cur.execute(
        "CREATE OR REPLACE TEMP TABLE _load_contacts AS SELECT DISTINCT contact_id"
        " FROM all_events WHERE message_id LIKE 'load-%'"
    )
    for tier in tiers:
        cur.execute(f"DELETE FROM {tier} WHERE message_id LIKE 'load-%'")
    touched = "contact_id IN (SELECT contact_id FROM _load_contacts)"
    cur.execute(f"DELETE FROM event_summary WHERE {touched}")
    event_summary.add_events(
        cur,
        f"(SELECT * FROM events WHERE {touched} UNION ALL SELECT * FROM events_l1 WHERE {touched}"
        f" UNION ALL SELECT * FROM events_l1_runs WHERE {touched})",
    )
    cur.execute("DROP TABLE _load_contacts")


def loaded_rows(data: Path, ws: str, keys: list[int], n: int, rate: int) -> list[Any]:
    """``contacts.find`` and the first timeline page again, while ``IngestLoad`` writes."""
    c = build_container(Settings(data_dir=data, background_workers=False))
    rows = []
    try:
        with IngestLoad(c, ws, n, rate) as load:
            time.sleep(2)
            rows.append(
                (
                    f"under ingest {rate:,}/s: contacts.find by email",
                    *timed(
                        lambda i: c.contacts.find(
                            workspace_id=ws, id_type="email", value=IDENTIFIERS["email"](i)
                        ),
                        keys,
                    ),
                )
            )
            rows.append(
                (
                    f"under ingest {rate:,}/s: timeline, first page",
                    *timed(
                        lambda i: c.contacts.timeline(
                            workspace_id=ws, contact_id=i, limit=100, cursor=None
                        ),
                        keys,
                    ),
                )
            )
        print(load.summary(), flush=True)
    finally:
        c.close()
    return rows


def baseline_rows(c: Container, ws: str, keys: list[int]) -> list[Any]:
    few = keys[:80]

    def unsorted_timeline(i: int) -> None:
        with c.db.read() as cur:
            cur.execute(
                "SELECT message_id, type, event, timestamp, properties FROM bench_events_unsorted"
                " WHERE workspace_id = ? AND contact_id = ?"
                " ORDER BY timestamp DESC, message_id DESC LIMIT 100",
                [ws, i],
            ).fetchall()

    def unindexed_lookup(i: int) -> None:
        with c.db.read() as cur:
            cur.execute(
                "SELECT contact_id FROM bench_identities_unindexed"
                " WHERE workspace_id = ? AND type = 'email' AND value = ?",
                [ws, f"user{i}@example.com"],
            ).fetchall()

    return [
        ("baseline: timeline on the unsorted table", *timed(unsorted_timeline, few, warmup=5)),
        ("baseline: email lookup without the PK index", *timed(unindexed_lookup, few, warmup=5)),
    ]


def compaction_rows(data: Path, ws: str, n: int) -> list[Row]:
    """Writer time per compaction step: 200k fresh events flushed, then L1 consolidated.

    Each step is one writer transaction, so its duration is the longest an ingestion
    batch can wait behind compaction.
    """
    c = build_container(Settings(data_dir=data, background_workers=False))
    durations: dict[str, list[float]] = {}
    try:
        sql = event_select(ws, f"1 + hash(i * 17) % {n}", "late", 0, 200_000)
        c.db.write(lambda cur: cur.execute(f"INSERT INTO events_recent ({COLUMNS}) {sql}"))
        c.db.write(lambda cur: cur.execute("UPDATE event_tier_state SET runs = 8"))
        compactor = Compactor(CompactionPolicy(l1_merge_min_rows=10**12))
        while True:
            t = time.perf_counter()
            action = c.db.write(compactor.step)
            if action is None:
                break
            kind = action.split(":")[0]
            durations.setdefault(kind, []).append(time.perf_counter() - t)
    finally:
        c.close()
    names = {"flush": "L0 → L1 flush", "start": "range pass: plan", "pass": "range pass: step"}
    return [
        (f"compaction: {names[k]} (×{len(v)})", *percentiles(v), None, None, None)
        for k, v in durations.items()
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LeanClient:
    """One keep-alive connection of the standard library's ``http.client``: on these 2 cores
    the client shares the CPU with the server, and httpx's own work a request (~1 ms at p50,
    ~3 at p99 here) would be counted as the server's latency. ``wrk`` plays this part for
    the ingestion benchmark; the httpx row stays beside it for comparison."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        parsed = urlsplit(base)
        self.conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
        self.headers = headers

    def get(self, path: str, params: dict[str, Any]) -> bytes:
        target = f"{path}?{urlencode(params)}" if params else path
        try:
            self.conn.request("GET", target, headers=self.headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # uvicorn closes a keep-alive connection idle for 5 s: the previous row (the
            # httpx one) can take that long on a slow spell. Once, in the next row's
            # warm-up: its timed requests do not pay it.
            self.conn.close()
            self.conn.request("GET", target, headers=self.headers)
            resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        return body


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``retenta serve`` on ``data``: the server users run (its HTTP protocol, no access log,
    the heap settled at start, the background loops), on a free port."""
    port = free_port()
    log = data / "bench_server.log"
    command = [sys.executable, "-m", "retenta.cli", "serve", "--data", str(data)]
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')[-4000:]}")


def wait_idle(pid: int, *, below: float = 0.15, limit_s: float = 30.0) -> float:
    """Wait until a started server's start-up work (prewarm, first ticks of its loops) is
    done: its CPU over half a second under ``below`` of a core, or ``limit_s`` passed, so
    the first row's CPU a request is not the start-up's. Returns that last share."""
    deadline = time.monotonic() + limit_s
    while True:
        before = process_cpu_s(pid)
        time.sleep(0.5)
        share = (process_cpu_s(pid) - before) / 0.5
        if share < below or time.monotonic() > deadline:
            return share


def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident set size of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def http_rows(
    data: Path, ids: dict[str, str], fresh: Callable[[], list[int]], *, cold: bool = False
) -> tuple[list[Any], tuple[float, float]]:
    """Each row reads contacts of its own (``fresh``), so each pays the first touch of its
    contacts' blocks as the first row would alone (the httpx row re-reads the email row's
    contacts, to compare clients on the same reads)."""
    proc, base = start_server(data)
    rows = []
    try:
        if cold:  # after the server's start-up reads and its prewarm (~1.3 s at 1M / 50M)
            time.sleep(5)
        idle = wait_idle(proc.pid)
        print(f"server settled: {idle * 1000:.0f} ms of CPU a second idle", flush=True)
        if cold:
            drop_page_cache(data)
        headers = {"Authorization": f"Bearer {ids['api_key']}"}
        lean = LeanClient(base, headers)
        with httpx.Client(base_url=base, headers=headers) as h:

            def get(path: str, **params: Any) -> None:
                lean.get(path, params)

            def get_httpx(path: str, **params: Any) -> None:
                resp = h.get(path, params=params)
                if resp.status_code != 200:
                    raise RuntimeError(f"{path}: {resp.status_code} {resp.text[:200]}")

            email_keys = keys = fresh()
            for id_type, value in IDENTIFIERS.items():
                rows.append(
                    (
                        f"http: GET /contacts/lookup?{id_type}=",
                        *timed_remote(
                            lambda i, t=id_type, v=value: get(
                                "/api/v1/contacts/lookup", **{t: v(i)}
                            ),
                            keys,
                            proc.pid,
                        ),
                    )
                )
                keys = fresh()
            rows.append(
                (
                    "http via httpx (the email row's contacts again): GET /contacts/lookup?email=",
                    *timed_remote(
                        lambda i: get_httpx(
                            "/api/v1/contacts/lookup", email=f"user{i}@example.com"
                        ),
                        email_keys,
                        proc.pid,
                    ),
                )
            )
            rows.append(
                (
                    "http: GET /contacts/{id}/events?limit=100",
                    *timed_remote(
                        lambda i: get(f"/api/v1/contacts/{i}/events", limit=100),
                        keys,
                        proc.pid,
                    ),
                )
            )
            rows.append(
                (
                    "baseline: http GET /healthz (the server's floor)",
                    *timed_remote(lambda i: get("/healthz"), keys, proc.pid),
                )
            )
            rows.append(
                (
                    "http: GET /contacts?q=<email> (search)",
                    *timed_remote(
                        lambda i: get("/api/v1/contacts", q=f"user{i}@example.com"),
                        fresh(),
                        proc.pid,
                    ),
                )
            )
        memory = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows, memory


def report(rows: list[Any], memory: tuple[float, float], n: int, m: int) -> None:
    print(f"\nLookups with {n:,} contacts and {m:,} events (bound: p99 ≤ {BOUND_MS:.0f} ms)")
    print("wall = client-side latency; cpu = CPU time of the process serving it (in-process:")
    print("p50/p99 per call; http: the server's mean per request)\n")
    head = (
        f"| {'what':<52} | wall p50 | wall p99 | cpu p50 | cpu p99 | disk KB/call | p99 ≤ bound |"
    )
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.strip("|").split("|")) + "|")
    for what, p50, p99, c50, c99, disk in rows:
        verdict = "yes" if p99 <= BOUND_MS else "NO"
        if what.startswith(("baseline", "compaction")):
            verdict = "-"  # no bound: context for the rows above
        cpu = f"{_ms(c50):>7} | {_ms(c99):>7}"
        kb = "-" if disk is None else f"{disk:.0f}"
        print(f"| {what:<52} | {p50:8.2f} | {p99:8.2f} | {cpu} | {kb:>12} | {verdict:>11} |")
    rss, peak = memory
    ok = "yes" if peak <= BOUND_RSS_MB else "NO"
    if not peak:
        print(f"\n(no HTTP run); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return
    print(
        f"\nserver RSS after the HTTP run: {rss:,.0f} MB (peak {peak:,.0f} MB;"
        f" bound {BOUND_RSS_MB:,} MB: {ok}); load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} cores"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k contacts / 5M events")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--data", type=Path, help="keep the data set here (reused if present)")
    parser.add_argument(
        "--compaction", action="store_true", help="also time compaction steps (changes the data)"
    )
    parser.add_argument(
        "--ingest-rate",
        type=int,
        default=0,
        help="also measure find/timeline while the writer appends this many events/s",
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP server rows")
    parser.add_argument(
        "--http-only", action="store_true", help="only the HTTP server rows (no in-process rows)"
    )
    parser.add_argument(
        "--asgi-ab",
        action="store_true",
        help="also A/B the HTTP layer in process: FastAPI's routes vs the point-read fast path",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the database file from the page cache once the process (and the HTTP"
        " server) has started: reproducible cold reads",
    )
    parser.add_argument(
        "--no-prewarm",
        action="store_true",
        help="in process, skip the prewarm a server runs at start (the HTTP server's own"
        " prewarm still runs)",
    )
    parser.add_argument(
        "--ab-against", metavar="REV", help="also A/B the profile and timeline reads of REV"
    )
    args = parser.parse_args()
    n, m = (100_000, 5_000_000) if args.quick else (args.contacts, args.events)
    data = args.data or Path(tempfile.mkdtemp(prefix="retenta-bench-lookup-"))
    marker = data / "bench_lookup.ids"
    try:
        if marker.exists():
            ws, key = marker.read_text().split()
            ids = {"workspace_id": ws, "api_key": key}
        else:
            print(f"building {n:,} contacts / {m:,} events in {data}", flush=True)
            ids = build(data, n, m)
            marker.write_text(f"{ids['workspace_id']} {ids['api_key']}")
        rng = random.Random(7)
        keys = [rng.randint(1, n) for _ in range(args.samples)]
        print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
        rows: list[Any] = []
        if not args.http_only:
            rows = service_rows(
                data, ids["workspace_id"], keys, cold=args.cold, warm=not args.no_prewarm
            )
        if args.ingest_rate:
            rows += loaded_rows(data, ids["workspace_id"], keys, n, args.ingest_rate)
        if args.asgi_ab:
            rows += asgi_ab_rows(data, ids, keys[:150])
        if args.ab_against:
            rows += ab_rows(data, ids["workspace_id"], keys[:250], args.ab_against)
        http: list[Any] = []
        memory = (0.0, 0.0)
        if not args.no_http:
            per_row = max(100, args.samples // 2)
            http, memory = http_rows(
                data, ids, lambda: [rng.randint(1, n) for _ in range(per_row)], cold=args.cold
            )
        steps = compaction_rows(data, ids["workspace_id"], n) if args.compaction else []
        report(rows + http + steps, memory, n, m)
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    raise SystemExit(main())
