"""The contact policy in the real send path: the dispatcher holds back what the caps and
quiet hours say, delivers the rest to a real SMTP server, and logs every hold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.outbox.ledger import NewSend
from tests.conftest import Workspace
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, add_messages, configure_email, contact
from tests.messaging.smtp_peer import smtp_peer


def test_a_daily_cap_defers_the_second_promo(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    person = contact(client, ws, "capped@example.com")
    policy = {"caps": [{"channel": "email", "max": 1, "per": {"amount": 1, "unit": "days"}}]}
    assert client.put("/api/v1/policy", headers=ws.api_headers, json=policy).status_code == 200
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "promo", "transactional")
        ids = []
        for message in ("msg_promo", "msg_promo", "msg_receipt"):
            answer = client.post(
                "/api/v1/messages/send", headers=ws.api_headers,
                json={"message_id": message, "contact": {"email": "capped@example.com"},
                      "data": {"order_id": "A-1"}},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["send_id"])
        asyncio.run(svc.dispatcher.run_until_idle())
    assert len(peer.handler.received) == 2  # one promo + the transactional receipt
    with container.db.read() as cur:
        rows = dict(cur.execute(
            "SELECT send_id, status || '/' || attempts FROM sends WHERE send_id IN"
            " (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall())  # fmt: skip
        due = cur.execute("SELECT next_attempt_at FROM sends WHERE status = 'queued'").fetchone()
    assert sorted(rows.values()) == ["queued/0", "sent/1", "sent/1"]
    assert due is not None
    assert due[0] > datetime.now(UTC) + timedelta(hours=23)  # when the rolling day frees
    held = client.get(f"/api/v1/policy/held?contact_id={person}", headers=ws.api_headers)
    [item] = held.json()["items"]
    assert (item["rule"], item["action"]) == ("caps[0]", "defer")


def test_a_trigger_pre_empts_a_promo_in_the_real_send_path(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Both due in one batch; the promo was queued first, the trigger still takes the day's
    only slot, and the promo's ledger row and the log say who displaced it."""
    svc = add_messages(container, ws)
    person = contact(client, ws, "busy@example.com")
    policy = {"caps": [{"channel": "email", "max": 1, "per": {"amount": 1, "unit": "days"}}]}
    assert client.put("/api/v1/policy", headers=ws.api_headers, json=policy).status_code == 200
    promo = NewSend(ws.id, person, "msg_promo", ("email",), "promo", campaign_id="cmp_sale",
                    send_id="snd_sale")  # fmt: skip
    trigger = NewSend(ws.id, person, "msg_promo", ("email",), "trigger", campaign_id="jny_cart",
                      send_id="snd_cart")  # fmt: skip
    svc.ledger.enqueue([promo])
    svc.ledger.enqueue([trigger])
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "promo")
        asyncio.run(svc.dispatcher.run_until_idle())
    assert len(peer.handler.received) == 1
    with container.db.read() as cur:
        rows = dict(cur.execute(
            "SELECT send_id, status || ' ' || coalesce(last_error, '') FROM sends"
            " WHERE send_id IN ('snd_sale', 'snd_cart')").fetchall())  # fmt: skip
    assert rows["snd_cart"].startswith("sent")
    assert rows["snd_sale"].startswith("queued policy caps[0]: pre-empted by snd_cart (trigger")
    held = client.get(f"/api/v1/policy/held?contact_id={person}", headers=ws.api_headers)
    [item] = held.json()["items"]
    assert (item["send_id"], item["rule"], item["displaced_by"], item["priority"]) == (
        "snd_sale", "caps[0]", "snd_cart", 100)  # fmt: skip
