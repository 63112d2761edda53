"""Consent and suppression at send time, end to end: nobody unconsented or suppressed is sent
to (counted at a real aiosmtpd), the suppression API, one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.consent import may_send
from retenta.messaging.context import ContactVars, RenderContext
from retenta.messaging.dispatch import send_email_batch
from retenta.messaging.email.examples import promo_version
from retenta.messaging.email.mime import Category, Recipient
from retenta.messaging.email.profiles import Composer, SendingProfile, SendRequest, SmtpServer
from retenta.messaging.email.render import compile_email
from retenta.messaging.services import MessagingServices, build
from retenta.messaging.signing import new_send_id
from retenta.messaging.suppression import Entry
from tests.conftest import Workspace
from tests.messaging.smtp_peer import Peer, smtp_peer

EMAIL = compile_email("promo", {"en": promo_version("en")}, default_language="en")


@pytest.mark.parametrize(
    ("state", "kwargs", "allowed", "reason"),
    [
        ({("email", "*"): "subscribed"}, {}, True, "subscribed"),
        ({("email", "*"): "subscribed"}, {"topic": "news"}, True, "subscribed"),
        ({("email", "*"): "subscribed", ("email", "news"): "unsubscribed"}, {"topic": "news"},
         False, "unsubscribed:news"),
        ({("email", "*"): "unsubscribed", ("email", "news"): "subscribed"}, {"topic": "news"},
         False, "unsubscribed"),
        ({("email", "news"): "subscribed"}, {"topic": "news"}, True, "subscribed:news"),
        ({("email", "news"): "subscribed"}, {}, False, "no_consent"),
        ({("email", "*"): "pending"}, {}, False, "pending"),
        ({("sms", "*"): "subscribed"}, {}, False, "no_consent"),
        ({}, {"category": "transactional"}, True, "transactional"),
        ({("email", "*"): "unsubscribed"}, {"category": "transactional"}, True, "transactional"),
        ({}, {"category": "transactional", "suppression": "hard_bounce"}, False,
         "suppressed:hard_bounce"),
        ({("email", "*"): "subscribed"}, {"suppression": "complaint"}, False,
         "suppressed:complaint"),
    ],
)  # fmt: skip
def test_policy(state: Any, kwargs: dict[str, Any], allowed: bool, reason: str) -> None:
    decision = may_send(state, channel="email", **kwargs)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def contact(client: TestClient, ws: Workspace, email: str, consents: list[dict[str, str]]) -> int:
    response = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={"identifiers": {"email": email}, "language": "en", "consents": consents},
    )
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def sub(status: str, topic: str = "*") -> dict[str, str]:
    return {"channel": "email", "topic": topic, "status": status}


def profile(peer: Peer, category: Category) -> SendingProfile:
    return SendingProfile(
        name=category.value,
        category=category,
        from_address="news@shop.example",
        bounce_domain="bounces.shop.example",
        unsubscribe_base_url="http://testserver/u/",
        smtp=SmtpServer(host="127.0.0.1", port=peer.port, tls="none", connections=2),
    )


def send(
    container: Container,
    svc: MessagingServices,
    ws: Workspace,
    peer: Peer,
    people: dict[str, int],
    *,
    category: Category = Category.MARKETING,
    topic: str | None = None,
) -> list[SendResult]:
    prof = profile(peer, category)
    composer = Composer(prof, svc.keyring.workspace(ws.id))
    requests = [
        SendRequest(
            send_id=new_send_id(),
            recipient=Recipient(ws.id, contact_id, address),
            variables=RenderContext(
                contact=ContactVars(contact_id=contact_id, email=address)
            ).variables(),
            campaign_id="cmp_consent",
        )
        for address, contact_id in people.items()
    ]

    async def run() -> list[SendResult]:
        channel = SmtpChannel.for_profile(prof)
        try:
            return await send_email_batch(
                db=container.db, gate=svc.gate, composer=composer, channel=channel, email=EMAIL,
                requests=requests, workspace_id=ws.id, topic=topic,
            )  # fmt: skip
        finally:
            await channel.close()

    return asyncio.run(run())


def arrivals(peer: Peer) -> set[str]:
    return {rcpt for r in peer.handler.received for rcpt in r.rcpt_to}


def test_nobody_unconsented_or_suppressed_is_sent_to(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    svc = build(container)
    people = {
        "yes1@example.com": [sub("subscribed")],
        "yes2@example.com": [sub("subscribed"), sub("subscribed", "news")],
        "never@example.com": [],
        "pending@example.com": [sub("pending")],
        "left@example.com": [sub("subscribed"), sub("unsubscribed")],
        "sms-only@example.com": [{"channel": "sms", "topic": "*", "status": "subscribed"}],
        "bounced@example.com": [sub("subscribed")],
        "complained@example.com": [sub("subscribed")],
        "no-news@example.com": [sub("subscribed"), sub("unsubscribed", "news")],
    }
    ids = {address: contact(client, ws, address, consents) for address, consents in people.items()}
    asyncio.run(svc.suppressions.add(ws.id, [
        Entry("email", "Bounced@Example.com", "hard_bounce", "bounce"),
        Entry("email", "complained@example.com", "complaint", "fbl"),
    ]))  # fmt: skip
    # another workspace's suppression of yes1 changes nothing here
    asyncio.run(svc.suppressions.add(other_ws.id, [Entry("email", "yes1@example.com", "manual")]))

    with smtp_peer() as peer:
        results = send(container, svc, ws, peer, ids)
        assert arrivals(peer) == {"yes1@example.com", "yes2@example.com", "no-news@example.com"}
        news = send(container, svc, ws, peer, ids, topic="news")
        assert len(peer.handler.received) == 3 + 2  # yes1 (all topics) and yes2 (news)
        tx = send(container, svc, ws, peer, ids, category=Category.TRANSACTIONAL)
        # transactional mail needs no marketing consent, but never goes to suppressed addresses
        assert len(peer.handler.received) == 5 + 7
    tx_by = dict(zip(ids, tx, strict=True))
    assert tx_by["bounced@example.com"].reason == "suppressed:hard_bounce"
    assert tx_by["complained@example.com"].reason == "suppressed:complaint"
    by_address = dict(zip(ids, results, strict=True))
    assert by_address["yes1@example.com"].outcome is Outcome.SENT
    assert by_address["never@example.com"].detail == "suppressed"
    assert by_address["never@example.com"].reason == "no_consent"
    assert by_address["left@example.com"].reason == "unsubscribed"
    assert by_address["pending@example.com"].reason == "pending"
    assert by_address["bounced@example.com"].reason == "suppressed:hard_bounce"
    assert dict(zip(ids, news, strict=True))["no-news@example.com"].reason == "unsubscribed:news"
    with container.db.read() as cur:
        counts = dict(cur.execute(
            "SELECT status, count(*) FROM message_events WHERE workspace_id = ?"
            " AND campaign_id = 'cmp_consent' GROUP BY status", [ws.id],
        ).fetchall())  # fmt: skip
    assert counts == {"sent": 3 + 2 + 7, "suppressed": 6 + 7 + 2}


def test_suppression_api(client: TestClient, ws: Workspace, other_ws: Workspace) -> None:
    url = "/api/v1/suppressions"
    h = ws.api_headers
    first = client.post(
        url, headers=h, json={"address": "Olena@Example.com", "reason": "complaint"}
    )
    assert first.status_code == 201, first.text
    assert first.json()["added"] is True
    again = client.post(url, headers=h, json={"address": "olena@example.com"})
    assert again.json()["added"] is False  # listed once; the first reason stays
    client.post(url, headers=h, json={"phone": "+380 50 123 45 67", "reason": "manual"})
    items = client.get(url, headers=h).json()["items"]
    assert [(i["kind"], i["hint"], i["reason"]) for i in items] == [
        ("phone", "+38050******7", "manual"),
        ("email", "o***a@example.com", "complaint"),
    ]
    assert "olena@example.com" not in str(items)  # only the hash and a masked hint are kept
    assert client.get(url, headers=other_ws.api_headers).json()["items"] == []
    page = client.get(url + "?limit=1", headers=h).json()
    assert len(page["items"]) == 1
    rest = client.get(url + f"?limit=1&cursor={page['next_cursor']}", headers=h).json()
    assert rest["items"][0]["kind"] == "email"
    assert rest["next_cursor"] is None
    assert (
        client.delete(url + "/olena@example.com", headers=other_ws.api_headers).status_code == 404
    )
    assert client.delete(url + "/OLENA@example.com", headers=h).status_code == 200
    assert client.delete(url + "/olena@example.com", headers=h).status_code == 404
    by_hash = client.delete(f"{url}/{items[0]['hash']}", headers=h)
    assert by_hash.status_code == 200
    assert client.get(url, headers=h).json()["items"] == []
    bad = [
        {"address": "not-an-address"},
        {"address": "a@b.co", "phone": "+380501234567"},
        {"address": "a@b.co", "reason": "because"},
        {},
    ]
    for body in bad:
        response = client.post(url, headers=h, json=body)
        assert response.status_code in (400, 422), body
    assert client.get(url).status_code == 401


def test_one_click_unsubscribe_is_honoured_at_once_and_idempotent(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = build(container)
    olena = contact(client, ws, "olena@example.com", [sub("subscribed")])
    with smtp_peer() as peer:
        [result] = send(container, svc, ws, peer, {"olena@example.com": olena})
        assert result.outcome is Outcome.SENT
        message = peer.handler.received[0].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_link = message["List-Unsubscribe"].split("<")[1].split(">")[0]
    path = https_link.removeprefix("http://testserver")
    token = path.removeprefix("/u/")

    page = client.get(path)  # the hosted page (GET) shows a button; it does not unsubscribe
    assert page.status_code == 200
    assert 'value="One-Click"' in page.text
    assert svc.unsubscriber.status(_link(svc, token)) == "subscribed"

    assert client.post(path, content=b"something=else").status_code == 400
    body = b"List-Unsubscribe=One-Click"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(3):  # mail clients retry; it changes the consent once
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 200
        assert "You are unsubscribed" in response.text
    history = client.get(f"/api/v1/contacts/{olena}", headers=ws.api_headers).json()
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT status, source FROM consents WHERE contact_id = ? ORDER BY changed_at",
            [olena],
        ).fetchall()
        unsub_events = cur.execute(
            "SELECT count(*) FROM message_events WHERE contact_id = ? AND status = 'unsubscribed'",
            [olena],
        ).fetchall()[0][0]
    assert rows == [("subscribed", "api"), ("unsubscribed", "one_click")], history
    assert unsub_events == 1
    assert "You are unsubscribed" in client.get(path).text
    with smtp_peer() as peer:
        [again] = send(container, svc, ws, peer, {"olena@example.com": olena})
        assert peer.handler.received == []
    assert again.reason == "unsubscribed"

    # forged and edited tokens are refused and change nothing
    payload, _, signature = token.rpartition("-")
    other = svc.keyring.workspace("ws_other").token("unsubscribe", ws.id, str(olena), "snd_x")
    edited = payload[:-1] + ("a" if payload[-1] != "a" else "b")  # the send id's last byte
    for bad in (f"{payload}-{'0' * len(signature)}", f"{edited}-{signature}", other, "zz"):
        assert client.post(f"/u/{bad}", content=body, headers=headers).status_code == 404
        assert client.get(f"/u/{bad}").status_code == 404


def _link(svc: MessagingServices, token: str) -> Any:
    from retenta.messaging.unsubscribe import read_token

    link = read_token(svc.keyring, token)
    assert link is not None
    return link


def test_a_hard_bounce_suppresses_the_address_and_a_policy_refusal_does_not(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = build(container)
    people = {
        a: contact(client, ws, a, [sub("subscribed")])
        for a in ("gone@example.com", "spam@example.com", "ok@example.com")
    }
    with smtp_peer() as peer:
        peer.handler.replies["gone@example.com"] = "550 5.1.1 <gone@example.com>: User unknown"
        peer.handler.data_replies["spam@example.com"] = "554 5.7.1 Message rejected as spam"
        first = send(container, svc, ws, peer, people)
        assert [r.code for r in first] == [550, 554, 250]
        second = send(container, svc, ws, peer, people)
    assert second[0].reason == "suppressed:hard_bounce"  # never tried again
    assert second[1].code == 554  # the address is fine: tried again
    items = client.get("/api/v1/suppressions", headers=ws.api_headers).json()["items"]
    assert [(i["hint"], i["reason"], i["source"]) for i in items] == [
        ("g***e@example.com", "hard_bounce", "smtp")
    ]
