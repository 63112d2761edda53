"""Crash safety: the dispatcher killed with SIGKILL mid-batch, restarted, and every recipient
has exactly one message at the SMTP server (issue #5's ground rule, at a small size).

The peer kills the dispatcher process from inside its DATA handler, right after it has taken
message K and before it answers 250: the worst moment, "handed to the provider, the answer
not recorded". One SMTP connection keeps the other sends of the batch in known states:
handed (the durable handover record exists) or never handed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.ledger import NewSend
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import contact, email_profile
from tests.messaging.smtp_peer import Handler, smtp_peer

ROOT = Path(__file__).resolve().parents[3]
RECIPIENTS = 60


@dataclass
class Killer:
    """Wraps the peer's DATA handler: SIGKILLs the sender when message ``kill_at`` arrives."""

    handler: Handler
    victim: int | None = None
    kill_at: set[int] = field(default_factory=set)

    def install(self) -> None:
        receive = self.handler.handle_DATA

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            reply = await receive(server, session, envelope)
            if len(self.handler.received) in self.kill_at and self.victim is not None:
                os.kill(self.victim, signal.SIGKILL)  # before the 250 reaches the sender
            return reply

        self.handler.handle_DATA = handle_data  # type: ignore[method-assign]


def worker(data_dir: Path, workspace_id: str, kill_after_sync: int = 0) -> subprocess.Popen[str]:
    env = {**os.environ, "KILL_AFTER_SYNC": str(kill_after_sync or "")}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.messaging.outbox.crash_worker", str(data_dir), workspace_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_killed_after_the_record_is_durable_before_the_final_dot_the_message_goes_again(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The window that used to lose a message: the record of message K durable (fdatasync
    returned), the process killed before its final "." (here on the journal's thread itself;
    in the drills, while that thread waited for the GIL). The server drops the body it has
    without a ".", and the restart reads the pending record without its confirmation, from
    this boot, as "never handed": the message goes out again, once."""
    people = [contact(client, ws, f"k{i:03d}@example.com") for i in range(RECIPIENTS)]
    with smtp_peer() as peer:
        body = email_profile(peer, "promo")
        body["smtp"]["connections"] = 1
        answer = client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=body)
        assert answer.status_code == 200
        svc = for_container(container)
        svc.ledger.enqueue([NewSend(ws.id, c, "msg_promo", ("email",), "promo") for c in people])
        data_dir = container.settings.data_dir
        container.close()
        outputs = []
        for kill_after in (15, 0):  # the 15th message's record is durable, its "." not sent
            process = worker(data_dir, ws.id, kill_after)
            out, err = process.communicate(timeout=120)
            outputs.append((process.returncode, out, err))
        handler = peer.handler
    assert [code for code, _, _ in outputs] == [-signal.SIGKILL, 0], outputs
    reconciled = json.loads(outputs[1][1].splitlines()[0])
    # one connection, one record a group: 14 taken as sent; the 15th (pending, never
    # confirmed) and the 10 after it in the batch queued again
    assert reconciled == {"sent": 14, "queued": 11}
    per_recipient = Counter(r.rcpt_to[0] for r in handler.received)
    assert len(per_recipient) == RECIPIENTS  # the 15th too
    assert set(per_recipient.values()) == {1}
    with duck(data_dir) as conn:
        statuses = conn.execute("SELECT status, count(*) FROM sends GROUP BY ALL").fetchall()
    assert statuses == [("sent", RECIPIENTS)]


def test_killed_twice_mid_batch_every_recipient_gets_exactly_one(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    people = [contact(client, ws, f"r{i:03d}@example.com") for i in range(RECIPIENTS)]
    with smtp_peer() as peer:
        handler = peer.handler
        killer = Killer(handler)
        killer.install()
        body = email_profile(peer, "promo")
        body["smtp"]["connections"] = 1
        assert (
            client.put(
                "/api/v1/channels/email/promo", headers=ws.api_headers, json=body
            ).status_code
            == 200
        )
        svc = for_container(container)
        svc.ledger.enqueue([NewSend(ws.id, c, "msg_promo", ("email",), "promo") for c in people])
        data_dir = container.settings.data_dir
        container.close()  # the file is the workers' now
        killer.kill_at = {15, 38}  # mid-way through the first batch, then the second run's
        outputs = []
        for _ in range(3):
            process = worker(data_dir, ws.id)
            killer.victim = process.pid
            out, err = process.communicate(timeout=120)
            outputs.append((process.returncode, out, err))
    codes = [code for code, _, _ in outputs]
    assert codes == [-signal.SIGKILL, -signal.SIGKILL, 0], outputs
    reconciled = [json.loads(out.splitlines()[0]) for _, out, _ in outputs]
    assert reconciled[0] == {}  # nothing was left sending before the first run
    # batches of 25 over one connection: the first kill comes at message 15 of batch 1, so
    # 15 were handed (taken as sent, never handed again) and 10 never were (queued again);
    # the second at message 38 overall, the 23rd of the second run's first batch
    assert reconciled[1] == {"sent": 15, "queued": 10}
    assert reconciled[2] == {"sent": 23, "queued": 2}
    per_recipient = Counter(r.rcpt_to[0] for r in handler.received)
    assert len(per_recipient) == RECIPIENTS
    assert set(per_recipient.values()) == {1}, [a for a, n in per_recipient.items() if n > 1]
    with duck(data_dir) as conn:
        statuses = conn.execute("SELECT status, count(*) FROM sends GROUP BY ALL").fetchall()
        unconfirmed = conn.execute(
            "SELECT count(*) FROM message_events WHERE status = 'sent'"
            " AND json_extract(properties, '$.unconfirmed')::BOOLEAN"
        ).fetchone()
        sent_events = conn.execute(
            "SELECT count(DISTINCT send_id), count(*) FROM message_events WHERE status = 'sent'"
        ).fetchone()
    assert statuses == [("sent", RECIPIENTS)]
    assert unconfirmed == (15 + 23,)
    assert sent_events == (RECIPIENTS, RECIPIENTS)  # one "sent" per send, never two


def duck(data_dir: Path) -> Any:
    import duckdb

    files = sorted(data_dir.glob("*.duckdb"))
    assert files, list(data_dir.iterdir())
    return duckdb.connect(str(files[0]), read_only=True)
