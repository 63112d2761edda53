"""The consent run through the durable outbox: 10% blocked three ways; count arrivals.

Issue #4's figure: "a 100,000-recipient run in which 10% of contacts are unsubscribed,
suppressed or unconsented for the channel: exactly 0 messages reach them (counted at the
SMTP server)", measured through today's send path (``bench_consent.py`` measured it by
calling ``dispatch.send_email_batch`` directly).

Set-up (not timed) is ``bench.broadcast_kit.prepare``: N consented contacts, a segment of
all of them, an email profile pointing at a local aiosmtpd in its own process, a stored
message and a draft campaign to the segment. Then one contact in ten is blocked, a third
of them each way: a later ``unsubscribed`` consent row (the consent history's latest row
wins), a hard-bounce suppression of its address, or its consent row removed (never
asked). The segment still holds all N, so every one of them is queued and the blocked
ones must be stopped by the dispatcher.

Timed: ``CampaignServices.schedule`` (what ``POST /campaigns/{id}/schedule`` calls) → the
campaign runner snapshots the segment and queues N sends in the ledger → the dispatcher
claims batches → contact lookup → contact policy → the email step's consent + suppression
gate → render → DKIM → hand-over journal → SMTP → settle, until every send is settled.
The server logs each message's envelope recipient (the product sends one RCPT per
message). Exit 1 unless it got exactly the allowed addresses, each once, and none of the
blocked.

    uv run python -m bench.bench_consent_outbox             # 100,000 recipients
    uv run python -m bench.bench_consent_outbox --quick     # 5,000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.bench_broadcast import load
from bench.broadcast_kit import CountingServer, Setup, address, prepare
from retenta.app import Container, build_container, create_app
from retenta.campaigns.service import for_container as campaigns
from retenta.messaging.services import for_container as messaging
from retenta.messaging.suppression import Entry
from retenta.settings import Settings

CONNECTIONS = 8
KINDS = ("unsubscribed", "suppressed", "unconsented")


def kind_of(number: int) -> str:
    """Who contact ``number`` is: 90% subscribed, the rest blocked one of three ways."""
    return KINDS[number % 30] if number % 30 < 3 else "subscribed"


def block(container: Container, ws: str, size: int) -> dict[str, list[int]]:
    """Make 10% of the contacts blocked; contact ids per kind."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT value, contact_id FROM identities WHERE workspace_id = ? AND type = 'email'",
            [ws],
        ).fetchall()
    contact = {str(r[0]): int(r[1]) for r in rows}
    ids: dict[str, list[int]] = {k: [] for k in KINDS}
    for number in range(size):
        if (kind := kind_of(number)) != "subscribed":
            ids[kind].append(contact[address(number)])
    later = datetime.now(UTC) + timedelta(seconds=1)

    def work(conn: Any) -> None:
        conn.execute(
            "INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source,"
            " changed_at) SELECT ?, unnest(?::BIGINT[]), 'email', '*', 'unsubscribed',"
            " 'bench', ?",
            [ws, ids["unsubscribed"], later],
        )
        conn.execute(
            "DELETE FROM consents WHERE workspace_id = ? AND contact_id IN"
            " (SELECT unnest(?::BIGINT[]))",
            [ws, ids["unconsented"]],
        )

    container.db.write(work)
    entries = [
        Entry("email", address(n), "hard_bounce", "bench")
        for n in range(size)
        if kind_of(n) == "suppressed"
    ]
    asyncio.run(messaging(container).suppressions.add(ws, entries))
    return ids


def progress(container: Container, setup: Setup) -> tuple[int, int]:
    """``(sends of the campaign, of them still queued or sending)``."""
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IN ('queued', 'sending'))"
            " FROM sends WHERE workspace_id = ? AND campaign_id = ?",
            [setup.workspace_id, setup.campaign_id],
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def run(container: Container, setup: Setup, size: int) -> float:
    """Schedule the campaign, run the runner and dispatcher until all N sends are settled."""
    svc, camp = messaging(container), campaigns(container)
    started = time.perf_counter()
    await camp.schedule(setup.workspace_id, setup.campaign_id, None)
    await camp.runner.start()
    await svc.dispatcher.start()
    deadline = started + max(600.0, size / 50)
    try:
        while True:
            total, open_ = await asyncio.to_thread(progress, container, setup)
            if total == size and open_ == 0:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{total} of {size} sends queued, {open_} unsettled")
            await asyncio.sleep(0.1)
        return time.perf_counter() - started
    finally:
        await svc.dispatcher.stop()
        await camp.runner.stop()


def outcomes(container: Container, setup: Setup, ids: dict[str, list[int]]) -> dict[str, Any]:
    """Each kind's sends by status and reason (``last_error``)."""
    kind_by_id = {cid: kind for kind, members in ids.items() for cid in members}
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, status, coalesce(last_error, '') FROM sends"
            " WHERE workspace_id = ? AND campaign_id = ?",
            [setup.workspace_id, setup.campaign_id],
        ).fetchall()
    out: dict[str, Counter[str]] = {}
    for contact_id, status, reason in rows:
        kind = kind_by_id.get(int(contact_id), "subscribed")
        label = f"{status}: {reason[:40]}" if reason else str(status)
        out.setdefault(kind, Counter())[label] += 1
    return {kind: dict(counts) for kind, counts in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="recipients")
    parser.add_argument("--quick", action="store_true", help="5,000 recipients")
    args = parser.parse_args()
    n = 5_000 if args.quick else args.n
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-consent-") as scratch:
        log = Path(scratch) / "received.tsv"
        with CountingServer(log=log) as server:
            container = build_container(
                Settings(data_dir=Path(scratch) / "data", background_workers=False)
            )
            began = time.perf_counter()
            setup = prepare(container, TestClient(create_app(container)), size=n,
                            smtp_port=server.port, connections=CONNECTIONS)  # fmt: skip
            ids = block(container, setup.workspace_id, n)
            print(f"set-up: {n:,} contacts, segment, profile, message, campaign, "
                  f"{sum(map(len, ids.values())):,} blocked in "
                  f"{time.perf_counter() - began:.1f} s (not timed)")  # fmt: skip
            elapsed = asyncio.run(run(container, setup, n))
            during = load()
            time.sleep(1.0)  # anything still in flight reaches the log
            received = [recipient for recipient, _ in server.received()]
            messages = server.count
            by_kind = outcomes(container, setup, ids)
            container.close()
    allowed = {address(i) for i in range(n) if kind_of(i) == "subscribed"}
    blocked = {address(i) for i in range(n)} - allowed
    blocked_hits = [a for a in received if a in blocked]
    strangers = [a for a in received if a not in allowed and a not in blocked]
    ok = (
        not blocked_hits
        and not strangers
        and messages == len(received)
        and len(received) == len(set(received))
        and set(received) == allowed
    )
    print(f"recipients {n:,}: allowed {len(allowed):,}, blocked {len(blocked):,} "
          f"({len(blocked) / n:.0%}: " + ", ".join(f"{k} {len(v):,}" for k, v in ids.items())
          + ")")  # fmt: skip
    for kind, counts in by_kind.items():
        print(f"  sends of {kind}: {counts}")
    print(f"arrived at the SMTP server: {len(received):,} messages (distinct recipients "
          f"{len(set(received)):,}, server count {messages:,}); allowed reached "
          f"{len(set(received) & allowed):,} of {len(allowed):,}; blocked reached "
          f"{len(blocked_hits)} (bound: exactly 0); unknown {len(strangers)}")  # fmt: skip
    print(f"schedule → all {n:,} settled: {elapsed:.1f} s, {n / elapsed:,.0f} sends/s  "
          f"[{during}]")  # fmt: skip
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
