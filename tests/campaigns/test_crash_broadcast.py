"""The crash test of issue #5 at a small size: the real server (``retenta serve``, a
subprocess) is SIGKILLed three times while it sends a 2,000-recipient campaign and runs a
journey (API entries → a wait → a send), and restarted on the same data directory each
time. At the local aiosmtpd (its own process, never killed) every recipient has exactly one
campaign message and every accepted entry exactly one journey message; every run is done
and every send settled.

A kill after a message's hand-over record is written and before its final "." (in the
``fdatasync`` or the wait for the GIL after it: where the drills lost 1, 4 and 6 recipients
in 3 of 8 runs) leaves a pending record without its confirmation: the restart sends that
message again (docs/messaging-sends.md, "Crash safety"). What remains is a kill within the few
microseconds between the confirmation's write and the "."'s (a loss, never a copy): at
this drill's rate ~0.01-0.04% of kills.

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


def test_killed_three_times_every_recipient_gets_exactly_one_and_no_run_is_lost(
    tmp_path: Path,
) -> None:
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
    # never twice: no recipient has two messages, counted at the server
    assert set(verdict.campaign_copies) == {1}, verdict
    assert set(verdict.journey_copies) == {1}, verdict
    # no run lost, none left behind; every send settled once
    assert verdict.runs == {"done": len(ENTRIES)}
    assert verdict.sends == {"sent": expected}
    # never lost: every recipient and every accepted entry exactly one message
    assert verdict.missing_campaign == [], (kills_at, verdict)
    assert verdict.missing_journey == [], (kills_at, verdict)
    assert verdict.campaign_recipients == RECIPIENTS
    assert verdict.journey_recipients == len(ENTRIES)
    assert arrived == expected
