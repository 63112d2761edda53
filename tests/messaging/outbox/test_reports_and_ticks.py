"""Reports move the send, SMPP receipts reach the ledger, the Viber TTL sweep runs on the
dispatcher's tick — each through the real send path against the providers' local peers
(SMS's SMSC peer speaking SMPP, the Vonage peer signing its status webhooks)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.channels.sms.smpp import SmppConfig
from retenta.messaging.outbox.content import StaticText
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.channels.test_smpp import SmscPeer, serve, wait_for
from tests.messaging.channels.test_viber import (  # noqa: F401 - peer is a fixture
    VonagePeer,
    peer,
    post_status,
    setup_workspace,
)


def person(client: TestClient, ws: Workspace, phone: str, channel: str) -> int:
    body: dict[str, Any] = {
        "identifiers": {"phone": phone},
        "consents": [{"channel": channel, "topic": "*", "status": "subscribed"}],
    }
    r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def send(client: TestClient, ws: Workspace, message_id: str, contact_id: int, channel: str) -> str:
    body = {"message_id": message_id, "contact": {"contact_id": contact_id}, "channel": channel}
    r = client.post("/api/v1/messages/send", headers=ws.api_headers, json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["send_id"])


def state(client: TestClient, ws: Workspace, send_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_smpp_receipts_move_sends_to_delivered_and_failed(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = for_container(container)
    svc.static_content.add(ws.id, "msg_code", "sms", StaticText({"text": "Код 4812"}, "promo"))
    ok = person(client, ws, "+380501234567", "sms")
    lost = person(client, ws, "+380500000002", "sms")  # the peer answers UNDELIV for it
    ids: list[str] = []

    async def body(smsc: SmscPeer, config: SmppConfig) -> None:
        stored = config.model_dump(mode="json") | {"password": "secret"}
        r = client.put("/api/v1/channels/sms/default", headers=ws.api_headers, json=stored)
        assert r.status_code == 200, r.text
        ids.extend(send(client, ws, "msg_code", c, "sms") for c in (ok, lost))
        await svc.dispatcher.run_until_idle()

        def settled() -> bool:
            return [state(client, ws, i)["status"] for i in ids] == ["delivered", "failed"]

        try:
            await wait_for(settled, 5.0)  # receipts arrive on the bind, after submit_sm_resp
        finally:
            await svc.dispatcher.stop()  # closes the cached SMPP channel (unbind)

    smsc = serve(body)
    assert len(smsc.submitted) == 2
    delivered, failed = (state(client, ws, i) for i in ids)
    # a receipt may be recorded before the settle's "sent" (it often is, locally)
    assert sorted(e["status"] for e in delivered["events"]) == ["delivered", "queued", "sent"]
    assert sorted(e["status"] for e in failed["events"]) == ["failed", "queued", "sent"]
    [report] = [e for e in failed["events"] if e["status"] == "failed"]
    assert report["properties"]["provider"] == "smpp"
    assert delivered["remote_id"]  # the settle kept the provider's id even if a receipt beat it


def test_viber_reports_and_the_ttl_sweep_on_the_dispatcher_tick(
    client: TestClient,
    container: Container,
    ws: Workspace,
    peer: VonagePeer,  # noqa: F811
) -> None:
    svc = for_container(container)
    setup_workspace(client, ws, peer)  # viber "main" with the SMS fallback "backup"
    svc.static_content.add(ws.id, "msg_v", "viber", StaticText({"text": "Знижка 20%"}, "promo"))
    seen = person(client, ws, "+380501234567", "viber")
    silent = person(client, ws, "+380501234999", "viber")
    seen_id, silent_id = (send(client, ws, "msg_v", c, "viber") for c in (seen, silent))

    async def dispatch() -> None:
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()

    asyncio.run(dispatch())
    assert [m["client_ref"] for m in sorted(peer.messages, key=lambda m: m["to"])] == [
        seen_id, silent_id
    ]  # fmt: skip
    assert {state(client, ws, i)["status"] for i in (seen_id, silent_id)} == {"sent"}
    # the provider's signed "delivered" webhook moves the send itself, once
    message = next(m for m in peer.messages if m["client_ref"] == seen_id)
    for status in ("delivered", "delivered", "read"):
        assert post_status(client, *peer.status(message, status)) == 204
    moved = state(client, ws, seen_id)
    assert moved["status"] == "delivered"
    assert [e["status"] for e in moved["events"]] == ["queued", "sent", "delivered", "opened"]
    # nothing due yet: the tick sends nothing
    assert asyncio.run(svc.dispatcher.run_ticks(force=True)) == {"viber_fallback_sweep": 0}
    container.db.write(
        lambda conn: conn.execute(
            "UPDATE viber_fallbacks SET deadline = now() - INTERVAL 1 SECOND"
            " WHERE send_id = ? AND state = 'pending'",
            [silent_id],
        )
    )  # its TTL has passed with no report
    # the loop runs it at most every 15 s (it just ran); forced, as the loop would later
    assert asyncio.run(svc.dispatcher.run_ticks()) == {"viber_fallback_sweep": None}
    assert asyncio.run(svc.dispatcher.run_ticks(force=True)) == {"viber_fallback_sweep": 1}
    assert asyncio.run(svc.dispatcher.run_ticks(force=True)) == {"viber_fallback_sweep": 0}
    assert [(s["to"], s["text"], s["ref"]) for s in peer.sms] == [
        ("+380501234999", "Знижка 20%", silent_id)
    ]
    fallen = state(client, ws, silent_id)
    assert [(e["channel"], e["status"]) for e in fallen["events"]][-1] == ("sms", "sent")
    assert fallen["events"][-1]["properties"]["fallback_of"] == "viber"
