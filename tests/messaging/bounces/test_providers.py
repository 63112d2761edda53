"""Provider webhooks: genuine requests parse as documented, forged or stale ones are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from retenta.messaging.bounces.model import Kind
from retenta.messaging.bounces.providers import WebhookRejectedError, mailgun, sendgrid, ses

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"


@pytest.fixture(scope="module")
def sns_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns_request(
    key: rsa.RSAPrivateKey, message: dict[str, Any] | str, *, version: str = "1",
    kind: str = "Notification", **extra: str,
) -> dict[str, Any]:  # fmt: skip
    doc: dict[str, Any] = {
        "Type": kind, "MessageId": "9f0c5e2a-1111-2222-3333-444455556666", "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else orjson.dumps(message).decode(),
        "Timestamp": "2026-11-02T10:00:00.000Z", "SignatureVersion": version,
        "SigningCertURL": CERT_URL, **extra,
    }  # fmt: skip
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(ses.string_to_sign(doc), padding.PKCS1v15(), digest)
    doc["Signature"] = base64.b64encode(signature).decode()
    return doc


def ses_config(cert: bytes) -> ses.SesConfig:
    return ses.SesConfig(
        topic_arns=(TOPIC,), fetch_cert=lambda url: cert if url == CERT_URL else b""
    )


SES_BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "0102-abc",
        "bouncedRecipients": [{"emailAddress": "Nobody@Example.net", "action": "failed",
                               "status": "5.1.1",
                               "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
    },
    "mail": {"messageId": "0102-ses-id", "destination": ["nobody@example.net"],
             "headers": [{"name": "X-Retenta-Send", "value": "snd_0190aa11bb22"}],
             "commonHeaders": {"messageId": "<snd_0190aa11bb22.abcd@shop.example>"}},
}  # fmt: skip


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_through_sns(sns_key: tuple[rsa.RSAPrivateKey, bytes], version: str) -> None:
    key, cert = sns_key
    body = orjson.dumps(sns_request(key, SES_BOUNCE, version=version))
    [fb] = ses.feedback(ses.verify(body, ses_config(cert)))
    assert (fb.kind, fb.recipient, fb.send_id, fb.status, fb.smtp_code, fb.source) == (
        Kind.HARD_BOUNCE, "nobody@example.net", "snd_0190aa11bb22", "5.1.1", 550, "ses",
    )  # fmt: skip


def test_ses_other_notifications(sns_key: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = sns_key
    mail = {"messageId": "m", "commonHeaders": {"messageId": "<snd_0190ab.ffff@shop.example>"},
            "destination": ["a@example.net"]}  # fmt: skip
    cases = [
        ({"notificationType": "Complaint", "mail": mail, "complaint": {
            "complaintFeedbackType": "abuse", "complainedRecipients": [
                {"emailAddress": "a@example.net"}]}}, Kind.COMPLAINT),
        ({"notificationType": "Delivery", "mail": mail, "delivery": {
            "recipients": ["a@example.net"], "smtpResponse": "250 2.0.0 OK"}}, Kind.DELIVERED),
        ({"notificationType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Transient", "bounceSubType": "MailboxFull",
            "bouncedRecipients": [{"emailAddress": "a@example.net"}]}}, Kind.SOFT_BOUNCE),
        ({"eventType": "Click", "mail": mail, "click": {"link": "https://shop.example/x"}},
         Kind.CLICKED),
    ]  # fmt: skip
    for message, kind in cases:
        [fb] = ses.feedback(ses.verify(orjson.dumps(sns_request(key, message)), ses_config(cert)))
        assert (fb.kind, fb.send_id) == (kind, "snd_0190ab")


def test_sns_forgeries_are_refused(sns_key: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = sns_key
    config = ses_config(cert)
    genuine = sns_request(key, SES_BOUNCE)
    edited = genuine | {"Message": genuine["Message"].replace("Nobody", "Victim")}
    evil_cert = genuine | {"SigningCertURL": "https://sns.evil.example/cert.pem"}
    http_cert = genuine | {"SigningCertURL": CERT_URL.replace("https", "http")}
    other_topic = genuine | {"TopicArn": "arn:aws:sns:eu-west-1:999:other"}
    for doc in (edited, evil_cert, http_cert, other_topic):
        with pytest.raises(WebhookRejectedError):
            ses.verify(orjson.dumps(doc), config)
    with pytest.raises(WebhookRejectedError) as error:
        ses.verify(b"not json", config)
    assert error.value.status == 400


def test_sns_subscription_confirmation(sns_key: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = sns_key
    url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
    doc = sns_request(key, "You have chosen to subscribe", kind="SubscriptionConfirmation",
                      SubscribeURL=url, Token="t")  # fmt: skip
    envelope = ses.verify(orjson.dumps(doc), ses_config(cert))
    assert envelope.subscribe_url == url
    assert ses.feedback(envelope) == []


@pytest.fixture(scope="module")
def sendgrid_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(public).decode()


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, body: bytes, stamp: int) -> dict[str, str]:
    signature = key.sign(str(stamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {sendgrid.SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            sendgrid.TIMESTAMP_HEADER: str(stamp)}  # fmt: skip


SENDGRID_EVENTS = [
    {"email": "Gone@Example.net", "timestamp": 1730541605, "event": "bounce", "type": "bounce",
     "status": "5.1.1", "reason": "550 5.1.1 The email account does not exist",
     "bounce_classification": "Invalid Address", "sg_event_id": "ev-1",
     "sg_message_id": "sg1.filter", "retenta_send": "snd_01aa"},
    {"email": "b@example.net", "event": "bounce", "type": "blocked", "status": "5.7.1",
     "reason": "550 5.7.1 blocked by policy", "sg_event_id": "ev-2", "retenta_send": "snd_01ab"},
    {"email": "c@example.net", "event": "deferred", "response": "421 try later",
     "sg_event_id": "ev-3", "retenta_send": "snd_01ac"},
    {"email": "d@example.net", "event": "spamreport", "sg_event_id": "ev-4",
     "smtp-id": "<snd_01ad.beef@shop.example>"},
    {"email": "e@example.net", "event": "click", "url": "https://shop.example/p/1",
     "sg_event_id": "ev-5", "retenta_send": "snd_01ae"},
    {"email": "f@example.net", "event": "processed", "sg_event_id": "ev-6"},
    {"email": "g@example.net", "event": "dropped", "reason": "Bounced Address",
     "sg_event_id": "ev-7", "retenta_send": "snd_01af"},
]  # fmt: skip


def test_sendgrid_signed_events(sendgrid_key: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    key, public = sendgrid_key
    body = orjson.dumps(SENDGRID_EVENTS)
    stamp = int(time.time())
    events = sendgrid.verify(body, sendgrid_headers(key, body, stamp),
                             sendgrid.SendGridConfig(public))  # fmt: skip
    got = [(f.kind, f.recipient, f.send_id) for f in sendgrid.feedback(events)]
    assert got == [
        (Kind.HARD_BOUNCE, "gone@example.net", "snd_01aa"),
        (Kind.BLOCKED, "b@example.net", "snd_01ab"),
        (Kind.DELAYED, "c@example.net", "snd_01ac"),
        (Kind.COMPLAINT, "d@example.net", "snd_01ad"),
        (Kind.CLICKED, "e@example.net", "snd_01ae"),
        (Kind.BLOCKED, "g@example.net", "snd_01af"),
    ]


def test_sendgrid_forgeries_are_refused(
    sendgrid_key: tuple[ec.EllipticCurvePrivateKey, str],
) -> None:
    key, public = sendgrid_key
    config = sendgrid.SendGridConfig(public)
    body = orjson.dumps(SENDGRID_EVENTS)
    now = int(time.time())
    tampered = body.replace(b"Gone@", b"Victim@")
    with pytest.raises(WebhookRejectedError):
        sendgrid.verify(tampered, sendgrid_headers(key, body, now), config)
    with pytest.raises(WebhookRejectedError):  # a genuine but stale request (replay)
        sendgrid.verify(body, sendgrid_headers(key, body, now - 3600), config)
    with pytest.raises(WebhookRejectedError):
        sendgrid.verify(body, {}, config)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(WebhookRejectedError):
        sendgrid.verify(body, sendgrid_headers(other, body, now), config)


def mailgun_body(key: str, event: dict[str, Any], *, stamp: int | None = None) -> bytes:
    timestamp = str(stamp or int(time.time()))
    token = "a" * 50
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return orjson.dumps({"signature": {"timestamp": timestamp, "token": token,
                                       "signature": signature}, "event-data": event})  # fmt: skip


def test_mailgun_signed_events() -> None:
    config = mailgun.MailgunConfig("key-secret")
    failed = {
        "id": "mg-1", "event": "failed", "severity": "permanent", "reason": "bounce",
        "recipient": "Gone@Example.net",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                            "description": ""},
        "user-variables": {"retenta_send": "snd_02aa"},
        "message": {"headers": {"message-id": "snd_02aa.cafe@shop.example"}},
    }  # fmt: skip
    [fb] = mailgun.feedback(mailgun.verify(mailgun_body("key-secret", failed), config).event)
    assert (fb.kind, fb.recipient, fb.send_id, fb.status, fb.smtp_code) == (
        Kind.HARD_BOUNCE, "gone@example.net", "snd_02aa", "5.1.1", 550,
    )  # fmt: skip
    full = {"code": 452, "message": "4.2.2 mailbox full"}
    temporary = failed | {"id": "mg-2", "severity": "temporary", "user-variables": {},
                          "delivery-status": full}  # fmt: skip
    [fb] = mailgun.feedback(mailgun.verify(mailgun_body("key-secret", temporary), config).event)
    assert (fb.kind, fb.send_id) == (Kind.SOFT_BOUNCE, "snd_02aa")  # from the Message-ID
    complained = {"id": "mg-3", "event": "complained", "recipient": "x@example.net"}
    [fb] = mailgun.feedback(mailgun.verify(mailgun_body("key-secret", complained), config).event)
    assert fb.kind is Kind.COMPLAINT
    assert fb.send_id is None
    accepted = {"id": "mg-4", "event": "accepted", "recipient": "x@example.net"}
    assert (
        mailgun.feedback(mailgun.verify(mailgun_body("key-secret", accepted), config).event) == []
    )


def test_mailgun_forgeries_are_refused() -> None:
    config = mailgun.MailgunConfig("key-secret")
    event = {"id": "mg-1", "event": "complained", "recipient": "x@example.net"}
    with pytest.raises(WebhookRejectedError):
        mailgun.verify(mailgun_body("another-key", event), config)
    with pytest.raises(WebhookRejectedError):
        mailgun.verify(mailgun_body("key-secret", event, stamp=int(time.time()) - 7200), config)
    # Mailgun signs timestamp + token only: an edited body still verifies here, which is why
    # the router refuses a token it has seen (tests/messaging/bounces/test_router.py).
    body = mailgun_body("key-secret", event).replace(b"x@example", b"victim@example")
    assert mailgun.verify(body, config).token == "a" * 50
