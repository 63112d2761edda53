"""Test sends reach a real SMTP server (aiosmtpd, DKIM verified), marked, and touch no contact."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from pydantic import SecretStr

from retenta.app import Container
from retenta.messaging.email.mime import Category
from retenta.messaging.email.profiles import DkimSettings, SendingProfile, SmtpServer
from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, message
from tests.messaging.dkimkeys import dns_for, make_key
from tests.messaging.smtp_peer import Peer, smtp_peer

KEY = make_key("shop.example", "test1")


@dataclass
class ExplicitSmtp:
    """The test-only explicit SMTP target (production reads the workspace's email channel)."""

    profile: SendingProfile

    def email_profile(self, workspace_id: str) -> SendingProfile | None:
        return self.profile


def profile_for(peer: Peer) -> SendingProfile:
    return SendingProfile(
        name="promo", category=Category.MARKETING, from_address="news@shop.example",
        from_name="Shop", bounce_domain="bounces.shop.example",
        dkim=DkimSettings(domain=KEY.domain, selector=KEY.selector,
                          private_key_pem=SecretStr(KEY.private_pem.decode())),
        smtp=SmtpServer(host="localhost", port=peer.port, tls="none"),
    )  # fmt: skip


def test_test_send_reaches_every_address_marked_and_records_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        client.app.state.content_email_channels = ExplicitSmtp(profile_for(peer))  # type: ignore[attr-defined]
        r = client.post(
            f"/api/v1/messages/{msg['id']}/test-send", headers=ws.api_headers,
            json={"addresses": ["a@example.com", "b@example.org"], "language": "uk",
                  "variables": {"data": {"total": 7}}},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        received = list(peer.handler.received)
    body = r.json()
    assert body["language"] == "uk"
    assert body["versions_used"] == {block["id"]: 1}
    assert body["revision"] == 1
    assert [res["outcome"] for res in body["results"]] == ["sent", "sent"]
    assert len({res["send_id"] for res in body["results"]}) == 2
    assert sorted(rcpt for m in received for rcpt in m.rcpt_to) == [
        "a@example.com",
        "b@example.org",
    ]
    for mail in received:
        assert mail.dkim_ok
        assert mail.message["Subject"] == "[Test] Розпродаж"
        assert mail.message["Feedback-ID"].startswith("test:")
        html = mail.message.get_body(("html",))
        assert html is not None
        assert "Привіт, друже: new arrivals" in html.get_content()
    with container.db.read() as cur:
        [(events,)] = cur.execute(
            "SELECT count(*) FROM message_events WHERE workspace_id = ?", [ws.id]
        ).fetchall()
    assert events == 0


def test_test_send_validates_addresses_and_needs_an_email_channel(
    client: TestClient, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    url = f"/api/v1/messages/{msg['id']}/test-send"
    r = client.post(url, headers=ws.api_headers, json={"addresses": ["ok@example.com", "nope"]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "addresses[1]"
    r = client.post(url, headers=ws.api_headers, json={"addresses": []})
    assert r.status_code == 422
    r = client.post(url, headers=ws.api_headers, json={"addresses": ["ok@example.com"]})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "no_email_channel"


def test_a_failing_template_is_a_422_naming_the_part(client: TestClient, ws: Workspace) -> None:
    block = create_block(client, ws)
    broken = message(block["id"])
    broken["channels"]["email"]["subject"]["en"] = "{{ 1 // data.n }}"
    msg = create_message(client, ws, broken)
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        client.app.state.content_email_channels = ExplicitSmtp(profile_for(peer))  # type: ignore[attr-defined]
        body = {"addresses": ["a@example.com"], "variables": {"data": {"n": 0}}}
        r = client.post(
            f"/api/v1/messages/{msg['id']}/test-send", headers=ws.api_headers, json=body
        )
        assert peer.handler.received == []
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "channels.email.subject.en"


def test_test_send_uses_the_workspaces_email_channel_settings(
    client: TestClient, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        config = profile_for(peer).model_dump(mode="json")
        config["dkim"]["private_key_pem"] = KEY.private_pem.decode()
        r = client.put("/api/v1/channels/email/test", headers=ws.api_headers, json=config)
        assert r.status_code in (200, 201), r.text
        r = client.post(f"/api/v1/messages/{msg['id']}/test-send", headers=ws.api_headers,
                        json={"addresses": ["c@example.com"], "language": "en"})  # fmt: skip
        assert r.status_code == 200, r.text
        [mail] = peer.handler.received
    assert mail.dkim_ok
    assert mail.rcpt_to == ["c@example.com"]
    assert mail.message["Subject"] == "[Test] Sale for"  # no contact: no name, not "None"
