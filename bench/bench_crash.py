"""Crash drill (issue #5): SIGKILL the server 5 times during a 100,000-recipient broadcast and
a running journey; after the restarts every recipient got exactly one message, counted at
the SMTP server, and no run was lost.

The server is ``retenta serve`` in its own process on one data directory (campaign runner,
journey runner, dispatcher; ``bench/crash_kit.py``). The SMTP server is aiosmtpd in another
process, never killed; it logs ``recipient, Message-ID`` per message. While the campaign
goes out, a feeder enters contacts into a live journey (API entry → a 1-minute wait → a send
→ exit) over HTTP, each entry with its own Idempotency-Key, retrying through the kills.

The first kill comes 1-4 s after the first start (the audience snapshot and queueing, or
the first sends); each next one at a random moment after the next fifth of the campaign
has arrived. After
the last restart the drill waits until every message has arrived (or nothing arrives for a
while), stops the server and checks: per recipient, campaign messages received (copies and
distinct Message-IDs); per accepted entry, one journey message; runs by state; the ledger
by status; how many sends were reconciled as "handed, answer not recorded".

    uv run python -m bench.bench_crash                 # 100,000 recipients, 5 kills
    uv run python -m bench.bench_crash --size 5000     # smaller
    uv run python -m bench.bench_crash --quick         # 2,000 recipients, 3 kills
    uv run python -m bench.bench_crash --quick --repeat 20 --seed 100   # 20 drills in a row
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path

from bench.broadcast_kit import CountingServer
from bench.crash_kit import Feeder, Server, prepare_store, verify, wait_until_quiet


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="campaign recipients")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--entries", type=int, default=1_000, help="journey entries")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 recipients, 3 kills")
    parser.add_argument("--repeat", type=int, default=1, help="drills in a row (seeds seed…)")
    args = parser.parse_args()
    results = []
    for seed in range(args.seed, args.seed + args.repeat):
        results.append(drill_once(args, seed))
        print(f"drill seed {seed}: {'exactly once' if results[-1] else 'NOT exactly once'}; "
              f"{sum(results)} of {len(results)} so far  [{load()}]", flush=True)  # fmt: skip
    if args.repeat > 1:
        print(f"\n{sum(results)} of {len(results)} drills in a row with every recipient exactly "
              f"once and no run lost (bound: {len(results)} of {len(results)})")  # fmt: skip
    return 0 if all(results) else 1


def drill_once(args: argparse.Namespace, seed: int) -> bool:
    size, kills, entries = args.size, args.kills, min(args.entries, args.size)
    wait_minutes = 1
    if args.quick:
        size, kills, entries, wait_minutes = 2_000, 3, 100, 0
    rng = random.Random(seed)
    started = time.perf_counter()
    print(f"load before: {load()}")

    def lap(what: str) -> None:
        print(f"{time.perf_counter() - started:8.1f} s  {what}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-crash-") as scratch:
        tmp = Path(scratch)
        with CountingServer(log=tmp / "smtp.tsv") as smtp:
            drill = prepare_store(tmp / "data", size=size, smtp_port=smtp.port,
                                  wait_minutes=wait_minutes)  # fmt: skip
            lap(f"store ready: {size:,} contacts, campaign scheduled, journey live")
            server = Server(drill.data_dir, tmp / "server.log")
            server.start()
            lap("server started")
            numbers = sorted(rng.sample(range(size), entries))
            feeder = Feeder(server, drill, numbers, pause_s=0.01)
            feeder.start()
            for kill in range(1, kills + 1):
                if kill == 1:  # while the audience is snapshotted and queued, or just after
                    time.sleep(rng.uniform(1.0, 4.0))
                else:
                    wait_until_quiet(smtp, size * (kill - 1) // kills, timeout_s=3600)
                    time.sleep(rng.uniform(0, 1.0))
                at = smtp.count
                server.kill()
                lap(f"kill {kill}: SIGKILL at {at:,} messages received  [{load()}]")
                server.start()
                lap(f"restarted ({server.starts - 1} restarts)")
            feeder.join(3600)
            lap(f"feeder done: {len(feeder.accepted):,} entries accepted, "
                f"{feeder.retries} retried through the kills")  # fmt: skip
            expected = size + len(feeder.accepted)
            arrived = wait_until_quiet(smtp, expected, timeout_s=max(600, size / 20),
                                       quiet_s=90 if wait_minutes else 10)  # fmt: skip
            lap(f"{arrived:,} of {expected:,} messages at the SMTP server")
            server.stop()
            verdict = verify(drill, smtp, feeder.accepted)
    print(f"\nload after: {load()}")
    print(f"campaign: {verdict.campaign_recipients:,} of {size:,} recipients reached; "
          f"messages per recipient {dict(verdict.campaign_copies)}, distinct Message-IDs per "
          f"recipient {dict(verdict.campaign_distinct)}")  # fmt: skip
    print(f"journey: {verdict.entries_accepted:,} entries accepted, "
          f"{verdict.journey_recipients:,} got its message; per recipient "
          f"{dict(verdict.journey_copies)}; runs by state {verdict.runs}")  # fmt: skip
    print(
        f"ledger: {verdict.sends}; {verdict.unconfirmed:,} sends reconciled as handed "
        "(taken as sent, never handed again)"
    )
    if verdict.missing_campaign or verdict.missing_journey:
        print(f"missing: campaign {verdict.missing_campaign}, journey {verdict.missing_journey}")
    runs_ok = verdict.runs == {"done": verdict.entries_accepted}
    ok = verdict.exactly_once and runs_ok and verdict.campaign_recipients == size
    print(f"\nexactly one message per recipient, no run lost, {kills} kills: "
          f"{'MET' if ok else 'NOT MET'}")  # fmt: skip
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
