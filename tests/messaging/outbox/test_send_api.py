"""POST /api/v1/messages/send: synchronous validation, Idempotency-Key (Stripe's rules), the log."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import add_messages, configure_email, contact
from tests.messaging.smtp_peer import smtp_peer


def post(client: TestClient, ws: Workspace, body: Any, key: str | None = None) -> Any:
    headers = ws.api_headers | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/messages/send", headers=headers, json=body)


def test_validation_names_the_field(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    add_messages(container, ws)
    contact(client, ws, "olena@example.com")
    ok = {
        "message_id": "msg_receipt",
        "contact": {"email": "olena@example.com"},
        "data": {"order_id": "A1"},
    }
    cases = [
        ({**ok, "message_id": "msg_nope"}, "message_id", "unknown_message"),
        ({**ok, "contact": {"email": "nobody@example.com"}}, "contact.email", "unknown_contact"),
        ({**ok, "contact": {"contact_id": 999999}}, "contact.contact_id", "unknown_contact"),
        ({**ok, "contact": {"fax": "1"}}, "contact.fax", "invalid_request"),
        ({**ok, "contact": {"email": "a@b.c", "phone": "+1"}}, "contact", "invalid_request"),
        ({**ok, "data": [1, 2]}, "data", "invalid_request"),
        ({**ok, "channel": "pigeon"}, "channel", "invalid_request"),
        ({**ok, "cascade": ["email", "email"]}, "cascade[1]", "invalid_request"),
        ({**ok, "extra": 1}, "extra", "invalid_request"),
        (ok, "channel", "channel_not_configured"),  # no email config yet
    ]
    for body, field, code in cases:
        r = post(client, ws, body)
        assert r.status_code == 400, (body, r.text)
        assert (r.json()["error"]["field"], r.json()["error"]["code"]) == (field, code), body
    r = client.post("/api/v1/messages/send", headers=ws.api_headers, content=b"{not json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
    r = post(client, ws, ok, key="x" * 300)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "Idempotency-Key"
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "transactional")
        r = post(client, ws, {**ok, "cascade": ["push", "email"]})
        assert r.status_code == 400
        assert r.json()["error"]["field"] == "cascade[0]"
        r = post(client, ws, ok)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        assert r.json()["send_id"].startswith("snd_")


def test_idempotency(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    add_messages(container, ws)
    add_messages(container, other_ws)
    contact(client, ws, "olena@example.com")
    contact(client, other_ws, "olena@example.com")
    body = {
        "message_id": "msg_receipt",
        "contact": {"email": "olena@example.com"},
        "data": {"order_id": "A1"},
    }
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "transactional")
        configure_email(client, other_ws, peer, "transactional")
        first = post(client, ws, body, key="order-A1")
        assert first.status_code == 202
        assert "Idempotent-Replayed" not in first.headers
        # the same body in another key order is the same request
        again = post(client, ws, dict(reversed(list(body.items()))), key="order-A1")
        assert again.status_code == 202
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = post(client, ws, {**body, "data": {"order_id": "A2"}}, key="order-A1")
        assert other.status_code == 409
        assert other.json()["error"]["field"] == "Idempotency-Key"
        # keys are per workspace; no key means no idempotency (a new send each time)
        assert (
            post(client, other_ws, body, key="order-A1").json()["send_id"]
            != first.json()["send_id"]
        )
        a, b = post(client, ws, body), post(client, ws, body)
        assert a.json()["send_id"] != b.json()["send_id"]
        # racing requests with one key make one send
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: post(client, ws, body, key="race").json()["send_id"], range(8))
            )
        assert len(set(answers)) == 1
    with container.db.read() as cur:
        counts = cur.execute(
            "SELECT idempotency_key, count(*) FROM sends WHERE workspace_id = ?"
            " GROUP BY ALL ORDER BY 1",
            [ws.id],
        ).fetchall()
    assert counts == [("order-A1", 1), ("race", 1), (None, 2)]


def test_status_by_id_and_the_delivery_log(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    people = [contact(client, ws, f"p{i}@example.com") for i in range(5)]
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "transactional", "promo")
        ids = []
        for i, person in enumerate(people):
            message = "msg_receipt" if i % 2 == 0 else "msg_promo"
            r = post(
                client,
                ws,
                {"message_id": message, "contact": {"contact_id": person}, "data": {"order_id": i}},
            )
            ids.append(r.json()["send_id"])
        asyncio.run(svc.dispatcher.run_until_idle())
    one = client.get(f"/api/v1/sends/{ids[0]}", headers=ws.api_headers).json()
    assert one["status"] == "sent"
    assert one["attempts"] == 1
    assert one["category"] == "transactional"
    assert [e["status"] for e in one["events"]] == ["queued", "sent"]
    assert client.get(f"/api/v1/sends/{ids[0]}", headers=other_ws.api_headers).status_code == 404
    page = client.get("/api/v1/sends?limit=2", headers=ws.api_headers).json()
    seen = [s["send_id"] for s in page["sends"]]
    while page["next_cursor"]:
        page = client.get(
            f"/api/v1/sends?limit=2&cursor={page['next_cursor']}", headers=ws.api_headers
        ).json()
        seen += [s["send_id"] for s in page["sends"]]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5
    by_contact = client.get(f"/api/v1/sends?contact_id={people[1]}", headers=ws.api_headers).json()[
        "sends"
    ]
    assert [s["send_id"] for s in by_contact] == [ids[1]]
    promo = client.get("/api/v1/sends?message_id=msg_promo", headers=ws.api_headers).json()["sends"]
    assert sorted(s["send_id"] for s in promo) == sorted([ids[1], ids[3]])
    assert promo[0]["versions_used"] == {"blk_hdr": 2}
    sent = client.get("/api/v1/sends?status=sent", headers=ws.api_headers).json()["sends"]
    assert len(sent) == 5
    assert client.get("/api/v1/sends?status=nope", headers=ws.api_headers).status_code == 400
    assert (
        client.get("/api/v1/sends?cursor=zzz", headers=ws.api_headers).json()["error"]["field"]
        == "cursor"
    )
