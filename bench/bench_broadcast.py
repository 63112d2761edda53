"""A mass campaign end to end vs a bare aiosmtplib loop (issue #5: ≥ 0.7×).

Ours is the real path, in this process, as the server runs it: ``CampaignServices.schedule``
(what ``POST /campaigns/{id}/schedule`` calls) → the campaign runner snapshots the segment's
members and queues their sends in the ledger → the dispatcher claims batches → contact
lookup → the contact policy → the consent gate → render (blocks, the contact's own product
grid, money in the contact's locale, tracked links) → DKIM → the durable hand-over record →
SMTP → settle with message events. The SMTP server is aiosmtpd in its own process,
counting messages; every recipient's Message-ID is logged there and checked: exactly one
each.

The baseline: 8 plain aiosmtplib sessions (the profile's connection count) sending
pre-rendered, pre-signed messages of the same campaign (the first 2,000 recipients',
cycled) to the same server. It runs before and after ours; the figure is ours over the
mean of the two.

Where the time goes: each phase's CPU is measured where it runs (``time.thread_time`` inside
the call, so calls made in worker threads count) and shown per message beside the wall
time, with the whole process's CPU (the sender), the compose pool's worker processes' CPU
(render, tracked links, MIME, DKIM: ``--compose-workers``, default the server's) and the SMTP
server process's.

    uv run python -m bench.bench_broadcast                  # 100,000 recipients
    uv run python -m bench.bench_broadcast --size 1000000   # the issue's figure (~25 min)
    uv run python -m bench.bench_broadcast --quick          # 5,000, a smoke run
    uv run python -m bench.bench_broadcast --compose-workers 0   # render in the sender (A/B)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosmtplib
from fastapi.testclient import TestClient

from bench import procs
from bench.broadcast_kit import CountingServer, Setup, prepare
from retenta.app import Container, build_container, create_app
from retenta.campaigns import snapshot
from retenta.campaigns.runner import CampaignRunner
from retenta.campaigns.service import for_container as campaigns
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.email.compose_pool import Built
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import Composer
from retenta.messaging.gate import SendGate
from retenta.messaging.outbox import dispatcher as dispatcher_module
from retenta.messaging.outbox.journal import HandoverJournal
from retenta.messaging.outbox.ledger import Send, SendLedger
from retenta.messaging.outbox.recipients import lookup
from retenta.messaging.outbox.steps import EmailStep, pick_profile
from retenta.messaging.services import for_container as messaging
from retenta.policy.gate import PolicyGate
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase

CONNECTIONS = 8
PRERENDERED = 2_000

# ---------------------------------------------------------------- where the time goes


class Phases:
    """CPU (thread time inside each call) and wall time per named phase."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.wall[label] += time.perf_counter() - started
                    self.calls[label] += 1

            replacement: Any = timed_async
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                cpu, started = time.thread_time(), time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.cpu[label] += time.thread_time() - cpu
                    self.wall[label] += time.perf_counter() - started
                    self.calls[label] += 1

            replacement = timed
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def writer(self) -> None:
        """Every writer unit's CPU (the work inside BEGIN … COMMIT), whoever sent it."""
        original = DuckDatabase.submit

        def submit(db: DuckDatabase, work: Callable[[Any], Any]) -> Any:
            def measured(conn: Any) -> Any:
                cpu = time.thread_time()
                try:
                    return work(conn)
                finally:
                    self.cpu["writer units (all SQL writes)"] += time.thread_time() - cpu
                    self.calls["writer units (all SQL writes)"] += 1

            return original(db, measured)

        DuckDatabase.submit = submit  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(DuckDatabase, "submit", original))

    def install(self) -> None:
        self.wrap(snapshot, "prepare", "snapshot: segment members, groups, send times")
        self.wrap(CampaignRunner, "queue_chunk", "queue: recipients → ledger (Arrow)")
        self.wrap(SendLedger, "claim", "claim a batch")
        self.wrap(dispatcher_module, "lookup", "contact lookup")
        self.wrap(PolicyGate, "split", "policy: caps, quiet hours, fatigue")
        self.wrap(SendGate, "check", "consent + suppression gate")
        # in the sender only (0 workers, or a chunk after a worker died); the pool's is below
        self.wrap(Built, "compose", "render + links + MIME + DKIM in the sender")
        self.wrap(HandoverJournal, "append", "hand-over journal write + fdatasync")
        self.wrap(SmtpChannel, "send_stream", "SMTP, a batch as it renders (wall)")
        self.wrap(SendLedger, "settle", "settle (wall, awaits the writer)")
        self.writer()

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def report(self, messages: int) -> list[str]:
        lines = [f"  {'phase':<48} {'CPU s':>7} {'µs/msg':>7} {'wall s':>7} {'calls':>7}"]
        for label in sorted(set(self.cpu) | set(self.wall), key=lambda k: -self.cpu.get(k, 0)):
            cpu = self.cpu.get(label)
            lines.append(
                f"  {label:<48} {cpu if cpu is not None else float('nan'):7.2f} "
                f"{(cpu or 0) / messages * 1e6:7.0f} {self.wall.get(label, 0):7.2f} "
                f"{self.calls.get(label, 0):7d}"
            )
        return lines


# ---------------------------------------------------------------- the baseline


def prerender(container: Container, setup: Setup, count: int) -> list[OutgoingEmail]:
    """The campaign's messages for its first ``count`` recipients, as the dispatcher builds
    them (the same content, profile, tracking and DKIM key), ready for the bare loop."""
    svc, step = messaging(container), email_step(container)
    with container.db.read() as cur:
        ids = [r[0] for r in cur.execute(
            "SELECT id FROM contacts WHERE workspace_id = ? ORDER BY id LIMIT ?",
            [setup.workspace_id, count]).fetchall()]  # fmt: skip
    contacts = lookup(container.db, setup.workspace_id, ids)
    resolved = svc.content.resolve(setup.workspace_id, setup.message_id, "email")
    profile = pick_profile(svc.channel_settings.all(setup.workspace_id, "email"), "promo")
    assert profile is not None
    composer = Composer(profile, svc.keyring.workspace(setup.workspace_id))
    out = []
    for number, contact_id in enumerate(ids):
        send = Send(f"snd_bare{number}", setup.workspace_id, contact_id, "email", ("email",), 0,
                    setup.message_id, "promo", None, setup.campaign_id, None, {}, 1)  # fmt: skip
        message = step._prepare(composer, send, contacts[contact_id], resolved)
        assert isinstance(message, OutgoingEmail), message
        out.append(message)
    return out


BARE_CPU: list[float] = []  # this process's CPU seconds per message, per bare run


async def bare_loop(messages: Sequence[OutgoingEmail], port: int, total: int) -> float:
    """Plain aiosmtplib sessions sending ready messages, ``CONNECTIONS`` in parallel."""
    pending = iter(range(total))

    async def session() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        for number in pending:
            message = messages[number % len(messages)]
            await smtp.sendmail(message.mail_from, [message.rcpt_to], message.data)
        await smtp.quit()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(session() for _ in range(CONNECTIONS)))
    BARE_CPU.append((time.process_time() - cpu) / total)
    return total / (time.perf_counter() - started)


# ---------------------------------------------------------------- ours


async def broadcast(
    container: Container, setup: Setup, server: CountingServer, size: int, phases: Phases
) -> dict[str, float]:
    """Schedule the campaign with the runner and dispatcher running; the timings."""
    svc, camp = messaging(container), campaigns(container)
    pool = email_step(container).compose
    await pool.start()  # spawned and imported before the clock starts, as in a running server
    before = server.count
    cpu, started = time.process_time(), time.perf_counter()
    server_cpu = process_cpu(server.pid)
    pool_cpu = {pid: process_cpu(pid) for pid in pool.pids()}
    await camp.schedule(setup.workspace_id, setup.campaign_id, None)  # POST …/schedule
    await camp.runner.start()
    await svc.dispatcher.start()
    deadline = started + max(600.0, size / 50)
    try:
        while server.count - before < size:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{server.count - before} of {size} arrived")
            await asyncio.sleep(0.02)
        last = time.perf_counter()
        while await asyncio.to_thread(unsettled, container) > 0:
            await asyncio.sleep(0.05)
        settled = time.perf_counter()
        sender_cpu = time.process_time() - cpu
        # a worker that died and was replaced counts from 0; its own CPU is lost to us
        workers_cpu = sum(process_cpu(pid) - pool_cpu.get(pid, 0.0) for pid in pool.pids())
    finally:
        await svc.dispatcher.stop()
        await camp.runner.stop()
    return {
        "elapsed": last - started,
        "settled": settled - started,
        "cpu": sender_cpu,
        "pool_cpu": workers_cpu,
        "pool_size": pool.size,
        "fallbacks": pool.fallbacks,
        "server_cpu": process_cpu(server.pid) - server_cpu,
    }


def email_step(container: Container) -> EmailStep:
    svc = messaging(container)
    return next(s for s in svc.dispatcher.steps.values() if isinstance(s, EmailStep))


def unsettled(container: Container) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*) FROM sends WHERE status IN ('queued', 'sending')"
        ).fetchone()
    return int(row[0]) if row else 0


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    return 0.0 if pid is None else procs.process_cpu(pid)


def check_exactly_one(server: CountingServer, size: int) -> None:
    received = server.received()
    per_recipient: dict[str, set[str]] = defaultdict(set)
    copies: dict[str, int] = defaultdict(int)
    for recipient, message_id in received:
        if message_id.startswith("<snd_c"):  # the campaign's (not the bare loop's)
            per_recipient[recipient].add(message_id)
            copies[recipient] += 1
    assert len(per_recipient) == size, f"{len(per_recipient)} recipients of {size}"
    assert set(copies.values()) == {1}, "a recipient got more than one message"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="recipients")
    parser.add_argument("--quick", action="store_true", help="5,000 recipients, a smoke run")
    parser.add_argument(
        "--compose-workers", type=int, default=None,
        help="compose pool processes (default: the server's, 1 on <= 2 cores; 0: in process)",
    )  # fmt: skip
    args = parser.parse_args()
    size = 5_000 if args.quick else args.size
    bare_total = min(size, 20_000)
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as scratch:
        log = Path(scratch) / "received.tsv"
        with CountingServer(log=log) as server:
            container = build_container(
                Settings(
                    data_dir=Path(scratch) / "data",
                    background_workers=False,
                    compose_workers=args.compose_workers,
                )
            )
            started = time.perf_counter()
            setup = prepare(container, TestClient(create_app(container)), size=size,
                            smtp_port=server.port, connections=CONNECTIONS)  # fmt: skip
            print(f"set-up: {size:,} contacts, segment, profile, message, campaign in "
                  f"{time.perf_counter() - started:.1f} s (not timed)")  # fmt: skip
            ready = prerender(container, setup, min(size, PRERENDERED))
            size_kb = statistics.mean(len(m.data) for m in ready) / 1024
            print(f"messages: {size_kb:.1f} KB each on average (MIME, DKIM-signed)")
            bare_before = asyncio.run(bare_loop(ready, server.port, bare_total))
            print(f"bare aiosmtplib loop, {bare_total:,} messages: {bare_before:,.0f} msg/s  "
                  f"[{load()}]")  # fmt: skip
            phases = Phases()
            phases.install()
            try:
                timings = asyncio.run(broadcast(container, setup, server, size, phases))
            finally:
                phases.uninstall()
            ours = size / timings["elapsed"]
            print(f"campaign, {size:,} recipients: last message at {timings['elapsed']:.1f} s "
                  f"→ {ours:,.0f} msg/s; all settled at {timings['settled']:.1f} s  "
                  f"[{load()}]")  # fmt: skip
            bare_after = asyncio.run(bare_loop(ready, server.port, bare_total))
            print(f"bare aiosmtplib loop again: {bare_after:,.0f} msg/s  [{load()}]")
            check_exactly_one(server, size)
            print(f"checked at the server: {size:,} recipients, exactly one message each")
            container.close()
    bare = (bare_before + bare_after) / 2
    ours_cpu, pool_cpu = timings["cpu"] / size, timings["pool_cpu"] / size
    print(
        f"\nratio: {ours:,.0f} / {bare:,.0f} = {ours / bare:.2f}×   bound ≥ 0.7×   "
        f"(CPU a message: sender {ours_cpu * 1e6:.0f} µs, compose pool "
        f"{pool_cpu * 1e6:.0f} µs in {timings['pool_size']:.0f} process(es), "
        f"{timings['fallbacks']:.0f} chunks composed in the sender after a worker failed)"
    )
    print(f"\nwhere the time goes ({size:,} messages; CPU of this process (the sender) "
          f"{timings['cpu']:.1f} s = {ours_cpu * 1e6:.0f} µs/msg; compose pool workers "
          f"{timings['pool_cpu']:.1f} s = {pool_cpu * 1e6:.0f} µs/msg; SMTP server "
          f"process {timings['server_cpu']:.1f} s = "
          f"{timings['server_cpu'] / size * 1e6:.0f} µs/msg):")  # fmt: skip
    print("\n".join(phases.report(size)))
    bare_cpu = statistics.mean(BARE_CPU)
    server_cpu = timings["server_cpu"] / size
    per_worker = pool_cpu / max(1, timings["pool_size"])
    estimate = max(bare_cpu, server_cpu) / max(ours_cpu, server_cpu, per_worker)
    print(f"\nCPU per message: ours {ours_cpu * 1e6:.0f} µs (+ {pool_cpu * 1e6:.0f} µs in the "
          f"compose pool), the bare loop's client {bare_cpu * 1e6:.0f} µs, the SMTP server "
          f"{server_cpu * 1e6:.0f} µs. Sender, pool worker and server are one process each (one "
          f"core at most); with a core each, the bare loop runs at 1/max(client, server) and "
          f"ours at 1/max(sender, pool / workers, server): "
          f"≈ {min(1.0, estimate):.2f}× "
          f"(an estimate from CPU, not the figure)")  # fmt: skip
    print(f"\nload after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
