"""Two dispatch rounds in flight: a contact with a send in one round waits for it to settle
before another round delivers the next (the contact policy counts settled sends only)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.ledger import NewSend
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import add_messages, configure_email, contact
from tests.messaging.smtp_peer import smtp_peer


def test_a_contact_in_flight_in_another_round_waits_a_second(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    busy = contact(client, ws, "busy@example.com")
    free = contact(client, ws, "free@example.com")
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "promo")
        svc.ledger.enqueue([NewSend(ws.id, c, "msg_promo", ("email",), "promo")
                            for c in (busy, free, free)])  # fmt: skip
        claimed = svc.ledger.claim(10)
        svc.dispatcher._in_flight.add((ws.id, busy))  # another round is delivering to it
        started = datetime.now(UTC)
        asyncio.run(svc.dispatcher.deliver(claimed))
    got = sorted(r.rcpt_to[0] for r in peer.handler.received)
    assert got == ["free@example.com", "free@example.com"]  # one round: both of its own
    with container.db.read() as cur:
        row = cur.execute("SELECT status, attempts, next_attempt_at FROM sends"
                          " WHERE contact_id = ?", [busy]).fetchone()  # fmt: skip
    assert row is not None
    status, attempts, due = row
    assert (status, attempts) == ("queued", 0)  # the claim's attempt is not counted
    assert started + timedelta(seconds=0.9) <= due <= datetime.now(UTC) + timedelta(seconds=1)
    assert svc.dispatcher._in_flight == {(ws.id, busy)}  # the other round's, untouched
