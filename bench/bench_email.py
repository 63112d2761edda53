"""Email throughput: render + DKIM-sign, and render + sign + deliver over SMTP.

Bounds (issue #4):
  (a) render + DKIM-sign personalized emails, no network, 2 cores: ≥ 3,000 emails/s;
  (b) render + sign + deliver to a local aiosmtpd: ≥ 0.8× a bare aiosmtplib loop sending the
      same pre-rendered, pre-signed messages over the same number of connections (8) to the
      same server (FACTS.md: ~1,000 msg/s into aiosmtpd with 8 connections).

(b) goes through the send path (docs/messaging-sends.md): the sends are in a DuckDB ``sends``
ledger; batches are claimed (queued → sending, committed), rendered + signed by a worker
process, each message's handover is recorded durably (group commits into the fdatasync'd
hand-over journal, ``outbox/journal.py``) before its final ``.`` goes on the wire, and
results are settled with their message events. What (b) does not include is the
dispatcher's own in-process rendering, contact lookup and consent gate: the dispatcher
renders in its event-loop process today (see "What is not done" in the doc).

Each email is the 4-language promo example (MJML, 4 product cards from a 200-product
catalog, prices in the contact's locale, an unsubscribe link) for a distinct contact, built
as multipart/alternative with List-Unsubscribe (RFC 8058), VERP return path and a
2048-bit RSA DKIM signature. The SMTP server runs in its own process and counts what it
receives; every run checks that all messages arrived.

    uv run python -m bench.bench_email            # 5 runs of each
    uv run python -m bench.bench_email --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from bench.procs import free_port
from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.context import ContactVars, ProductVars, RenderContext
from retenta.messaging.email.dkim import generate_key
from retenta.messaging.email.examples import promo_version
from retenta.messaging.email.mime import Category, OutgoingEmail, Recipient
from retenta.messaging.email.profiles import (
    Composer,
    DkimSettings,
    SendingProfile,
    SendRequest,
    SmtpServer,
)
from retenta.messaging.email.render import CompiledEmail, compile_email
from retenta.messaging.outbox.decide import Attempt, settle
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.journal import HandoverJournal
from retenta.messaging.outbox.ledger import NewSend, RetryPolicy, Send, SendLedger
from retenta.messaging.signing import LinkSigner, new_send_id
from retenta.storage.duckdb.engine import DuckDatabase

LANGUAGES = ("en", "uk", "ru", "de")
CONNECTIONS = 8

# ---------------------------------------------------------------- the work to measure

_composer: Composer | None = None
_email: CompiledEmail | None = None


def make_profile(port: int, key_pem: str) -> SendingProfile:
    return SendingProfile(
        name="promo",
        category=Category.MARKETING,
        from_address="news@shop.example",
        from_name="Shop",
        bounce_domain="bounces.shop.example",
        unsubscribe_base_url="https://t.shop.example/u/",
        dkim=DkimSettings(domain="shop.example", selector="s1", private_key_pem=SecretStr(key_pem)),
        smtp=SmtpServer(host="127.0.0.1", port=port, tls="none", connections=CONNECTIONS),
    )


def init_worker(port: int, key_pem: str) -> None:
    global _composer, _email
    _composer = Composer(make_profile(port, key_pem), LinkSigner(b"bench link secret"))
    _email = compile_email("promo", {lang: promo_version(lang) for lang in LANGUAGES})


CATALOG = [
    ProductVars(
        sku=f"SKU{n}",
        name=f"Product {n}",
        price=round(5 + n * 1.37, 2),
        currency=("EUR", "UAH", "USD")[n % 3],
        url=f"https://shop.example/p/{n}",
        image_url=f"https://cdn.shop.example/{n}.jpg",
    )
    for n in range(200)
]


def make_requests(first: int, count: int) -> list[SendRequest]:
    rng = random.Random(first)
    requests = []
    for number in range(first, first + count):
        language = LANGUAGES[number % 4]
        contact = ContactVars(
            contact_id=number,
            email=f"c{number}@example.com",
            first_name=f"Name{number}",
            language=language,
        )
        ctx = RenderContext(
            contact=contact,
            locale=language,
            products=tuple(rng.sample(CATALOG, 4)),
            links={"unsubscribe": f"https://t.shop.example/u/{number}"},
        )
        requests.append(
            SendRequest(
                send_id=new_send_id(),
                recipient=Recipient("ws_bench", number, contact.email or ""),
                variables=ctx.variables(),
                campaign_id="cmp_bench",
            )
        )
    return requests


def compose_chunk(first: int, count: int) -> list[OutgoingEmail]:
    """Worker task: personalize, render, build and sign ``count`` emails."""
    assert _composer is not None
    assert _email is not None
    out = _composer.prepare_many(_email, make_requests(first, count))
    messages = [m for m in out if isinstance(m, OutgoingEmail)]
    assert len(messages) == count, "every email of the benchmark must render"
    return messages


def compose_sends(first: int, send_ids: list[str]) -> list[OutgoingEmail]:
    """Worker task for (b): the emails of claimed sends (their ids become the messages')."""
    assert _composer is not None
    assert _email is not None
    requests = [
        dataclasses.replace(request, send_id=send_id)
        for request, send_id in zip(make_requests(first, len(send_ids)), send_ids, strict=True)
    ]
    out = _composer.prepare_many(_email, requests)
    messages = [m for m in out if isinstance(m, OutgoingEmail)]
    assert len(messages) == len(send_ids), "every email of the benchmark must render"
    return messages


def compose_count(first: int, count: int) -> tuple[int, float]:
    """Worker task for (a): how many emails and the CPU seconds this process spent on them."""
    started = time.process_time()
    done = len(compose_chunk(first, count))
    return done, time.process_time() - started


_rsa_key: rsa.RSAPrivateKey | None = None


def rsa_cpu_seconds(samples: int) -> float:
    global _rsa_key
    if _rsa_key is None:
        _rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    started = time.process_time()
    for _ in range(samples):
        _rsa_key.sign(b"x" * 600, padding.PKCS1v15(), hashes.SHA256())
    return (time.process_time() - started) / samples


# ---------------------------------------------------------------- the SMTP server process


def run_server(port: int, counter: Any, ready: Any) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 Ok: queued"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


# ---------------------------------------------------------------- (a) render + sign


CPU_MS: list[float] = []  # CPU milliseconds per email, per run of (a)
RSA_MS: list[float] = []  # CPU milliseconds of one bare RSA-2048 signature, same processes
WARM_UP_FIRST = 50_000_000  # contact numbers of the warm-up emails (not the measured ones)
IDLE_RSA_PER_S = 3400  # FACTS.md: OpenSSL RSA-2048 signatures per second on an idle core


def bench_render_sign(pool: ProcessPoolExecutor, total: int, workers: int) -> float:
    """Wall-clock emails/s over the pool; records the CPU cost per email beside it, and the
    CPU cost of one bare RSA-2048 signature measured right after in the same worker
    processes (contention from other users slows both alike, so their ratio stays
    meaningful). The calibration signatures run after the clock stops: they are not emails."""
    chunk = 250
    started = time.perf_counter()
    parts = list(pool.map(compose_count, range(0, total, chunk), [chunk] * (total // chunk)))
    elapsed = time.perf_counter() - started
    assert sum(done for done, _ in parts) == total
    CPU_MS.append(sum(cpu for _, cpu in parts) / total * 1000)
    samples = max(10, total // (10 * workers))
    RSA_MS.append(statistics.median(pool.map(rsa_cpu_seconds, [samples] * workers)) * 1000)
    return total / elapsed


# ---------------------------------------------------------------- (b) deliver


async def bare_loop(messages: Sequence[OutgoingEmail], port: int) -> float:
    """The baseline: plain aiosmtplib sessions sending ready messages, 8 in parallel."""
    pending = iter(messages)

    async def session() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        for message in pending:
            await smtp.sendmail(message.mail_from, [message.rcpt_to], message.data)
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(CONNECTIONS)))
    return len(messages) / (time.perf_counter() - started)


def fresh_ledger(directory: str, total: int) -> SendLedger:
    """A new DuckDB with ``total`` queued sends (not timed: campaigns enqueue ahead)."""
    stamp = time.monotonic_ns()
    db = DuckDatabase(os.path.join(directory, f"sends-{stamp}.duckdb"))
    journal = HandoverJournal(os.path.join(directory, f"handover-{stamp}"))
    ledger = SendLedger(db, RetryPolicy(), journal=journal)
    ledger.enqueue(
        [
            NewSend("ws_bench", n, "msg_bench", ("email",), "promo", campaign_id="cmp_bench")
            for n in range(total)
        ]
    )
    return ledger


async def pipeline(pool: ProcessPoolExecutor, ledger: SendLedger, port: int, key_pem: str) -> float:
    """Ours, through the send path: claim a batch → worker processes render + sign it →
    durable handover record → SMTP → settle (status + events), batches overlapping."""
    loop = asyncio.get_running_loop()
    channel = SmtpChannel(make_profile(port, key_pem).smtp)
    handover = HandoverLog(ledger.record_handover)
    queue: asyncio.Queue[tuple[Send, OutgoingEmail] | None] = asyncio.Queue(maxsize=2000)
    results: list[tuple[Send, SendResult]] = []
    settled = 0

    async def produce() -> None:
        first = 0
        while batch := await asyncio.to_thread(ledger.claim, 500):
            by_id = {s.send_id: s for s in batch}
            futures = [
                loop.run_in_executor(
                    pool, compose_sends, first + i, [s.send_id for s in batch[i : i + 100]]
                )
                for i in range(0, len(batch), 100)
            ]
            first += len(batch)
            for future in futures:  # in order; the pool works ahead
                for message in await future:
                    await queue.put((by_id[message.send_id], message))
        for _ in range(CONNECTIONS):
            await queue.put(None)

    async def record(message: OutgoingEmail, attempt: int, then: Any = None) -> None:
        await handover.mark(message.send_id, attempt, then=then)

    async def flush() -> None:
        nonlocal settled
        done, results[:] = list(results), []
        now = datetime.now(UTC)
        settled += await ledger.settle(
            [settle(Attempt(send, "result", result=r), ledger.retry, now) for send, r in done]
        )

    async def consume() -> None:
        while (item := await queue.get()) is not None:
            send, message = item
            result = await channel.send_one(
                message, handover=lambda m, a=send.attempts, then=None: record(m, a, then)
            )
            results.append((send, result))
            if len(results) >= 250:
                await flush()

    started = time.perf_counter()
    await asyncio.gather(produce(), *(consume() for _ in range(CONNECTIONS)))
    await flush()
    elapsed = time.perf_counter() - started
    await channel.close()
    with ledger.db.read() as cur:
        statuses = dict(cur.execute("SELECT status, count(*) FROM sends GROUP BY ALL").fetchall())
    total = sum(statuses.values())
    assert statuses == {"sent": total}, f"every send must end sent: {statuses}"
    assert settled == total
    HANDOVER_COMMITS.append(handover.commits)
    ledger.db.close()
    return total / elapsed


HANDOVER_COMMITS: list[int] = []  # writer units of handover records per run of (b)


# ---------------------------------------------------------------- reporting


def raw_rsa_signs_per_second(seconds: float = 1.0) -> float:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        key.sign(b"x" * 600, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count / (time.perf_counter() - started)


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def median_of(runs: int, measure: Callable[[], float], label: str) -> float:
    values = []
    for run in range(runs):
        value = measure()
        values.append(value)
        print(f"  {label} run {run + 1}: {value:,.0f}/s   [{load()}]", flush=True)
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="render+sign processes for (a)")
    parser.add_argument(
        "--deliver-workers", type=int, default=1, help="render+sign processes beside SMTP in (b)"
    )
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    sign_total = 1000 if args.quick else 6000
    send_total = 800 if args.quick else 4000

    print(f"machine: {os.cpu_count()} cores, shared with other engineers this session")
    print(f"load before: {load()}")
    print(f"raw RSA-2048 signatures (OpenSSL), one core, now: {raw_rsa_signs_per_second():,.0f}/s")
    print("  (FACTS.md measured ~3,400/s per core on an idle machine)")

    key_pem = generate_key("shop.example", "s1").private_pem.decode()
    port = free_port()
    counter, ready = mp.Value("q", 0), mp.Event()
    server = mp.Process(target=run_server, args=(port, counter, ready), daemon=True)
    server.start()
    ready.wait(10)
    try:
        with ProcessPoolExecutor(
            args.workers, initializer=init_worker, initargs=(port, key_pem)
        ) as pool:
            # Warm up as a worker that has been sending is: 250 other contacts' emails each,
            # so the per-process memos (prices formatted per locale, domains) are filled and
            # a --quick run measures the steady state, as the median of a full run does.
            warm = [WARM_UP_FIRST + n * 250 for n in range(args.workers)]
            list(pool.map(compose_count, warm, [250] * args.workers))
            print(f"\n(a) render + DKIM-sign, no network, {args.workers} processes:")
            rate_a = median_of(runs, lambda: bench_render_sign(pool, sign_total, args.workers), "a")
            cpu_ms, rsa_ms = statistics.median(CPU_MS), statistics.median(RSA_MS)
            in_signatures = cpu_ms / rsa_ms
            print(f"(a) median {rate_a:,.0f} emails/s wall-clock   bound ≥ 3,000/s")
            print(
                f"(a) CPU per email {cpu_ms:.2f} ms; one bare RSA signature {rsa_ms:.2f} ms in "
                f"the same processes → an email costs {in_signatures:.2f} signatures"
            )
            print(
                f"(a) at FACTS.md's idle {IDLE_RSA_PER_S:,} signatures/s per core: "
                f"≈ {2 * IDLE_RSA_PER_S / in_signatures:,.0f} emails/s on 2 idle cores (estimate)"
            )

        init_worker(port, key_pem)
        prepared = compose_chunk(10_000_000, send_total)
        print(
            f"\n(b) deliver {send_total} messages to aiosmtpd (own process), {CONNECTIONS} conns:"
        )
        scratch = tempfile.mkdtemp(prefix="bench-email-sends-")
        with ProcessPoolExecutor(
            args.deliver_workers, initializer=init_worker, initargs=(port, key_pem)
        ) as pool:
            list(pool.map(compose_count, [0], [5]))

            def ours() -> float:
                before = counter.value
                ledger = fresh_ledger(scratch, send_total)
                rate = asyncio.run(pipeline(pool, ledger, port, key_pem))
                assert counter.value - before == send_total, "the server must receive every one"
                return rate

            def bare() -> float:
                before = counter.value
                rate = asyncio.run(bare_loop(prepared, port))
                assert counter.value - before == send_total, "the server must receive every one"
                return rate

            rates_bare, rates_ours = [], []
            for run in range(runs):  # interleaved, so load changes hit both alike
                rates_bare.append(bare())
                rates_ours.append(ours())
                print(
                    f"  run {run + 1}: bare {rates_bare[-1]:,.0f}/s, "
                    f"render+sign+deliver {rates_ours[-1]:,.0f}/s   [{load()}]",
                    flush=True,
                )
        bare_median, ours_median = statistics.median(rates_bare), statistics.median(rates_ours)
        print(
            f"(b) bare aiosmtplib loop (pre-rendered, pre-signed): median {bare_median:,.0f} msg/s"
        )
        print(
            f"(b) ledger + render + sign + handover + deliver + settle "
            f"({args.deliver_workers} render process): median {ours_median:,.0f} msg/s"
        )
        paired = statistics.median(o / b for o, b in zip(rates_ours, rates_bare, strict=True))
        print(f"(b) ratio of the medians {ours_median / bare_median:.2f}×   bound ≥ 0.8×")
        print(f"(b) median of the per-run ratios (each pair back to back) {paired:.2f}×")
        per_commit = send_total / statistics.median(HANDOVER_COMMITS)
        print(f"(b) handover records: {per_commit:.1f} messages per journal fdatasync")
    finally:
        server.terminate()
        server.join(5)
    print(f"\nload after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
