"""The crash test of issue #5 at a small size: the real server (``retenta serve``, a
subprocess) is SIGKILLed three times while it sends a 2,000-recipient campaign and runs a
journey (API entries → a wait → a send), and restarted on the same data directory each
time. At the local aiosmtpd (its own process, never killed) every recipient has exactly one
campaign message, every accepted journey entry exactly one journey message, every run is
done and every send settled.

The kills come at random moments (a seeded offset after each third of the campaign has
arrived), not at a chosen point of the protocol: ``tests/messaging/outbox/test_crash.py``
kills at the worst point deliberately.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.broadcast_kit import CountingServer
from bench.crash_kit import Feeder, Server, prepare_store, verify, wait_until_quiet

RECIPIENTS = 2_000
ENTRIES = list(range(0, RECIPIENTS, 40))  # 50 contacts also enter the journey
KILLS = 3


def test_killed_three_times_every_recipient_gets_exactly_one(tmp_path: Path) -> None:
    rng = random.Random(5)
    with CountingServer(log=tmp_path / "smtp.tsv") as smtp:
        drill = prepare_store(tmp_path / "data", size=RECIPIENTS, smtp_port=smtp.port,
                              wait_minutes=0)  # fmt: skip
        server = Server(drill.data_dir, tmp_path / "server.log")
        server.start()
        feeder = Feeder(server, drill, ENTRIES, pause_s=0.05)
        feeder.start()
        kills_at = []
        for kill in range(1, KILLS + 1):
            reached = wait_until_quiet(smtp, RECIPIENTS * kill // (KILLS + 1), timeout_s=60)
            time.sleep(rng.uniform(0, 0.3))
            kills_at.append(smtp.count)
            server.kill()
            assert reached < RECIPIENTS, "the campaign finished before the kill"
            server.start()
        feeder.join(60)
        expected = RECIPIENTS + len(ENTRIES)
        arrived = wait_until_quiet(smtp, expected, timeout_s=60, quiet_s=15)
        server.stop()
    verdict = verify(drill, smtp, feeder.accepted)
    assert server.starts == KILLS + 1
    assert len(feeder.accepted) == len(ENTRIES)
    assert verdict.missing_campaign == [], (kills_at, verdict)
    assert verdict.missing_journey == [], (kills_at, verdict)
    assert verdict.exactly_once, verdict
    assert arrived == expected
    assert verdict.campaign_recipients == RECIPIENTS
    assert verdict.journey_recipients == len(ENTRIES)
    assert verdict.runs == {"done": len(ENTRIES)}  # no run lost, none left behind
    assert verdict.sends == {"sent": expected}  # every send settled, none twice
