"""Shared reading of report emails: parsing, the original message's headers, the send id."""

from __future__ import annotations

import email
import hashlib
import re
from email import policy
from email.message import Message
from email.parser import HeaderParser

from retenta.messaging.signing import SEND_ID

SEND_HEADER = re.compile(r"^X-Retenta-Send:[ \t]*(snd_[a-z0-9]{1,40})", re.I | re.M)
# <snd_….<hex>@domain> (with a random part) or <snd_…@domain> (derived from the send alone)
OUR_MESSAGE_ID = re.compile(r"<(snd_[a-z0-9]{1,40})(?:\.[0-9a-f]+)?@[^>\s]+>", re.I)
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-.]*[A-Za-z0-9])?")
MAX_REPORT_BYTES = 10_000_000


def parse(data: bytes) -> Message:
    """The report as a message tree (the compat32 policy: it never raises on broken mail)."""
    return email.message_from_bytes(data[:MAX_REPORT_BYTES], policy=policy.compat32)


def report_type(message: Message) -> str | None:
    """``delivery-status`` / ``feedback-report`` for a multipart/report, else ``None``."""
    if message.get_content_type() != "multipart/report":
        return None
    value = message.get_param("report-type")
    return str(value).lower() if isinstance(value, str) else None


def original_headers(message: Message) -> Message | None:
    """The headers of the message the report is about (its ``message/rfc822`` or
    ``text/rfc822-headers`` part), if the report carries them."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type in ("text/rfc822-headers", "text/global-headers"):
            return HeaderParser().parsestr(text_of(part))
    return None


def text_of(part: Message) -> str:
    """A leaf part's text, decoded from its transfer encoding and charset (lenient)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def all_text(message: Message) -> str:
    """Every text part of the report, concatenated (for reports that are only prose)."""
    return "\n".join(
        text_of(part)
        for part in message.walk()
        if not part.is_multipart() and part.get_content_maintype() in ("text", "message")
    )


def send_id_in(message: Message) -> str | None:
    """The send a report names through the original's ``X-Retenta-Send`` or Message-ID.

    Unsigned: callers trust it only where the report's recipient matches the send's.
    """
    original = original_headers(message)
    if original is not None:
        header = str(original.get("X-Retenta-Send", "")).strip().lower()
        if SEND_ID.fullmatch(header):
            return header
        match = OUR_MESSAGE_ID.search(str(original.get("Message-ID", "")))
        if match:
            return match.group(1).lower()
    text = all_text(message)
    match = SEND_HEADER.search(text) or OUR_MESSAGE_ID.search(text)
    return match.group(1).lower() if match else None


def report_key(message: Message, data: bytes, *parts: str) -> str:
    """A stable id of one report (and recipient): its Message-ID, else a hash of its bytes."""
    own = str(message.get("Message-ID", "")).strip() or hashlib.sha256(data).hexdigest()
    return hashlib.sha256("\x1f".join((own, *parts)).encode()).hexdigest()[:32]


def bare_address(value: str | None) -> str | None:
    """``rfc822; <A@B.co>`` → ``a@b.co``.

    >>> bare_address("rfc822; <Olena@Example.com>"), bare_address("rfc822;"), bare_address(None)
    ('olena@example.com', None, None)
    """
    if not value:
        return None
    match = ADDRESS.search(value.partition(";")[2] if ";" in value else value)
    return match.group(0).lower() if match else None
