"""Complaint reports in the Abuse Reporting Format (RFC 5965), as mailbox providers' feedback
loops send them: a ``multipart/report; report-type=feedback-report`` with a human part, a
``message/feedback-report`` part (``Feedback-Type``, ``Original-Rcpt-To``, …) and the
original message or its headers.

Providers redact differently: some drop ``Original-Rcpt-To`` (then the original's ``To`` is
used), some strip the original's body or even its ``To``; the send is still found through
the original's ``X-Retenta-Send`` or Message-ID. ``not-spam`` reports are not complaints.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser

from retenta.messaging.bounces.mail import (
    bare_address,
    original_headers,
    parse,
    report_key,
    report_type,
    send_id_in,
    text_of,
)
from retenta.messaging.bounces.model import Feedback, Kind

COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other", "complaint"}


def is_arf(data: bytes) -> bool:
    return report_type(parse(data)) == "feedback-report"


def parse_arf(data: bytes, *, envelope_send_id: str | None = None) -> list[Feedback]:
    """The complaint a feedback report carries; ``[]`` when it is not one."""
    message = parse(data)
    if report_type(message) != "feedback-report":
        return []
    fields = _feedback_fields(message)
    if fields is None:
        return []
    feedback_type = str(fields.get("Feedback-Type", "abuse")).strip().lower() or "abuse"
    if feedback_type not in COMPLAINT_TYPES:
        return []
    original = original_headers(message)
    recipient = bare_address(str(fields.get("Original-Rcpt-To", ""))) or (
        bare_address(str(original.get("To", ""))) if original is not None else None
    )
    return [
        Feedback(
            kind=Kind.COMPLAINT,
            key=report_key(message, data, recipient or ""),
            recipient=recipient,
            send_id=envelope_send_id or send_id_in(message),
            source="arf",
            detail=feedback_type,
            diagnostic=_agent(fields),
        )
    ]


def _feedback_fields(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                merged = Message()
                for block in payload:
                    if not isinstance(block, Message):
                        continue
                    for name, value in block.items():
                        merged[name] = value
                return merged
            return HeaderParser().parsestr(text_of(part))
    return None


def _agent(fields: Message) -> str | None:
    agent = str(fields.get("User-Agent", "")).strip()
    source_ip = str(fields.get("Source-IP", "")).strip()
    text = " ".join(filter(None, (agent, f"source {source_ip}" if source_ip else "")))
    return re.sub(r"\s+", " ", text)[:200] or None
