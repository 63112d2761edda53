"""The dispatcher end to end: real aiosmtpd (DKIM-verified), the local web push service."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging import push_subscriptions
from retenta.messaging.email.render import EmailVersion, compile_email
from retenta.messaging.outbox.content import StaticEmail, StaticText
from retenta.messaging.outbox.ledger import NewSend, RetryPolicy
from retenta.messaging.services import MessagingServices
from retenta.messaging.suppression import Entry
from tests.conftest import Workspace
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, add_messages, configure_email, contact
from tests.messaging.smtp_peer import smtp_peer
from tests.messaging.test_webpush import Browser, PushPeer


def send(client: TestClient, ws: Workspace, body: dict[str, Any]) -> str:
    r = client.post("/api/v1/messages/send", headers=ws.api_headers, json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["send_id"])


def status(client: TestClient, ws: Workspace, send_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/sends/{send_id}", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def run(svc: MessagingServices) -> int:
    return asyncio.run(svc.dispatcher.run_until_idle())


def make_due(container: Container) -> None:
    """Bring every queued retry forward (instead of sleeping through the backoff)."""
    container.db.write(
        lambda conn: conn.execute(
            "UPDATE sends SET next_attempt_at = now() - INTERVAL 1 SECOND WHERE status = 'queued'"
        )
    )


def test_email_is_rendered_signed_delivered_and_recorded(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    contact(client, ws, "olena@example.com", consent=None)  # transactional needs no consent
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        configure_email(client, ws, peer, "transactional")
        send_id = send(
            client,
            ws,
            {
                "message_id": "msg_receipt",
                "contact": {"email": "olena@example.com"},
                "data": {"order_id": "A-77"},
            },
        )
        assert run(svc) == 1
    [got] = peer.handler.received
    assert got.dkim_ok
    assert got.rcpt_to == ["olena@example.com"]
    assert got.message["Subject"] == "Order A-77"
    assert send_id in got.message["Message-ID"]
    assert got.message["X-Retenta-Send"] == send_id
    assert "List-Unsubscribe" not in got.message  # transactional
    assert "Thanks Olena" in got.message.get_body(("plain",)).get_content()
    state = status(client, ws, send_id)
    assert (state["status"], state["attempts"], state["channel"]) == ("sent", 1, "email")
    assert state["remote_id"] == "Q000001"
    assert [e["status"] for e in state["events"]] == ["queued", "sent"]
    assert svc.ledger.journal is not None
    [segment] = svc.ledger.journal.segments()  # the fdatasync'd journal (outbox/journal.py)
    assert svc.ledger.journal.read([segment]) == [(send_id, 1)]  # recorded before the handover
    assert svc.ledger.absorb_journal() == 1  # copied into the table before an orphan lookup
    with container.db.read() as cur:
        handed = cur.execute("SELECT send_id, attempt FROM send_handovers").fetchall()
    assert handed == [(send_id, 1)]
    assert svc.ledger.journal.segments() != [segment]  # the copied segment is gone


def test_consent_and_the_suppression_list(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    contact(client, ws, "yes@example.com")
    contact(client, ws, "no@example.com", consent=None)
    contact(client, ws, "bounced@example.com", consent=None)
    asyncio.run(
        svc.suppressions.add(ws.id, [Entry("email", "bounced@example.com", "hard_bounce", "test")])
    )
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "promo", "transactional")
        promo_yes = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "yes@example.com"}}
        )
        promo_no = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "no@example.com"}}
        )
        receipt_no = send(
            client, ws, {"message_id": "msg_receipt", "contact": {"email": "no@example.com"}}
        )
        receipt_bounced = send(
            client, ws, {"message_id": "msg_receipt", "contact": {"email": "bounced@example.com"}}
        )
        run(svc)
    assert sorted(r.rcpt_to[0] for r in peer.handler.received) == [
        "no@example.com",
        "yes@example.com",
    ]
    promo = next(r for r in peer.handler.received if r.rcpt_to == ["yes@example.com"])
    assert "List-Unsubscribe" in promo.message
    assert status(client, ws, promo_yes)["status"] == "sent"
    blocked = status(client, ws, promo_no)
    assert blocked["status"] == "suppressed"
    assert blocked["events"][-1]["properties"]["reason"] == "no_consent"
    assert status(client, ws, receipt_no)["status"] == "sent"  # transactional: no consent needed
    never = status(client, ws, receipt_bounced)  # ...but the suppression list always applies
    assert never["status"] == "suppressed"
    assert never["events"][-1]["properties"]["reason"] == "suppressed:hard_bounce"


def test_temporary_failures_back_off_then_fail(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    svc.ledger.retry = RetryPolicy(max_attempts=3, base_s=60, cap_s=600)
    contact(client, ws, "greylist@example.com")
    with smtp_peer() as peer:
        peer.handler.replies["greylist@example.com"] = "451 4.7.1 greylisted, try later"
        configure_email(client, ws, peer)
        send_id = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "greylist@example.com"}}
        )
        before = datetime.now(UTC)
        run(svc)
        first = status(client, ws, send_id)
        assert (first["status"], first["attempts"]) == ("queued", 1)
        assert "451" in first["last_error"]
        wait = datetime.fromisoformat(first["next_attempt_at"]) - before
        assert timedelta(seconds=29) <= wait <= timedelta(seconds=61)  # 60 s step, equal jitter
        assert run(svc) == 0  # not due yet
        for _ in range(2):
            make_due(container)
            run(svc)
    final = status(client, ws, send_id)
    assert (final["status"], final["attempts"]) == ("failed", 3)
    assert final["events"][-1]["properties"]["retries"] == "exhausted"
    assert not peer.handler.received


def test_hard_bounce_is_final_and_suppresses(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    contact(client, ws, "gone@example.com")
    with smtp_peer() as peer:
        peer.handler.replies["gone@example.com"] = "550 5.1.1 no such user"
        configure_email(client, ws, peer)
        send_id = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "gone@example.com"}}
        )
        run(svc)
    state = status(client, ws, send_id)
    assert state["status"] == "bounced"
    assert state["attempts"] == 1
    assert state["events"][-1]["properties"]["bounce"] == "hard"
    listed = client.get("/api/v1/suppressions", headers=ws.api_headers).json()
    assert [item["reason"] for item in listed["items"]] == ["hard_bounce"]


def test_a_render_error_fails_only_that_send(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    contact(client, ws, "a@example.com", consent=None)
    with smtp_peer() as peer:
        configure_email(client, ws, peer, "transactional")
        bad = send(
            client,
            ws,
            {"message_id": "msg_split", "contact": {"email": "a@example.com"}, "data": {"n": 0}},
        )
        good = send(
            client,
            ws,
            {"message_id": "msg_split", "contact": {"email": "a@example.com"}, "data": {"n": 5}},
        )
        run(svc)
    assert [r.message["Subject"] for r in peer.handler.received] == ["Each 2"]
    assert status(client, ws, good)["status"] == "sent"
    failed = status(client, ws, bad)
    assert failed["status"] == "failed"
    assert failed["attempts"] == 1
    assert failed["events"][-1]["properties"]["detail"] == "render_error"
    assert "ZeroDivisionError" in failed["last_error"]


def test_retry_later_requeues_a_sent_send(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    svc.ledger.retry = RetryPolicy(max_attempts=2, base_s=1, cap_s=1)
    contact(client, ws, "soft@example.com")
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        send_id = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "soft@example.com"}}
        )
        run(svc)
        assert svc.ledger.retry_later(ws.id, send_id, "4.2.2 mailbox full (DSN)") == "queued"
        assert svc.ledger.retry_later(ws.id, "snd_nope", "x") is None
        make_due(container)
        run(svc)
        assert len(peer.handler.received) == 2  # sent again after the soft bounce
        assert svc.ledger.retry_later(ws.id, send_id, "4.2.2 mailbox full again") == "failed"
    final = status(client, ws, send_id)
    assert final["status"] == "failed"
    assert final["attempts"] == 2


def test_cascade_moves_on_when_a_channel_cannot_take_it(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    contact(client, ws, "c@example.com")  # subscribed to email, never to push
    client.get("/v1/push/vapid-public-key", auth=ws.write_auth)  # web push configured
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        send_id = send(
            client,
            ws,
            {
                "message_id": "msg_promo",
                "contact": {"email": "c@example.com"},
                "cascade": ["push", "email"],
            },
        )
        run(svc)
    assert [r.rcpt_to for r in peer.handler.received] == [["c@example.com"]]
    state = status(client, ws, send_id)
    assert (state["status"], state["channel"]) == ("sent", "email")
    assert [(e["channel"], e["status"]) for e in state["events"]] == [
        ("push", "queued"),
        ("email", "sent"),
    ]


def test_web_push_through_the_dispatcher(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Consent on ``push``, sent to every live subscription; 410 retires it (token_invalid)."""
    svc = add_messages(container, ws)
    alive = contact(client, ws, "alive@example.com", channel="push")
    gone = contact(client, ws, "gone@example.com", channel="push")
    key = push_subscriptions.vapid_key(svc.channel_settings, ws.id)
    browsers = {"b1": Browser(), "b2": Browser()}

    async def main() -> PushPeer:
        peer = PushPeer(key.public_bytes, browsers)
        app = web.Application()
        app.router.add_post("/push/{mode}/{sub}", peer.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        peer.origin = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        for contact_id, mode, sub in ((alive, "ok", "b1"), (gone, "gone", "b2")):
            push_subscriptions.upsert(
                container.db,
                ws.id,
                browsers[sub].subscription(f"{peer.origin}/push/{mode}/{sub}"),
                contact_id=contact_id,
            )
        ids = [
            send(
                client,
                ws,
                {"message_id": "msg_promo", "contact": {"contact_id": c}, "channel": "push"},
            )
            for c in (alive, gone)
        ]
        await svc.dispatcher.run_until_idle()
        await svc.dispatcher.stop()
        await runner.cleanup()
        peer.ids = ids  # type: ignore[attr-defined]
        return peer

    peer = asyncio.run(main())
    ok_id, gone_id = peer.ids  # type: ignore[attr-defined]
    assert [(r.path, r.plaintext) for r in peer.received if r.path == "ok"] == [
        ("ok", b'{"title":"Sale","body":"-20% today"}')
    ]
    assert status(client, ws, ok_id)["status"] == "sent"
    assert status(client, ws, gone_id)["status"] == "bounced"
    live = push_subscriptions.live_for_contacts(container.db, ws.id, [alive, gone])
    assert list(live) == [alive]  # the 410 subscription was retired


def test_enqueue_in_bulk(client: TestClient, container: Container, ws: Workspace) -> None:
    svc = add_messages(container, ws)
    people = [contact(client, ws, f"bulk{i}@example.com") for i in range(20)]
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        ids = svc.ledger.enqueue(
            [
                NewSend(ws.id, c, "msg_promo", ("email",), "promo", campaign_id="cmp_1")
                for c in people
            ]
        )
        assert run(svc) == 20
    assert sorted(r.rcpt_to[0] for r in peer.handler.received) == sorted(
        f"bulk{i}@example.com" for i in range(20)
    )
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT status, count(*) FROM sends WHERE list_contains(?, send_id) GROUP BY ALL", [ids]
        ).fetchall()
        campaigns = cur.execute(
            "SELECT DISTINCT campaign_id FROM message_events WHERE status = 'sent'"
        ).fetchall()
    assert rows == [("sent", 20)]
    assert campaigns == [("cmp_1",)]


def test_enqueue_is_idempotent_per_send_id(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    person = contact(client, ws, "once@example.com")
    again = [NewSend(ws.id, person, "msg_promo", ("email",), "promo", send_id="snd_run1node2")]
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        svc.ledger.enqueue(again)
        svc.ledger.enqueue(again)  # a journey tick replayed after a crash
        run(svc)
        svc.ledger.enqueue(again)  # ...even after it was sent
        run(svc)
    assert len(peer.handler.received) == 1
    state = status(client, ws, "snd_run1node2")
    assert [e["status"] for e in state["events"]] == ["queued", "sent"]
    with pytest.raises(ValueError, match="snd_"):
        NewSend(ws.id, person, "msg_promo", ("email",), "promo", send_id="snd_has_underscores")


def test_opens_and_clicks_of_a_dispatched_email_land_on_the_send(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The profile's unsubscribe base (``http://testserver/u/``) is Retenta's public base, so
    the email carries the open pixel and tracked links there; following them records
    ``opened`` and ``clicked`` on the send."""
    svc = add_messages(container, ws)
    mjml = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>"
        '<a href="https://shop.example/sale">Sale</a></mj-text></mj-column></mj-section>'
        "</mj-body></mjml>"
    )
    email = compile_email("link", {"en": EmailVersion(subject="Sale", mjml=mjml)})
    svc.static_content.add(ws.id, "msg_link", "email", StaticEmail(email, "promo"))
    contact(client, ws, "reader@example.com")
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        send_id = send(
            client, ws, {"message_id": "msg_link", "contact": {"email": "reader@example.com"}}
        )
        run(svc)
    [got] = peer.handler.received
    html = got.message.get_body(("html",)).get_content()
    pixel = re.search(r'src="http://testserver(/t/o/[^"]+\.gif)"', html)
    link = re.search(r'href="http://testserver(/t/c/[^"]+)"', html)
    assert pixel is not None
    assert link is not None
    assert client.get(pixel.group(1), headers={"User-Agent": "Mozilla/5.0"}).status_code == 200
    clicked = client.get(
        link.group(1), headers={"User-Agent": "Mozilla/5.0"}, follow_redirects=False
    )
    assert clicked.status_code == 302
    events = [e["status"] for e in status(client, ws, send_id)["events"]]
    assert events == ["queued", "sent", "opened", "clicked"]


class Broken:
    """A step with a bug: every round it raises."""

    channel = "email"

    async def attempt(self, *args: Any) -> list[Any]:
        raise RuntimeError("boom")

    async def close(self) -> None:
        return None


def test_a_failing_step_backs_off_and_spares_the_other_groups(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    svc = add_messages(container, ws)
    svc.ledger.retry = RetryPolicy(max_attempts=2, base_s=60, cap_s=60)
    svc.static_content.add(ws.id, "msg_promo", "inapp", StaticText({"body": "Sale"}, "promo"))
    contact(client, ws, "e@example.com")
    with smtp_peer() as peer:
        configure_email(client, ws, peer)
        email_id = send(
            client, ws, {"message_id": "msg_promo", "contact": {"email": "e@example.com"}}
        )
        inapp_id = send(
            client,
            ws,
            {
                "message_id": "msg_promo",
                "contact": {"email": "e@example.com"},
                "cascade": ["email", "inapp"],
            },
        )
        real = svc.dispatcher.steps["email"]
        svc.dispatcher.steps["email"] = Broken()  # type: ignore[assignment]
        try:
            run(svc)
            first = status(client, ws, email_id)
            assert (first["status"], first["attempts"]) == ("queued", 1)
            assert "internal error in the email step: RuntimeError: boom" in first["last_error"]
            make_due(container)
            run(svc)
        finally:
            svc.dispatcher.steps["email"] = real
    assert status(client, ws, email_id)["status"] == "failed"  # attempts used up, no spinning
    moved = status(client, ws, inapp_id)
    assert (moved["status"], moved["channel"]) == ("sent", "inapp")  # its cascade went on


def test_a_push_handed_before_a_crash_is_never_handed_again(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """APNs and FCM keep no idempotency key: a handed push is settled ``sent`` unconfirmed
    on restart; a webhook (its receiver dedupes on ``Idempotency-Key``) is handed again."""
    svc = add_messages(container, ws)
    contact_id = contact(client, ws, "olena@example.com", consent=None)
    pushed, hooked, unhanded = (
        NewSend(ws.id, contact_id, "msg_promo", (channel,), "promo", send_id=f"snd_{name}")
        for channel, name in (("push", "push1"), ("webhook", "hook1"), ("push", "push2"))
    )
    svc.ledger.enqueue([pushed, hooked, unhanded])
    claimed = svc.ledger.claim(10)
    assert {s.send_id for s in claimed} == {"snd_push1", "snd_hook1", "snd_push2"}
    asyncio.run(svc.ledger.record_handover([("snd_push1", 1), ("snd_hook1", 1)]))
    counts = asyncio.run(svc.dispatcher.reconcile())
    assert counts == {"sent": 1, "queued": 2}
    push = status(client, ws, "snd_push1")
    assert (push["status"], push["attempts"]) == ("sent", 1)
    [sent] = [e for e in push["events"] if e["status"] == "sent"]
    assert sent["properties"]["unconfirmed"] is True
    hook, again = status(client, ws, "snd_hook1"), status(client, ws, "snd_push2")
    assert (hook["status"], hook["attempts"]) == ("queued", 1)  # handed again, same key
    assert (again["status"], again["attempts"]) == ("queued", 0)  # never handed: not counted
