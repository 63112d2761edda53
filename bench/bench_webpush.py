"""Web push throughput: encrypt (aes128gcm, RFC 8291) + VAPID + POST to a local push service.

Bound (issue #4): web push encrypt + post to a local receiver ≥ 1,000 notifications/s.

Each notification is a ~200-byte JSON payload for one of 200 distinct browser subscriptions
(each with its own P-256 key and auth secret), encrypted with a fresh ephemeral ECDH key and
posted by ``WebPushChannel.send`` over ``--connections`` concurrent keep-alive connections
(aiohttp). Beside it: a bare aiohttp loop posting pre-encrypted bodies over as many
connections (the HTTP cost alone), and once a bare httpx loop, the client first tried.
The receiver is an aiohttp server in its own process: it answers 201, checks the
``vapid`` Authorization header and ``Content-Encoding``, and decrypts one notification in
``--decrypt-every`` with the subscriber's private key (a wrong plaintext fails the run).
The figure is the median of ``--runs`` runs; ``uptime`` load is printed beside it.

The measured path is the send path (docs/messaging-sends.md): the notifications are sends in
a DuckDB ``sends`` ledger, claimed in batches (queued → sending, committed), their handover
recorded durably before they are posted, and settled (status + message events) after.

    uv run --frozen python -m bench.bench_webpush            # 3 runs of 20,000
    uv run --frozen python -m bench.bench_webpush --quick    # 3 runs of 2,000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.webpush import (
    Subscription,
    VapidKey,
    WebPushChannel,
    WebPushMessage,
    b64url,
    encrypt,
)
from retenta.messaging.outbox.decide import Attempt, settle
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.storage.duckdb.engine import DuckDatabase

BOUND = 1000.0  # notifications/s
SUBSCRIBERS = 200


def _receiver(port: int, keys: list[tuple[bytes, bytes]], decrypt_every: int) -> None:
    from aiohttp import web

    privates = [
        (serialization.load_pem_private_key(pem, password=None), auth) for pem, auth in keys
    ]
    stats = {"received": 0, "decrypted": 0, "bad": 0}

    async def push(request: web.Request) -> web.Response:
        body = await request.read()
        stats["received"] += 1
        if not request.headers.get("Authorization", "").startswith("vapid t="):
            stats["bad"] += 1
            return web.Response(status=403)
        if request.headers.get("Content-Encoding") != "aes128gcm":
            stats["bad"] += 1
            return web.Response(status=400)
        if stats["received"] % decrypt_every == 0:
            key, auth = privates[int(request.match_info["sub"])]
            plain = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
            if json.loads(plain)["sub"] == int(request.match_info["sub"]):
                stats["decrypted"] += 1
            else:
                stats["bad"] += 1
        return web.Response(status=201, headers={"Location": f"/m/{stats['received']}"})

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=201, headers={"Location": "/m/0"})

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response({**stats, "cpu_s": time.process_time()})

    app = web.Application()
    app.router.add_post("/push/{sub}", push)
    app.router.add_post("/bare/{sub}", bare)
    app.router.add_get("/stats", get_stats)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def _stats(origin: str) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient() as client:
        stats: dict[str, Any] = (await client.get(f"{origin}/stats")).json()
    return stats


async def _bare(
    origin: str, bodies: list[tuple[str, bytes]], connections: int, client: str
) -> float:
    """A bare POST loop of pre-encrypted bodies (no crypto, no JWT): the HTTP cost alone."""
    headers = {"Authorization": "vapid t=x, k=y", "Content-Encoding": "aes128gcm", "TTL": "60"}
    pending = iter(bodies)
    start = time.perf_counter()
    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits) as hx:

            async def hx_worker() -> None:
                for url, body in pending:
                    response = await hx.post(url, content=body, headers=headers)
                    assert response.status_code == 201

            await asyncio.gather(*(hx_worker() for _ in range(connections)))
    else:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for url, body in pending:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        assert response.status == 201

            await asyncio.gather(*(worker() for _ in range(connections)))
    return len(bodies) / (time.perf_counter() - start)


def _message(send_id: str, i: int, subs: list[Subscription]) -> WebPushMessage:
    return WebPushMessage(
        send_id,
        subs[i % len(subs)],
        json.dumps(
            {
                "sub": i % len(subs),
                "title": f"Вітаємо, клієнт {i}!",
                "body": "Ваш кошик чекає: знижка 15% до неділі.",
                "icon": "https://shop.example/icon.png",
                "url": f"https://shop.example/cart?c={i}",
            }
        ).encode(),
        ttl=3600,
        urgency="normal",
    )


CHANNEL_ONLY: list[float] = []  # the same notifications straight to the channel, per run


def _ledger(directory: str, total: int) -> SendLedger:
    """A fresh DuckDB with ``total`` queued push sends (not timed: journeys enqueue ahead)."""
    db = DuckDatabase(os.path.join(directory, f"sends-{time.monotonic_ns()}.duckdb"))
    ledger = SendLedger(db)
    ledger.enqueue([NewSend("ws_bench", i, "msg_push", ("push",), "promo") for i in range(total)])
    return ledger


async def _through_the_ledger(
    ledger: SendLedger, channel: WebPushChannel, subs: list[Subscription]
) -> list[SendResult]:
    """Claim → record the handover → encrypt + POST → settle, batch after batch; the next
    batch is posted while the previous one is being settled."""
    handover = HandoverLog(ledger.record_handover)
    all_results: list[SendResult] = []
    settling: asyncio.Task[int] | None = None
    while batch := await asyncio.to_thread(ledger.claim, 1000):
        await handover.mark_many([(s.send_id, s.attempts) for s in batch])
        results = await channel.send([_message(s.send_id, s.contact_id, subs) for s in batch])
        all_results += results
        if settling is not None:
            await settling
        now = datetime.now(UTC)
        settlements = [
            settle(Attempt(s, "result", result=r), ledger.retry, now)
            for s, r in zip(batch, results, strict=True)
        ]
        settling = asyncio.create_task(ledger.settle(settlements))
    if settling is not None:
        await settling
    return all_results


async def _run(
    origin: str, subs: list[Subscription], total: int, connections: int, directory: str
) -> tuple[float, int, float, float]:
    """(notifications/s, samples decrypted, sender CPU ms and receiver CPU ms per notification)"""
    channel = WebPushChannel(
        VapidKey.generate(), "mailto:bench@retenta.test", connections=connections
    )
    ledger = _ledger(directory, total)
    try:
        warm = [_message(f"w{i}", i, subs) for i in range(min(200, total))]
        await channel.send(warm)  # warm: connections and JWT
        receiver_cpu = (await _stats(origin))["cpu_s"]
        start, cpu = time.perf_counter(), time.process_time()
        results = await _through_the_ledger(ledger, channel, subs)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        direct = [_message(f"d{i}", i, subs) for i in range(total)]
        started_direct = time.perf_counter()
        assert all(r.ok for r in await channel.send(direct))
        CHANNEL_ONLY.append(total / (time.perf_counter() - started_direct))
    finally:
        await channel.close()
    sent = sum(r.ok for r in results)
    if sent != total:
        reasons = {r.reason for r in results if not r.ok}
        raise SystemExit(f"only {sent}/{total} sent: {sorted(reasons)[:3]}")
    with ledger.db.read() as cur:
        statuses = dict(cur.execute("SELECT status, count(*) FROM sends GROUP BY ALL").fetchall())
    ledger.db.close()
    if statuses != {"sent": total}:
        raise SystemExit(f"every send must end sent in the ledger: {statuses}")
    stats = await _stats(origin)
    if stats["bad"]:
        raise SystemExit(f"the receiver refused or failed to decrypt: {stats}")
    receiver_ms = (stats["cpu_s"] - receiver_cpu) * 1000 / total
    return total / elapsed, int(stats["decrypted"]), cpu * 1000 / total, receiver_ms


def _encrypt_rate(subs: list[Subscription], n: int) -> float:
    payload = b"x" * 200
    start = time.process_time()
    for i in range(n):
        encrypt(payload, subs[i % len(subs)])
    return n / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of 2,000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--total", type=int)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--decrypt-every", type=int, default=20)
    args = parser.parse_args()
    total = args.total or (2000 if args.quick else 20000)

    browsers = [
        (ec.generate_private_key(ec.SECP256R1()), os.urandom(16)) for _ in range(SUBSCRIBERS)
    ]
    keys = [
        (
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            auth,
        )
        for k, auth in browsers
    ]
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    subs = [
        Subscription(
            f"{origin}/push/{n}",
            b64url(
                k.public_key().public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
            ),
            b64url(auth),
        )
        for n, (k, auth) in enumerate(browsers)
    ]
    receiver = mp.get_context("spawn").Process(
        target=_receiver, args=(port, keys, args.decrypt_every), daemon=True
    )
    receiver.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the receiver did not start") from None
                time.sleep(0.05)
        print(f"cores: {os.cpu_count()}; before: {_uptime()}")
        enc = _encrypt_rate(subs, 2000)
        print(f"encrypt only (aes128gcm, fresh ECDH key), one core: {enc:,.0f}/s")
        bodies = [
            (s.endpoint.replace("/push/", "/bare/"), encrypt(b"y" * 200, s)) for s in subs
        ] * (total // len(subs))
        scratch = tempfile.mkdtemp(prefix="bench-webpush-sends-")
        rates: list[float] = []
        bares: list[float] = []
        sender_ms: list[float] = []
        decrypted = 0
        for run in range(args.runs):
            bare = asyncio.run(_bare(origin, bodies, args.connections, "aiohttp"))
            rate, decrypted, cpu_ms, recv_ms = asyncio.run(
                _run(origin, subs, total, args.connections, scratch)
            )
            rates.append(rate)
            bares.append(bare)
            sender_ms.append(cpu_ms)
            load = os.getloadavg()
            print(
                f"run {run + 1}: {total:,} notifications, {rate:,.0f}/s over "
                f"{args.connections} connections (channel alone {CHANNEL_ONLY[-1]:,.0f}/s); "
                f"bare aiohttp POST loop {bare:,.0f}/s; "
                f"CPU per notification: sender {cpu_ms:.2f} ms, receiver {recv_ms:.2f} ms "
                f"(load {load[0]:.2f})"
            )
        median = statistics.median(rates)
        cpu_ms = statistics.median(sender_ms)
        httpx_rate = asyncio.run(_bare(origin, bodies[: total // 4], args.connections, "httpx"))
        print(
            f"bare aiohttp loop median {statistics.median(bares):,.0f}/s "
            f"(for the record, a bare httpx 0.28 loop: {httpx_rate:,.0f}/s); sender CPU "
            f"{cpu_ms:.2f} ms per notification → {1000 / cpu_ms:,.0f}/s on one idle core"
        )
        verdict = "met" if median >= BOUND else "NOT met"
        print(
            f"web push through the send path (claim + handover record + encrypt + VAPID + POST"
            f" + settle): median {median:,.0f} notifications/s "
            f"(bound ≥ {BOUND:,.0f}/s: {verdict}); receiver decrypted {decrypted:,} "
            f"samples, all correct"
        )
        print(f"after: {_uptime()}")
    finally:
        receiver.terminate()
        receiver.join(5)


if __name__ == "__main__":
    main()
