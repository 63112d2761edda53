"""Mailgun's webhooks (the JSON ``signature`` + ``event-data`` form).

Mailgun signs with the workspace's HTTP webhook signing key: ``signature`` is
HMAC-SHA256(key, ``timestamp`` + ``token``) in hex. Requests older than a few minutes are
refused; a replayed token is caught by the report key (the event's id) downstream.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from retenta.messaging.bounces.codes import classify, find_reply_code, find_status
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.bounces.providers import SEND_TAG, WebhookRejectedError, send_id_from

MAX_SKEW_S = 900
EVENTS = {"delivered": Kind.DELIVERED, "opened": Kind.OPENED, "clicked": Kind.CLICKED,
          "complained": Kind.COMPLAINT, "unsubscribed": Kind.UNSUBSCRIBE}  # fmt: skip


@dataclass(frozen=True, slots=True)
class MailgunConfig:
    signing_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MailgunRequest:
    event: dict[str, Any]
    token: str  # single use: the signature covers only timestamp + token, not the body


def verify(body: bytes, config: MailgunConfig, *, now: float | None = None) -> MailgunRequest:
    """The ``event-data`` of a genuine, recent request, and its token (refuse a reused one:
    Mailgun's signature does not cover the body, so a replayed token could carry another)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError("the body is not JSON", status=400) from exc
    signature = doc.get("signature") if isinstance(doc, dict) else None
    event = doc.get("event-data") if isinstance(doc, dict) else None
    if not isinstance(signature, dict) or not isinstance(event, dict):
        raise WebhookRejectedError("expected the 'signature' and 'event-data' objects", status=400)
    stamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > MAX_SKEW_S:
        raise WebhookRejectedError("the signature timestamp is missing or too old")
    expected = hmac.new(config.signing_key.encode(), (stamp + token).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), str(signature.get("signature", ""))):
        raise WebhookRejectedError("the Mailgun signature does not verify")
    return MailgunRequest(event, token)


def feedback(event: Mapping[str, Any]) -> list[Feedback]:
    name = str(event.get("event", ""))
    status_doc = event.get("delivery-status") or {}
    text = " ".join(
        str(status_doc.get(k) or "") for k in ("enhanced-code", "message", "description")
    ).strip()
    code = status_doc.get("code") if isinstance(status_doc.get("code"), int) else None
    status = find_status(text)
    if name == "failed":
        if event.get("severity") == "temporary":
            kind = Kind.SOFT_BOUNCE
        elif str(event.get("reason", "")) in ("suppress-bounce", "suppress-complaint"):
            kind = Kind.BLOCKED  # Mailgun's own list refused it; our list has its own entry
        else:
            kind = classify(status, code or find_reply_code(text))
    elif name in EVENTS:
        kind = EVENTS[name]
    else:
        return []  # accepted, stored, …
    headers = (event.get("message") or {}).get("headers") or {}
    variables = event.get("user-variables") or {}
    return [
        Feedback(
            kind=kind, key=str(event.get("id") or ""), recipient=str(event.get("recipient", ""))
            .lower() or None, send_id=send_id_from(variables.get(SEND_TAG),
                                                   headers.get("message-id")),
            status=status, smtp_code=code, diagnostic=text or None, source="mailgun",
            detail=event.get("reason") or event.get("severity"), url=event.get("url"),
        )
    ] if event.get("id") else []  # fmt: skip
