"""The cascade node through the real send path: the dispatcher hands the email to a local SMTP
server that never confirms delivery, so after ``within`` the run moves on; channels the
contact cannot receive (no push target) or has not consented to (Viber) are skipped with the
reason in the trace; the SMS goes to a local Twilio peer whose signed "delivered" callback
ends the cascade at once (not at the end of ``within``), and a message-status condition
reads it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.engine import cascade_send_id
from retenta.journeys.service import for_container
from retenta.messaging.outbox.content import StaticText
from tests.conftest import Workspace
from tests.journeys.test_nodes_store import table
from tests.journeys.test_runs import journey, runs, track
from tests.messaging.channels.test_sms_http import ACCOUNT, TOKEN, TwilioPeer
from tests.messaging.channels.test_sms_webhooks import twilio_sign
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, add_messages, configure_email
from tests.messaging.smtp_peer import smtp_peer

CASCADE = {
    "name": "Cart rescue",
    "entry": {"trigger": {"type": "event", "event": "Checkout Started"}},
    "start": "cas",
    "nodes": [
        {"id": "cas", "type": "cascade", "message_id": "msg_promo", "category": "promo",
         "channels": ["push", "email", "viber", "sms"], "move_on": "not_delivered",
         "within": {"amount": 1, "unit": "hours"}, "next": "got"},
        {"id": "got", "type": "condition",
         "if": {"kind": "message", "node": "cas", "status": "delivered"},
         "then": "reached", "else": "missed"},
        {"id": "reached", "type": "exit"},
        {"id": "missed", "type": "exit"},
    ],
}  # fmt: skip


def person(client: TestClient, ws: Workspace) -> int:
    body: dict[str, Any] = {
        "identifiers": {
            "external_id": "u1",
            "email": "olena@example.com",
            "phone": "+380501234567",
        },
        "consents": [
            {"channel": "email", "topic": "*", "status": "subscribed"},
            {"channel": "sms", "topic": "*", "status": "subscribed"},
        ],
    }  # fmt: skip  (no push target, no Viber consent)
    r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def ledger(container: Container, journey_id: str) -> dict[str, tuple[str, str]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT send_id, channel, status FROM sends WHERE campaign_id = ?", [journey_id]
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def reasons(client: TestClient, ws: Workspace, contact_id: int) -> list[tuple[str, str]]:
    trace = client.get(f"/api/v1/contacts/{contact_id}/journey-trace", headers=ws.api_headers)
    return [(i["decision"], i["reason"]) for i in reversed(trace.json()["items"])]


def twilio_delivered(client: TestClient, ws: Workspace, peer: TwilioPeer, send_id: str) -> None:
    """Twilio's signed status callback saying the SMS was delivered."""
    [form] = peer.received
    sid = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers).json()["remote_id"]
    params = {"AccountSid": ACCOUNT, "MessageSid": sid, "MessageStatus": "delivered",
              "To": form["To"], "From": form["From"]}  # fmt: skip
    url = form["StatusCallback"]
    r = client.post(url.removeprefix("https://retenta.example"), data=params,
                    headers={"X-Twilio-Signature": twilio_sign(TOKEN, url, params)})  # fmt: skip
    assert r.status_code == 204


async def twilio(client: TestClient, ws: Workspace, peer: TwilioPeer) -> web.AppRunner:
    """A local Twilio peer and the workspace's SMS channel pointing at it."""
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", peer.create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    callbacks = f"https://retenta.example/hooks/sms/twilio/{ws.id}/default"
    config = {"provider": "twilio", "account_sid": ACCOUNT, "auth_token": TOKEN,
              "sender": "+15005550006", "api_base": f"http://127.0.0.1:{port}",
              "status_callback_base": callbacks}  # fmt: skip
    r = client.put("/api/v1/channels/sms/default", headers=ws.api_headers, json=config)
    assert r.status_code == 200, r.text
    return runner


def test_the_cascade_moves_on_when_the_provider_never_confirms_delivery(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    svc.static_content.add(ws.id, "msg_promo", "sms", StaticText({"text": "Your cart"}, "promo"))
    contact_id = person(client, ws)
    journey_id = journey(client, ws, CASCADE)
    runner = for_container(container).runner
    sms_peer = TwilioPeer()
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "promo", "transactional")
        track(client, ws, "Checkout Started", cart_id="C-1")
        start = datetime.now(UTC)
        runner.tick(start)
        [run_id] = [r[0] for r in runs(container, journey_id)]
        email, sms = cascade_send_id(run_id, "cas", 1), cascade_send_id(run_id, "cas", 3)
        assert ledger(container, journey_id) == {email: ("email", "queued")}

        async def main() -> None:
            gateway = await twilio(client, ws, sms_peer)
            try:
                await svc.dispatcher.run_until_idle()
                assert len(peer.handler.received) == 1  # handed over; SMTP never confirms
                assert ledger(container, journey_id) == {email: ("email", "sent")}
                assert runner.tick(start + timedelta(minutes=30)) == 0  # within the hour
                runner.tick(start + timedelta(hours=1, minutes=1))
                assert ledger(container, journey_id) == {email: ("email", "sent"),
                                                         sms: ("sms", "queued")}  # fmt: skip
                await svc.dispatcher.run_until_idle()
                await svc.dispatcher.stop()
            finally:
                await gateway.cleanup()

        asyncio.run(main())
    assert ledger(container, journey_id) == {email: ("email", "sent"), sms: ("sms", "sent")}
    assert runs(container, journey_id)[0][2:4] == ("active", "cas")
    [waiting_for] = [r[0] for r in table(container, "SELECT waiting_for FROM journey_runs")]
    assert waiting_for == f"report:delivered:{sms}"
    runner.reports.every_s = 0
    soon = start + timedelta(hours=1, minutes=1, seconds=30)  # the SMS waits until 2h01m
    assert runner.tick(soon) == 0  # no report yet: the wait goes on
    twilio_delivered(client, ws, sms_peer, sms)
    runner.tick(soon)  # the report wakes the run at once, not at the end of ``within``
    assert runs(container, journey_id)[0][2:4] == ("done", "reached")
    assert reasons(client, ws, contact_id)[1:] == [
        ("skipped", "push: no push subscription or device"),
        ("sent", f"msg_promo on email queued as {email}"),
        ("waiting", "for email to be delivered within 1 hours of its hand-over"),
        ("skipped", "email left: not delivered within 1 hours"),
        ("skipped", "viber: no_consent"),
        ("sent", f"msg_promo on sms queued as {sms}"),
        ("waiting", "for sms to be delivered within 1 hours of its hand-over"),
        ("branch", "sms delivered"),
        ("branch", "cas's message delivered: yes"),
        ("exit", "reached the exit"),
    ]


def test_a_replayed_cascade_step_sends_each_channel_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    add_messages(container, ws)
    person(client, ws)
    journey_id = journey(client, ws, CASCADE)
    track(client, ws, "Checkout Started", cart_id="C-1")
    runner = for_container(container).runner
    now = datetime.now(UTC)
    claimed = container.db.write(lambda conn: conn.execute(
        "SELECT run_id, workspace_id, journey_id, version, contact_id, node_id,"
        " node_entered_at, entered_at, context, wake_at FROM journey_runs").fetchall())  # fmt: skip
    runner._queue_sends(runner._steps(claimed, now))  # "dies" here: queued, run not saved
    runner.tick(now + timedelta(seconds=1))
    runner.tick(now + timedelta(seconds=2))
    assert [c for c, _ in ledger(container, journey_id).values()] == ["email"]
