"""SendGrid's Event Webhook, with its signature ("Signed Event Webhook Requests").

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256 and sends the base64
DER signature and the timestamp in ``X-Twilio-Email-Event-Webhook-Signature`` and
``-Timestamp``; the workspace pastes the verification key SendGrid shows (base64 DER public
key). The body is a JSON array of events; the send id rides in a custom argument.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from retenta.messaging.bounces.codes import classify, find_reply_code, find_status
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.bounces.providers import SEND_TAG, WebhookRejectedError, send_id_from

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
MAX_SKEW_S = 600
ENGAGEMENT = {"open": Kind.OPENED, "click": Kind.CLICKED, "delivered": Kind.DELIVERED,
              "spamreport": Kind.COMPLAINT, "unsubscribe": Kind.UNSUBSCRIBE,
              "group_unsubscribe": Kind.UNSUBSCRIBE, "deferred": Kind.DELAYED}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SendGridConfig:
    verification_key: str  # base64 DER (SubjectPublicKeyInfo), as SendGrid shows it


def verify(body: bytes, headers: Mapping[str, str], config: SendGridConfig,
           *, now: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The events of a genuine, recent request."""
    signature, stamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise WebhookRejectedError("missing the SendGrid signature headers")
    if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > MAX_SKEW_S:
        raise WebhookRejectedError("the signature timestamp is missing or too old")
    try:
        key = load_der_public_key(base64.b64decode(config.verification_key))
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError as exc:
        raise WebhookRejectedError("unreadable verification key or signature") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRejectedError("the verification key is not an EC key")
    try:
        key.verify(raw_signature, stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise WebhookRejectedError("the SendGrid signature does not verify") from exc
    try:
        events = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError("the body is not JSON", status=400) from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WebhookRejectedError("the body is not a JSON array of events", status=400)
    return events


def feedback(events: list[dict[str, Any]]) -> list[Feedback]:
    return [f for event in events if (f := _one(event)) is not None]


def _one(event: Mapping[str, Any]) -> Feedback | None:
    name = str(event.get("event", ""))
    reason = event.get("reason") or event.get("response")
    status = find_status(str(event.get("status", ""))) or find_status(reason)
    if name == "bounce":
        kind = (
            Kind.BLOCKED
            if event.get("type") == "blocked"
            else classify(status, find_reply_code(reason))
        )
    elif name == "dropped":
        kind = Kind.BLOCKED
    elif name in ENGAGEMENT:
        kind = ENGAGEMENT[name]
    else:
        return None  # processed, group_resubscribe, …
    key = str(event.get("sg_event_id") or "")
    if not key:
        return None
    return Feedback(
        kind=kind, key=key, recipient=str(event.get("email", "")).lower() or None,
        send_id=send_id_from(event.get(SEND_TAG), event.get("smtp-id")),
        status=status, smtp_code=find_reply_code(reason), diagnostic=reason, source="sendgrid",
        detail=event.get("bounce_classification") or event.get("type") or name,
        url=event.get("url"),
    )  # fmt: skip
