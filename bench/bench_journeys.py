"""Journeys at scale (issue #5, "Figures"), through the real server over HTTP.

Bounds:
  (a) event accepted over HTTP (``/v1/track``) → the run's first email received by a local
      SMTP server: p99 ≤ 1 s;
  (b) 100,000 contacts entering one journey at once (``/v1/batch`` events): all first sends
      queued in the send ledger ≤ 60 s;
  (c) 1,000,000 pending waits held with ≤ 1 GB RSS (the server process);
  (d) timers fire within 1 s of due (lag = the send queued after the wait − the wait's due).

How: a seeding process writes ``--waits`` runs in a 30-day wait (due in 2-3 days) into a fresh
data directory (one INSERT … SELECT into ``journey_runs``: the rows an entry writes) and closes
it. The server then runs as its own process (uvicorn, the app with its background workers:
ingestion, journey runner, dispatcher) on that directory, with an email channel to an aiosmtpd
server in this process that notes when each message arrives. While the waits are held:

  1. idle: the server's CPU with nothing due (the runner's claim cost at ``--waits`` runs);
  2. (a)+(d) together: ``--timers`` events spread over ``--spread`` s start runs that wait
     1 minute (the shortest wait) and then queue a send, while every 0.2 s a probe contact
     sends an event whose journey emails it at once;
  3. (b): ``--burst`` contacts send one event each (250 a request, 4 connections); the
     canvas's stats API is polled every 0.5 s until all their runs have queued their first
     send and moved on to a 3-day wait (its latency is printed too).

Then the server stops and the lags and counts are read from its database. Each figure is
printed beside its bound with the server's RSS and CPU seconds and ``uptime`` load.

    uv run python -m bench.bench_journeys            # 1M waits, 10k timers, 100k burst
    uv run python -m bench.bench_journeys --quick    # 100k waits, 1k timers, 10k burst
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
from aiosmtpd.controller import Controller

from bench.procs import free_port, process_cpu

BOUND_A_S, BOUND_B_S, BOUND_C_BYTES, BOUND_D_S = 1.0, 60.0, 1 << 30, 1.0

SEED = r"""
import asyncio, sys, orjson
from datetime import UTC, datetime
from retenta.app import build_container
from retenta.journeys.service import for_container
from retenta.settings import Settings

data_dir, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = build_container(Settings(data_dir=data_dir, background_workers=False))
ws = c.tenancy.create_workspace(name="Bench")
keys = {k: c.tenancy.issue_key(workspace_id=ws, kind=k).secret for k in ("write", "api")}
store = for_container(c).store
doc = {"name": "Held", "entry": {"trigger": {"type": "api"}}, "start": "wait",
       "nodes": [{"id": "wait", "type": "wait", "duration": {"amount": 30, "unit": "days"},
                  "next": "bye"},
                 {"id": "bye", "type": "send", "message_id": "msg_bye", "next": "done"},
                 {"id": "done", "type": "exit"}]}
held = asyncio.run(store.create(ws, doc))["id"]
asyncio.run(store.set_status(ws, held, "live"))
c.db.write(lambda conn: conn.execute(
    "INSERT INTO journey_runs (run_id, workspace_id, journey_id, version, contact_id, state,"
    " node_id, node_entered_at, entered_at, wake_at, context)"
    " SELECT 'run_held' || lpad(i::VARCHAR, 8, '0'), ?, ?, 1, 10000000 + i, 'active', 'wait',"
    " ts, ts, ts + INTERVAL 30 DAY, '{}' FROM (SELECT i, ?::TIMESTAMPTZ - INTERVAL 27 DAY"
    " - to_seconds(i % 86400) AS ts FROM range(?) t(i))",
    [ws, held, datetime.now(UTC), count]))
c.db.write(lambda conn: conn.execute("CHECKPOINT"))
c.close()
open(out, "wb").write(orjson.dumps({"ws": ws, **keys, "held": held}))
"""

SERVER = r"""
import sys, uvicorn
from retenta.app import build_container, create_app
from retenta.messaging.email.render import EmailVersion, compile_email
from retenta.messaging.outbox.content import StaticEmail
from retenta.messaging.services import for_container
from retenta.settings import Settings

data_dir, port, ws = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = build_container(Settings(data_dir=data_dir, background_workers=True))
mjml = ("<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ contact.first_name }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>")
email = compile_email("hello", {"en": EmailVersion(subject="Hello", mjml=mjml)},
                      default_language="en")
for message in ("msg_probe", "msg_tick", "msg_burst", "msg_bye"):
    for_container(c).static_content.add(ws, message, "email", StaticEmail(email, "transactional"))
if len(sys.argv) > 4:  # --trace-ticks: the runner's tick timings to a file
    import logging
    handler = logging.FileHandler(sys.argv[4])
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("retenta.journeys.runner")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
uvicorn.run(create_app(c), host="127.0.0.1", port=port, log_level="warning")
c.close()
"""


def journey(name: str, event: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "entry": {"trigger": {"type": "event", "event": event},
                                    "rule": {"type": "every_time"}},
            "start": nodes[0]["id"], "nodes": [*nodes, {"id": "done", "type": "exit"}]}  # fmt: skip


def send(node_id: str, message: str, then: str = "done") -> dict[str, Any]:
    return {"id": node_id, "type": "send", "message_id": message, "cascade": ["email"],
            "category": "transactional", "next": then}  # fmt: skip


def wait(node_id: str, amount: int, unit: str) -> dict[str, Any]:
    return {"id": node_id, "type": "wait", "duration": {"amount": amount, "unit": unit},
            "next": "done"}  # fmt: skip


PROBE = journey("Probe", "Probe", [send("first", "msg_probe")])
# The wait comes after a step (a split whose branches both lead to it), so the trace's
# "waiting" row is written at the moment the wait began: due = that row's time + 1 minute.
TIMER = journey("Timer", "Tick", [{"id": "go", "type": "split",
                                   "branches": [{"weight": 1, "next": "wait"},
                                                {"weight": 1, "next": "wait"}]},
                                  {**wait("wait", 1, "minutes"), "next": "after"},
                                  send("after", "msg_tick")])  # fmt: skip
BURST = journey("Burst", "Burst", [send("first", "msg_burst", then="hold"),
                                   wait("hold", 3, "days")])  # fmt: skip


# ------------------------------------------------------------------ the SMTP server and probes


class Arrivals:
    """Notes when each recipient's message arrives (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        now = time.time()
        for rcpt in envelope.rcpt_tos:
            self.at.setdefault(rcpt.lower(), now)
        self.count += 1
        return "250 OK"


def email_profile(port: int) -> dict[str, Any]:
    from retenta.messaging.email.dkim import generate_key

    key = generate_key("shop.example", "s1")
    return {
        "category": "transactional", "from_address": "hello@shop.example", "from_name": "Shop",
        "bounce_domain": "bounces.shop.example", "unsubscribe_base_url": "http://127.0.0.1/u/",
        "dkim": {"domain": key.domain, "selector": key.selector,
                 "private_key_pem": key.private_pem.decode()},
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none", "connections": 4},
    }  # fmt: skip


# ------------------------------------------------------------------ the server process


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    keys: dict[str, str]
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (t, rss, cpu s)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def peak(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)

    def sample(self) -> None:
        self.samples.append((time.time(), self.rss(), self.cpu()))

    @property
    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['api']}"}

    @property
    def write(self) -> tuple[str, str]:
        return (self.keys["write"], "")


def start_server(data_dir: str, keys: dict[str, str], trace: str | None) -> Server:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [
        sys.executable,
        "-c",
        SERVER,
        data_dir,
        str(port),
        keys["ws"],
        *([trace] if trace else []),
    ]
    proc = subprocess.Popen(argv, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return Server(proc, base, keys)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def sampler(server: Server, stop: asyncio.Event) -> None:
    while not stop.is_set():
        server.sample()
        await asyncio.sleep(0.5)


# ------------------------------------------------------------------ the phases


async def create_journey(client: httpx.AsyncClient, server: Server, doc: dict[str, Any]) -> str:
    made = await client.post("/api/v1/journeys", json=doc, headers=server.api)
    made.raise_for_status()
    journey_id = str(made.json()["id"])
    (await client.post(f"/api/v1/journeys/{journey_id}/activate", headers=server.api)
     ).raise_for_status()  # fmt: skip
    return journey_id


async def probe_contacts(client: httpx.AsyncClient, server: Server, count: int) -> None:
    for i in range(count):
        ids = {"email": f"p{i}@mail.retenta-bench.com", "external_id": f"p{i}"}
        consent = {"channel": "email", "topic": "*", "status": "subscribed"}
        body = {"identifiers": ids, "language": "en", "attributes": {"first_name": "Olena"},
                "consents": [consent]}  # fmt: skip
        (await client.post("/api/v1/contacts", json=body, headers=server.api)).raise_for_status()


async def probes(client: httpx.AsyncClient, server: Server, count: int) -> dict[str, float]:
    """One event every 0.2 s; when each request started (the latency's start)."""
    started: dict[str, float] = {}
    for i in range(count):
        started[f"p{i}@mail.retenta-bench.com"] = time.time()
        body = {"userId": f"p{i}", "event": "Probe", "properties": {"n": i}}
        (await client.post("/v1/track", json=body, auth=server.write)).raise_for_status()
        await asyncio.sleep(0.2)
    return started


async def ticks(client: httpx.AsyncClient, server: Server, count: int, spread_s: float) -> None:
    """``count`` Tick events from new contacts, evenly over ``spread_s`` (one batch / 0.1 s)."""
    rounds = max(1, int(spread_s * 10))
    per = -(-count // rounds)
    for r in range(rounds):
        batch = [{"type": "track", "userId": f"t{r * per + i}", "event": "Tick"}
                 for i in range(per) if r * per + i < count]  # fmt: skip
        if batch:
            (await client.post("/v1/batch", json={"batch": batch}, auth=server.write)
             ).raise_for_status()  # fmt: skip
        await asyncio.sleep(0.1)


async def burst(client: httpx.AsyncClient, server: Server, count: int, journey_id: str
                ) -> dict[str, float]:  # fmt: skip
    """``count`` Burst events, 250 a request over 4 connections; poll stats until all moved on."""
    t0 = time.time()
    chunks = [range(i, min(i + 250, count)) for i in range(0, count, 250)]

    async def post(part: range) -> None:
        batch = [{"type": "track", "userId": f"b{i}", "event": "Burst"} for i in part]
        (await client.post("/v1/batch", json={"batch": batch}, auth=server.write, timeout=120)
         ).raise_for_status()  # fmt: skip

    async def poster(lane: int) -> None:
        for part in chunks[lane::4]:
            await post(part)

    cpu0 = server.cpu()
    senders = asyncio.gather(*(poster(lane) for lane in range(4)))
    stats_ms: list[float] = []
    ingested = done = 0.0
    while True:
        if ingested == 0.0 and senders.done():
            await senders
            ingested = time.time() - t0
        began = time.perf_counter()
        stats = (await client.get(f"/api/v1/journeys/{journey_id}/stats", headers=server.api,
                                  timeout=60)).json()  # fmt: skip
        stats_ms.append((time.perf_counter() - began) * 1000)
        if stats["nodes"].get("hold", {}).get("waiting", 0) >= count:
            done = time.time() - t0
            break
        if time.time() - t0 > 600:
            break
        await asyncio.sleep(0.5)
    if ingested == 0.0:
        await senders
        ingested = time.time() - t0
    return {
        "ingested_s": ingested,
        "all_queued_s": done,
        "cpu_s": server.cpu() - cpu0,
        "stats_p50_ms": statistics.median(stats_ms),
        "stats_max_ms": max(stats_ms),
    }


# ------------------------------------------------------------------ reading the results


def timer_lags(db: duckdb.DuckDBPyConnection, journey_id: str) -> list[float]:
    """Per timer run: when its send was queued − when its 1-minute wait was due (seconds)."""
    rows = db.execute(
        'SELECT epoch(s.created_at) - epoch(t."at" + INTERVAL 1 MINUTE) FROM journey_trace t'
        " JOIN sends s ON s.campaign_id = t.journey_id AND s.contact_id = t.contact_id"
        " WHERE t.journey_id = ? AND t.decision = 'waiting'",
        [journey_id],
    ).fetchall()
    return [float(r[0]) for r in rows]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def line(label: str, value: str, bound: str, ok: bool) -> None:
    print(f"  {label:<58} {value:>14}   bound {bound:<10} {'met' if ok else 'NOT met'}")


SURGE = journey("Surge", "", [send("first", "msg_burst", then="hold"), wait("hold", 3, "days")])
SURGE["entry"] = {"trigger": {"type": "segment", "segment_id": "seg_surge", "on": "entered"}}


def segment_surge(data_dir: str, workspace_id: str, count: int) -> dict[str, float]:
    """(b) at once: ``count`` contacts enter a segment in one refresh (its entry log gets them
    with one timestamp); the runner alone (this process, no server) until all first sends
    are queued. Seeds the contacts with one Arrow insert."""
    import pyarrow as pa

    from retenta.app import build_container
    from retenta.journeys.service import for_container
    from retenta.settings import Settings

    c = build_container(Settings(data_dir=Path(data_dir), background_workers=False))
    try:
        svc = for_container(c)
        journey_id = asyncio.run(svc.store.create(workspace_id, SURGE))["id"]
        asyncio.run(svc.store.set_status(workspace_id, journey_id, "live"))
        svc.runner.tick()  # the segment's cursor starts now: entries from here on
        ids = [int(r[0]) for r in c.db.write(lambda conn: conn.execute(
            "SELECT nextval('contact_id_seq') FROM range(?)", [count]).fetchall())]  # fmt: skip
        now = datetime.now(UTC)
        contacts = pa.table({"workspace_id": [workspace_id] * count, "id": ids,
                             "created_at": [now] * count, "updated_at": [now] * count})  # fmt: skip
        entries = pa.table({"workspace_id": [workspace_id] * count,
                            "segment_id": ["seg_surge"] * count, "contact_id": ids,
                            "kind": ["entered"] * count, "at": [now] * count,
                            "cause": ["refresh"] * count})  # fmt: skip

        def enter(conn: Any) -> None:
            conn.register("_c", contacts)
            conn.register("_e", entries)
            conn.execute("INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
                         " SELECT * FROM _c")  # fmt: skip
            conn.execute("INSERT INTO segment_events SELECT * FROM _e")
            conn.unregister("_c")
            conn.unregister("_e")

        c.db.write(enter)
        t0, cpu0, queued = time.perf_counter(), time.process_time(), 0
        while queued < count and time.perf_counter() - t0 < 600:
            svc.runner.tick()
            with c.db.read() as cur:
                queued = cur.execute("SELECT count(*) FROM sends WHERE campaign_id = ?",
                                     [journey_id]).fetchone()[0]  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        c.close()
    return {"all_queued_s": wall if queued >= count else float("inf"), "cpu_s": cpu,
            "queued": queued}  # fmt: skip


def claim_costs(path: str) -> dict[str, float]:
    """CPU ms per query of the runner's due reads against the run's table (after the run):
    why ``due.py`` reads fresh entries by ``entered_at`` and sweeps rarely (docs/journeys.md)."""
    from retenta.journeys.due import FRESH_SQL, SWEEP_SQL

    now = datetime.now(UTC)
    with duckdb.connect(path) as db:

        def cpu_ms(sql: str, params: list[Any], repeat: int = 10) -> float:
            began = time.process_time()
            for _ in range(repeat):
                db.execute(sql, params).fetchall()
            return 1000 * (time.process_time() - began) / repeat

        due_soon = now + timedelta(days=3)  # ~a third of the held waits are due by then
        ids = [
            r[0] for r in db.execute("SELECT run_id FROM journey_runs USING SAMPLE 2000").fetchall()
        ]
        out = {
            "runs": float(db.execute("SELECT count(*) FROM journey_runs").fetchone()[0]),
            "sweep, nothing due": cpu_ms(SWEEP_SQL, [now, 5000]),
            "sweep, many due (ORDER BY wake_at LIMIT)": cpu_ms(SWEEP_SQL, [due_soon, 5000]),
            "fresh (entered in the last 5 s)": cpu_ms(
                FRESH_SQL, [now - timedelta(seconds=5), now, 5000]
            ),
            "2,000 runs by id": cpu_ms(
                "SELECT * FROM journey_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
            ),
        }
        db.execute("CREATE INDEX bench_wake ON journey_runs (wake_at)")
        out["sweep, many due, with an ART index on wake_at"] = cpu_ms(SWEEP_SQL, [due_soon, 5000])
    return out


# ------------------------------------------------------------------ one run


async def phases(server: Server, args: argparse.Namespace, smtp_port: int, arrivals: Arrivals
                 ) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        (await client.put("/api/v1/channels/email/transactional", json=email_profile(smtp_port),
                          headers=server.api)).raise_for_status()  # fmt: skip
        ids = {name: await create_journey(client, server, doc)
               for name, doc in (("probe", PROBE), ("timer", TIMER), ("burst", BURST))}  # fmt: skip
        await probe_contacts(client, server, args.probes)
        await asyncio.sleep(2)
        cpu0, t0 = server.cpu(), time.time()
        await asyncio.sleep(args.idle)
        out["idle_cpu_pct"] = 100 * (server.cpu() - cpu0) / (time.time() - t0)
        out["rss_held"] = server.rss()
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler(server, stop))
        cpu0, t0 = server.cpu(), time.time()
        started, _ = await asyncio.gather(
            probes(client, server, args.probes), ticks(client, server, args.timers, args.spread)
        )
        await asyncio.sleep(max(0.0, t0 + args.spread + 60 + 5 - time.time()))
        out["ad_cpu_s"], out["ad_wall_s"] = server.cpu() - cpu0, time.time() - t0
        out["latencies"] = [arrivals.at[rcpt] - at for rcpt, at in started.items()
                            if rcpt in arrivals.at]  # fmt: skip
        out["probes_lost"] = len(started) - len(out["latencies"])
        out["burst"] = await burst(client, server, args.burst, ids["burst"])
        stop.set()
        await sampling
        out["ids"] = ids
    out["rss_max"] = max(s[1] for s in server.samples)
    out["rss_peak"] = server.peak()
    return out


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    arrivals = Arrivals()
    smtp_port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with tempfile.TemporaryDirectory(prefix="bench_journeys_") as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        keys_file = f"{tmp}/keys.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", SEED, f"{tmp}/data", str(args.waits), keys_file],
                       env=env, check=True)  # fmt: skip
        print(f"  seeded {args.waits:,} waiting runs in {time.perf_counter() - t0:.1f} s")
        keys = orjson.loads(Path(keys_file).read_bytes())
        server = start_server(f"{tmp}/data", keys, args.trace_ticks)
        try:
            out = asyncio.run(phases(server, args, smtp_port, arrivals))
        finally:
            server.proc.terminate()
            server.proc.wait(timeout=120)
            controller.stop()
        with duckdb.connect(f"{tmp}/data/retenta.duckdb", read_only=True) as db:
            out["lags"] = timer_lags(db, out["ids"]["timer"])
            out["burst_sends"] = db.execute(
                "SELECT count(DISTINCT contact_id), count(*) FROM sends WHERE campaign_id = ?",
                [out["ids"]["burst"]],
            ).fetchone()
        out["surge"] = segment_surge(f"{tmp}/data", keys["ws"], args.burst)
        out["claims"] = claim_costs(f"{tmp}/data/retenta.duckdb")
    return out


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    def med(get: Any) -> float:
        return statistics.median(get(r) for r in runs)

    p99a = med(lambda r: pct(r["latencies"], 0.99))
    print(f"\nResults (median of {len(runs)} run(s)); {load()}")
    line(f"(a) event → email at SMTP, p50 ({args.probes} probes)",
         f"{med(lambda r: pct(r['latencies'], 0.5)):.3f} s", "", True)  # fmt: skip
    line("(a) event → email at SMTP, p99", f"{p99a:.3f} s", f"≤ {BOUND_A_S:.0f} s",
         p99a <= BOUND_A_S and all(r["probes_lost"] == 0 for r in runs))  # fmt: skip
    surge = med(lambda r: r["surge"]["all_queued_s"])
    line(f"(b) {args.burst:,} entering a segment at once: first sends queued", f"{surge:.1f} s",
         f"≤ {BOUND_B_S:.0f} s", surge <= BOUND_B_S)  # fmt: skip
    line("    runner CPU per entering contact (entry + step + send + save)",
         f"{1000 * med(lambda r: r['surge']['cpu_s']) / args.burst:.3f} ms", "", True)  # fmt: skip
    queued = med(lambda r: r["burst"]["all_queued_s"] or float("inf"))
    line(f"(b) {args.burst:,} entering by events over HTTP: all first sends queued",
         f"{queued:.1f} s", f"≤ {BOUND_B_S:.0f} s", queued <= BOUND_B_S)  # fmt: skip
    line("    of which ingesting the events over HTTP",
         f"{med(lambda r: r['burst']['ingested_s']):.1f} s", "", True)  # fmt: skip
    line("    server CPU per entering contact (ingest + run + send)",
         f"{1000 * med(lambda r: r['burst']['cpu_s']) / args.burst:.3f} ms", "", True)  # fmt: skip
    stats_p50 = med(lambda r: r["burst"]["stats_p50_ms"])
    stats_max = med(lambda r: r["burst"]["stats_max_ms"])
    line("    stats API during the burst, p50 / max", f"{stats_p50:.0f}/{stats_max:.0f} ms",
         "≤ 2 s poll", stats_max < 2000)  # fmt: skip
    rss = med(lambda r: r["rss_max"])
    line(f"(c) RSS holding {args.waits:,} waits (max during a+d)", f"{rss / 2**20:.0f} MiB",
         "≤ 1 GiB", rss <= BOUND_C_BYTES)  # fmt: skip
    line("    RSS peak over the whole run (incl. the burst)",
         f"{med(lambda r: r['rss_peak']) / 2**20:.0f} MiB", "", True)  # fmt: skip
    line("    server CPU while idle with them held",
         f"{med(lambda r: r['idle_cpu_pct']):.1f} %", "", True)  # fmt: skip
    p99d = med(lambda r: pct(r["lags"], 0.99))
    line(f"(d) timer fire lag p50 ({args.timers:,} timers over {args.spread:.0f} s)",
         f"{med(lambda r: pct(r['lags'], 0.5)):.3f} s", "", True)  # fmt: skip
    line("(d) timer fire lag p99", f"{p99d:.3f} s", f"≤ {BOUND_D_S:.0f} s", p99d <= BOUND_D_S)
    line("(d) timer fire lag max", f"{med(lambda r: max(r['lags'] or [float('nan')])):.3f} s",
         "", True)  # fmt: skip
    within = med(
        lambda r: 100 * sum(lag <= BOUND_D_S for lag in r["lags"]) / max(1, len(r["lags"]))
    )
    line("(d) timers fired within 1 s of due", f"{within:.1f} %", "", True)
    cpu, wall = med(lambda r: r["ad_cpu_s"]), med(lambda r: r["ad_wall_s"])
    line("    server CPU during (a)+(d)", f"{cpu:.1f} s / {wall:.0f} s", "", True)
    print(f"  the runner's due reads at {runs[0]['claims']['runs']:,.0f} runs (CPU ms a query):")
    for name in runs[0]["claims"]:
        if name != "runs":
            print(f"    {name:<56} {med(lambda r, n=name: r['claims'][n]):8.2f} ms")
    for r in runs:
        fired, lost = len(r["lags"]), r["probes_lost"]
        distinct, total = r["burst_sends"]
        print(
            f"  checks: {fired:,}/{args.timers:,} timers fired, {lost} probes lost, burst sends"
            f" {distinct:,} contacts / {total:,} rows (want {args.burst:,} / {args.burst:,})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, 1 run")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--waits", type=int, default=None)
    parser.add_argument("--timers", type=int, default=None)
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--probes", type=int, default=None)
    parser.add_argument("--trace-ticks", metavar="FILE", help="log the server runner's ticks here")
    args = parser.parse_args()
    sizes = (1, 100_000, 1_000, 10_000, 30, 10.0, 3.0) if args.quick else (
        3, 1_000_000, 10_000, 100_000, 100, 30.0, 10.0)  # fmt: skip
    names = ("runs", "waits", "timers", "burst", "probes", "spread", "idle")
    for name, default in zip(names, sizes, strict=True):
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    print(f"bench_journeys: {args.waits:,} waits, {args.timers:,} timers, {args.burst:,} burst,"
          f" {args.probes} probes, {args.runs} run(s); {load()}")  # fmt: skip
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}")
        runs.append(one_run(args))
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
