"""Webhooks over HTTP and the inbound SMTP endpoint, end to end."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import aiosmtplib
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.bounces.providers import sendgrid
from retenta.messaging.bounces.service import for_app, inbound_server
from retenta.messaging.signing import BounceAddress
from tests.conftest import Workspace
from tests.messaging.bounces.test_apply import consent, contact, sent, statuses, suppressed
from tests.messaging.bounces.test_providers import mailgun_body

SAMPLES = Path(__file__).parent / "samples"


def hook_url(client: TestClient, ws: Workspace, provider: str) -> str:
    items = client.get("/api/v1/feedback/endpoints", headers=ws.api_headers).json()["items"]
    url = next(i["url"] for i in items if i["provider"] == provider)
    return str(url).removeprefix("http://testserver")


def test_sendgrid_webhook_end_to_end(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "gone@example.net")
    send_id = sent(container, ws, person)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    put = client.put("/api/v1/feedback/endpoints/sendgrid", headers=ws.api_headers,
                     json={"verification_key": base64.b64encode(public).decode()})  # fmt: skip
    assert put.status_code == 200, put.text
    body = orjson.dumps([{"email": "gone@example.net", "event": "bounce", "status": "5.1.1",
                          "reason": "550 5.1.1 no such user", "sg_event_id": "e1",
                          "retenta_send": send_id}])  # fmt: skip
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {sendgrid.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
               sendgrid.TIMESTAMP_HEADER: stamp, "content-type": "application/json"}  # fmt: skip
    url = hook_url(client, ws, "sendgrid")
    first = client.post(url, content=body, headers=headers)
    again = client.post(url, content=body, headers=headers)  # SendGrid retries
    assert (first.json()["applied"], again.json()["duplicates"]) == (1, 1)
    assert suppressed(container, ws, "gone@example.net") == "hard_bounce"
    assert statuses(container, send_id)[-1] == ("bounced", "hard")
    forged = client.post(url, content=body.replace(b"gone@", b"else@"), headers=headers)
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "webhook_rejected"
    wrong_provider = client.post(url.replace("/sendgrid/", "/mailgun/"), content=body)
    assert wrong_provider.status_code == 404


def test_mailgun_webhook_refuses_a_replayed_token(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "x@example.net")
    put = client.put("/api/v1/feedback/endpoints/mailgun", headers=ws.api_headers,
                     json={"signing_key": "key-secret"})  # fmt: skip
    assert put.json()["settings"]["signing_key"] == "********"  # never shown again
    shown = client.get("/api/v1/feedback/endpoints", headers=ws.api_headers).text
    assert "key-secret" not in shown
    url = hook_url(client, ws, "mailgun")
    complaint = {"id": "mg-1", "event": "complained", "recipient": "x@example.net"}
    body = mailgun_body("key-secret", complaint)
    assert client.post(url, content=body).json()["applied"] == 1
    assert consent(container, ws, person)[0] == "unsubscribed"
    replay = client.post(url, content=body.replace(b"mg-1", b"mg-2"))
    assert replay.status_code == 401
    assert "already used" in replay.json()["error"]["message"]


def test_webhooks_need_configuration_and_admin(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    url = hook_url(client, ws, "mailgun")
    body = mailgun_body("key-secret", {"id": "1", "event": "complained"})
    assert client.post(url, content=body).status_code == 401  # not configured
    bad = client.put("/api/v1/feedback/endpoints/ses", headers=ws.api_headers,
                     json={"topic_arns": ["not-an-arn"]})  # fmt: skip
    assert bad.status_code == 422
    assert hook_url(client, ws, "ses") != hook_url(client, other_ws, "ses")


def test_inbound_smtp_applies_a_bounce_and_refuses_other_mailboxes(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "nobody@mail.example.net")
    send_id = sent(container, ws, person)
    services = for_app(container)
    signer = services.keyring.workspace(ws.id)  # messages are signed with their workspace's key
    verp = BounceAddress(signer).address(send_id, "bounces.shop.example")
    forged = BounceAddress(services.keyring.workspace("ws_other")).address(send_id, "b.example")
    unsubscribe = f"unsubscribe+{send_id}-{signer.signature('unsubscribe', send_id)}@b.example"
    report = (SAMPLES / "postfix_user_unknown.eml").read_bytes()

    async def scenario() -> tuple[int, str]:
        server = inbound_server(services, host="127.0.0.1", port=0,
                                feedback_addresses=["fbl@shop.example"])  # fmt: skip
        await server.start()
        try:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, start_tls=False)
            await smtp.connect()
            await smtp.ehlo()
            assert (await smtp.execute_command(b"MAIL", b"FROM:<>")).code == 250
            stranger = await smtp.execute_command(b"RCPT", b"TO:<anyone@bounces.shop.example>")
            wrong_key = await smtp.execute_command(b"RCPT", f"TO:<{forged}>".encode())
            assert wrong_key.code == 550
            await smtp.rset()
            errors, answer = await smtp.sendmail("", [verp], report)
            assert not errors
            assert answer.startswith("2.0.0")
            request = b"From: nobody@mail.example.net\r\nSubject: unsubscribe\r\n\r\n"
            errors, _ = await smtp.sendmail("nobody@mail.example.net", [unsubscribe], request)
            assert not errors
            await smtp.quit()
            return stranger.code, stranger.message
        finally:
            await server.stop()

    code, _ = asyncio.run(scenario())
    assert code == 550
    assert suppressed(container, ws, "nobody@mail.example.net") == "hard_bounce"
    assert statuses(container, send_id)[1:] == [("bounced", "hard"), ("unsubscribed", None)]
    assert consent(container, ws, person) == ("unsubscribed", "mailto")
