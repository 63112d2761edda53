"""The consent run: N recipients, 10% unsubscribed / suppressed / unconsented; count arrivals.

Issue #4's figure: "a 100,000-recipient run in which 10% of contacts are unsubscribed,
suppressed or unconsented for the channel: exactly 0 messages reach them (counted at the
SMTP server)". The contacts, identities and consent rows are bulk-loaded (Arrow) into a
temporary database; every batch then goes through the product path,
``dispatch.send_email_batch`` (gate → render → MIME → SMTP → events), to an aiosmtpd
server in its own process that records each RCPT address. The run fails (exit 1) unless
the server got exactly the allowed addresses, each once.

    uv run --frozen python bench/bench_consent.py [--n 100000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from retenta.app import build_container
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.dispatch import send_email_batch
from retenta.messaging.email.mime import Recipient
from retenta.messaging.email.profiles import Composer, SendingProfile, SendRequest, SmtpServer
from retenta.messaging.email.render import EmailVersion, compile_email
from retenta.messaging.services import build
from retenta.messaging.signing import new_send_id
from retenta.messaging.suppression import Entry
from retenta.settings import Settings

MJML = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ contact.first_name | default('friend')"
    " }}, the sale is on.</mj-text></mj-column></mj-section></mj-body></mjml>"
)
BATCH = 2000


def kind_of(n: int) -> str:
    """Who recipient ``n`` is: 90% subscribed, the rest unsubscribed / suppressed / never asked."""
    return {0: "unsubscribed", 1: "suppressed", 2: "unconsented"}.get(n % 30, "subscribed")


def run_server(port: int, out_path: str, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    received: list[str] = []

    class Recording:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.extend(envelope.rcpt_tos)
            return "250 2.0.0 Ok: queued"

    controller = Controller(Recording(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    Path(out_path).write_text("\n".join(received), encoding="utf-8")


def load_people(container: Any, ws: str, n: int) -> None:
    """Bulk-load contacts, email identities and consent rows (benchmark setup, not the product
    path: the product's own import runs at ~100k rows/s the same way)."""
    now = datetime.now(UTC)
    ids = list(range(1, n + 1))
    ts = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
    contacts = pa.table({"workspace_id": [ws] * n, "id": ids, "created_at": ts, "updated_at": ts})
    identities = pa.table({
        "workspace_id": [ws] * n, "type": ["email"] * n,
        "value": [f"r{i}@example.com" for i in ids], "contact_id": ids,
        "first_seen": ts, "last_seen": ts,
    })  # fmt: skip
    consenting = [i for i in ids if kind_of(i) in ("subscribed", "suppressed", "unsubscribed")]
    status = ["unsubscribed" if kind_of(i) == "unsubscribed" else "subscribed" for i in consenting]
    m = len(consenting)
    cts = pa.array([now] * m, pa.timestamp("us", tz="UTC"))
    consents = pa.table({
        "workspace_id": [ws] * m, "contact_id": consenting, "channel": ["email"] * m,
        "topic": ["*"] * m, "status": status, "source": ["bench"] * m, "changed_at": cts,
    })  # fmt: skip

    def work(conn: Any) -> None:
        for name, table in (("contacts", contacts), ("identities", identities),
                            ("consents", consents)):  # fmt: skip
            conn.register("_bench", table)
            cols = ", ".join(table.column_names)
            conn.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _bench")
            conn.unregister("_bench")

    container.db.write(work)


async def send_all(container: Any, ws: str, n: int, port: int) -> dict[str, int]:
    svc = build(container)
    await svc.suppressions.add(
        ws, [Entry("email", f"r{i}@example.com", "hard_bounce", "bench")
             for i in range(1, n + 1) if kind_of(i) == "suppressed"]
    )  # fmt: skip
    profile = SendingProfile(
        name="promo", from_address="news@shop.example",
        smtp=SmtpServer(host="127.0.0.1", port=port, tls="none", connections=8),
    )  # fmt: skip
    composer = Composer(profile, svc.keyring.workspace(ws))
    email = compile_email("sale", {"en": EmailVersion(subject="Sale", mjml=MJML)})
    channel = SmtpChannel.for_profile(profile)
    outcomes: dict[str, int] = {}
    try:
        for first in range(1, n + 1, BATCH):
            requests = [
                SendRequest(new_send_id(), Recipient(ws, i, f"r{i}@example.com"), {"contact": {}},
                            campaign_id="bench")
                for i in range(first, min(first + BATCH, n + 1))
            ]  # fmt: skip
            results = await send_email_batch(
                db=container.db, gate=svc.gate, composer=composer, channel=channel,
                email=email, requests=requests, workspace_id=ws,
            )  # fmt: skip
            for r in results:
                key = r.detail if r.detail == "suppressed" else r.outcome.value
                outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        await channel.close()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="3,000 recipients")
    args = parser.parse_args()
    n = 3000 if args.quick else args.n
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp) / "data", background_workers=False))
        ws = container.tenancy.create_workspace(name="bench")
        load_people(container, ws, n)
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        out_path = str(Path(tmp) / "received.txt")
        ready, stop = mp.Event(), mp.Event()
        server = mp.Process(target=run_server, args=(port, out_path, ready, stop))
        server.start()
        ready.wait(30)
        started = time.perf_counter()
        outcomes = asyncio.run(send_all(container, ws, n, port))
        elapsed = time.perf_counter() - started
        stop.set()
        server.join(60)
        received = Path(out_path).read_text(encoding="utf-8").split("\n")
        container.close()
    allowed = {f"r{i}@example.com" for i in range(1, n + 1) if kind_of(i) == "subscribed"}
    blocked_hits = [a for a in received if a not in allowed]
    ok = not blocked_hits and len(received) == len(set(received)) == len(allowed)
    print(f"recipients {n:,}: allowed {len(allowed):,}, blocked {n - len(allowed):,}"
          f" ({(n - len(allowed)) / n:.0%}); outcomes {outcomes}")  # fmt: skip
    print(f"arrived at the SMTP server: {len(received):,} (distinct {len(set(received)):,});"
          f" to blocked contacts: {len(blocked_hits)} (bound: exactly 0)")  # fmt: skip
    print(f"{elapsed:.1f} s, {n / elapsed:,.0f} recipients/s; load {os.getloadavg()[0]:.1f}"
          f" (1 min) on {os.cpu_count()} cores")  # fmt: skip
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
