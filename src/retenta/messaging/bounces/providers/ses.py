"""Amazon SES notifications delivered by Amazon SNS (HTTP/S subscription).

SNS signs every message: the documented string-to-sign (field name and value lines, in a
fixed order per message type) is checked with the certificate at ``SigningCertURL``
(RSA, SHA1 for ``SignatureVersion`` 1, SHA256 for 2). The certificate URL must be https on
an ``sns.<region>.amazonaws.com`` host — the classic SNS-spoofing hole is accepting any URL.
Only topics the workspace lists are accepted. The SES message inside is either a
notification (``notificationType``) or an event-publishing record (``eventType``).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from retenta.messaging.bounces.codes import find_reply_code, find_status
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.bounces.providers import SEND_TAG, WebhookRejectedError, send_id_from

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
CertFetcher = Callable[[str], bytes]


@functools.lru_cache(maxsize=32)
def fetch_cert_https(url: str) -> bytes:
    """The signing certificate, fetched once per URL (only SNS https URLs get this far)."""
    response = httpx.get(url, timeout=5.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


@dataclass(frozen=True, slots=True)
class SesConfig:
    topic_arns: tuple[str, ...]  # the SNS topics this workspace subscribed us to
    fetch_cert: CertFetcher = field(repr=False, default=fetch_cert_https)


@dataclass(frozen=True, slots=True)
class SnsEnvelope:
    type: str
    message_id: str
    topic_arn: str
    message: str
    subscribe_url: str | None


def verify(body: bytes, config: SesConfig) -> SnsEnvelope:
    """The SNS envelope of a genuine request from one of the workspace's topics."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError("the body is not JSON", status=400) from exc
    if not isinstance(doc, dict) or doc.get("Type") not in SIGNED_FIELDS:
        raise WebhookRejectedError("not an SNS message (Type)", status=400)
    if doc.get("TopicArn") not in config.topic_arns:
        raise WebhookRejectedError("this topic is not configured for the workspace")
    _check_signature(doc, config.fetch_cert)
    subscribe_url = doc.get("SubscribeURL")
    if subscribe_url is not None and not _is_sns_url(str(subscribe_url)):
        raise WebhookRejectedError("SubscribeURL is not an SNS https URL", status=400)
    return SnsEnvelope(
        type=str(doc["Type"]), message_id=str(doc.get("MessageId", "")),
        topic_arn=str(doc["TopicArn"]), message=str(doc.get("Message", "")),
        subscribe_url=str(subscribe_url) if subscribe_url else None,
    )  # fmt: skip


def string_to_sign(doc: Mapping[str, Any]) -> bytes:
    """The documented canonical form: ``name\\nvalue\\n`` for each present signed field.

    >>> string_to_sign({"Type": "Notification", "Message": "m", "MessageId": "1",
    ...                 "Timestamp": "t", "TopicArn": "arn"})
    b'Message\\nm\\nMessageId\\n1\\nTimestamp\\nt\\nTopicArn\\narn\\nType\\nNotification\\n'
    """
    names = SIGNED_FIELDS[str(doc["Type"])]
    return "".join(f"{n}\n{doc[n]}\n" for n in names if doc.get(n) is not None).encode()


def _check_signature(doc: Mapping[str, Any], fetch_cert: CertFetcher) -> None:
    url = str(doc.get("SigningCertURL", ""))
    if not _is_sns_url(url) or not url.endswith(".pem"):
        raise WebhookRejectedError("SigningCertURL is not an SNS certificate URL")
    version = str(doc.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)  # noqa: S303 (SNS v1)
    if algorithm is None:
        raise WebhookRejectedError(f"unsupported SignatureVersion {version!r}")
    try:
        signature = base64.b64decode(str(doc.get("Signature", "")), validate=True)
        key = x509.load_pem_x509_certificate(fetch_cert(url)).public_key()
    except ValueError as exc:
        raise WebhookRejectedError("unreadable signature or certificate") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejectedError("the signing certificate is not RSA")
    try:
        key.verify(signature, string_to_sign(doc), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise WebhookRejectedError("the SNS signature does not verify") from exc


def _is_sns_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(SNS_HOST.match(parts.hostname or ""))


def feedback(envelope: SnsEnvelope) -> list[Feedback]:
    """The feedback in a verified SES notification (``[]`` for types that carry none)."""
    if envelope.type != "Notification":
        return []
    try:
        event = orjson.loads(envelope.message)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError("the SES message is not JSON", status=400) from exc
    if not isinstance(event, dict):
        raise WebhookRejectedError("the SES message is not an object", status=400)
    kind = str(event.get("notificationType") or event.get("eventType") or "")
    send_id = _send_id(event.get("mail") or {})
    key = envelope.message_id
    reader = READERS.get(kind)
    return reader(event, send_id, key) if reader else []


def _send_id(mail: Mapping[str, Any]) -> str | None:
    headers = {str(h.get("name", "")).lower(): h.get("value") for h in mail.get("headers") or []}
    tags = mail.get("tags") or {}
    tag = tags.get(SEND_TAG) if isinstance(tags, dict) else None
    common = mail.get("commonHeaders") or {}
    return send_id_from(
        headers.get("x-retenta-send"), (tag or [None])[0], common.get("messageId"),
        headers.get("message-id"),
    )  # fmt: skip


def _bounces(event: Mapping[str, Any], send_id: str | None, key: str) -> list[Feedback]:
    bounce = event.get("bounce") or {}
    bounce_type = str(bounce.get("bounceType", ""))
    subtype = str(bounce.get("bounceSubType", ""))
    out = []
    for person in bounce.get("bouncedRecipients") or []:
        diagnostic = person.get("diagnosticCode")
        status = find_status(str(person.get("status", ""))) or find_status(diagnostic)
        kind = _bounce_kind(bounce_type, subtype)
        out.append(
            Feedback(
                kind=kind, key=f"{key}:{person.get('emailAddress')}",
                recipient=str(person.get("emailAddress", "")).lower() or None, send_id=send_id,
                status=status, smtp_code=find_reply_code(diagnostic), diagnostic=diagnostic,
                source="ses", detail=f"{bounce_type}/{subtype}",
            )
        )  # fmt: skip
    return out


def _bounce_kind(bounce_type: str, subtype: str) -> Kind:
    """SES's classification, as documented: Permanent ones suppress (except content)."""
    if bounce_type == "Permanent":
        return (
            Kind.BLOCKED
            if subtype in ("ContentRejected", "AttachmentRejected")
            else (Kind.HARD_BOUNCE)
        )
    return Kind.SOFT_BOUNCE


def _complaints(event: Mapping[str, Any], send_id: str | None, key: str) -> list[Feedback]:
    complaint = event.get("complaint") or {}
    if complaint.get("complaintFeedbackType") == "not-spam":
        return []
    return [
        Feedback(
            kind=Kind.COMPLAINT, key=f"{key}:{person.get('emailAddress')}",
            recipient=str(person.get("emailAddress", "")).lower() or None, send_id=send_id,
            source="ses", detail=complaint.get("complaintFeedbackType") or "abuse",
        )
        for person in complaint.get("complainedRecipients") or []
    ]  # fmt: skip


def _deliveries(event: Mapping[str, Any], send_id: str | None, key: str) -> list[Feedback]:
    delivery = event.get("delivery") or {}
    response = delivery.get("smtpResponse")
    return [
        Feedback(
            kind=Kind.DELIVERED, key=f"{key}:{address}", recipient=str(address).lower(),
            send_id=send_id, status=find_status(response), smtp_code=find_reply_code(response),
            diagnostic=response, source="ses",
        )
        for address in delivery.get("recipients") or []
    ]  # fmt: skip


def _engagement(event: Mapping[str, Any], send_id: str | None, key: str) -> list[Feedback]:
    kind = Kind.OPENED if "open" in event else Kind.CLICKED
    link = (event.get("click") or {}).get("link")
    recipients = (event.get("mail") or {}).get("destination") or [None]
    return [
        Feedback(kind=kind, key=key, recipient=str(recipients[0] or "").lower() or None,
                 send_id=send_id, source="ses", url=link)
    ]  # fmt: skip


READERS: dict[str, Callable[[Mapping[str, Any], str | None, str], list[Feedback]]] = {
    "Bounce": _bounces,
    "Complaint": _complaints,
    "Delivery": _deliveries,
    "Open": _engagement,
    "Click": _engagement,
}
