"""Delivery status notifications: RFC 3464 reports and the prose bounces of older MTAs.

A standard report has one ``message/delivery-status`` part: a per-message block, then one
block per recipient with ``Final-Recipient``, ``Action`` (failed, delayed, delivered,
relayed, expanded), ``Status`` (RFC 3463) and usually ``Diagnostic-Code``. Oddities met in
real bounces, all handled here:

- the status part sent as ``text/plain`` (or inline) instead of ``message/delivery-status``;
- ``Status`` missing, or ``5.0.0`` with the real code only in ``Diagnostic-Code``;
- qmail ("Hi. This is the qmail-send program") and Exim ("This message was created
  automatically by mail delivery software") prose with no machine-readable part at all;
- auto-replies ("out of office") sent to the return path: they are not bounces.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser

from retenta.messaging.bounces.codes import classify, find_reply_code, find_status
from retenta.messaging.bounces.mail import (
    ADDRESS,
    all_text,
    bare_address,
    parse,
    report_key,
    send_id_in,
    text_of,
)
from retenta.messaging.bounces.model import Feedback, Kind

ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
AUTO_REPLY_SUBJECT = re.compile(r"^(auto(matic)?[ -]?reply|out of (the )?office|abwesenheit)", re.I)
PROSE_BOUNCE = re.compile(
    r"(qmail-send program|mail delivery software|undeliver|delivery (status notification|"
    r"has failed|failure)|returned mail|failure notice|could not be delivered)",
    re.I,
)


def parse_dsn(data: bytes, *, envelope_send_id: str | None = None) -> list[Feedback]:
    """Feedback for each recipient a delivery report is about; ``[]`` for anything else.

    ``envelope_send_id`` is the send named by the (signed) VERP address the report came
    to; it wins over what the report's body says.
    """
    message = parse(data)
    send_id = envelope_send_id or send_id_in(message)
    blocks = _status_blocks(message)
    if blocks:
        return [
            feedback
            for block in blocks
            if (feedback := _from_block(block, message, data, send_id)) is not None
        ]
    return _from_prose(message, data, send_id)


def _is_auto_reply(message: Message) -> bool:
    """An out-of-office answer (bounces carry ``Auto-Submitted: auto-replied`` too, so the
    subject decides)."""
    return bool(AUTO_REPLY_SUBJECT.match(str(message.get("Subject", ""))))


def _status_blocks(message: Message) -> list[Message]:
    """The per-recipient field blocks, from a proper or a mislabelled status part."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            return _recipient_blocks(_blocks_of(part))
    for part in message.walk():  # mislabelled: a text part that reads like status fields
        if part.get_content_type() == "text/plain":
            text = text_of(part)
            if re.search(r"^Final-Recipient:", text, re.I | re.M) and re.search(
                r"^Action:", text, re.I | re.M
            ):
                return _recipient_blocks(_split_blocks(text))
    return []


def _blocks_of(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        blocks = [p for p in payload if isinstance(p, Message)]
        if any(b.get("Final-Recipient") or b.get("Original-Recipient") for b in blocks):
            return blocks
    return _split_blocks(text_of(part))


def _split_blocks(text: str) -> list[Message]:
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(chunk.strip() + "\n") for chunk in chunks if chunk.strip()]


def _recipient_blocks(blocks: list[Message]) -> list[Message]:
    return [b for b in blocks if b.get("Final-Recipient") or b.get("Original-Recipient")]


def _from_block(
    block: Message, message: Message, data: bytes, send_id: str | None
) -> Feedback | None:
    recipient = bare_address(str(block.get("Final-Recipient", ""))) or bare_address(
        str(block.get("Original-Recipient", ""))
    )
    action = str(block.get("Action", "")).strip().lower().split(" ")[0]
    diagnostic = _unfold(block.get("Diagnostic-Code"))
    status = find_status(str(block.get("Status", ""))) or find_status(diagnostic)
    if status and status.endswith(".0.0") and (better := find_status(diagnostic)):
        status = better  # "Status: 5.0.0" with the real code in the diagnostic
    smtp_code = find_reply_code(diagnostic)
    kind = _kind(action, status, smtp_code)
    if kind is None:
        return None
    return Feedback(
        kind=kind,
        key=report_key(message, data, recipient or "", action),
        recipient=recipient,
        send_id=send_id,
        status=status,
        smtp_code=smtp_code,
        diagnostic=diagnostic,
        source="dsn",
        detail=action or None,
    )


def _kind(action: str, status: str | None, smtp_code: int | None) -> Kind | None:
    if action in ("delivered", "relayed", "expanded"):
        return Kind.DELIVERED
    if action == "delayed":
        return Kind.DELAYED
    if action == "failed" or (action not in ACTIONS and (status or smtp_code)):
        return classify(status, smtp_code)
    return None


def _unfold(value: object) -> str | None:
    if value is None:
        return None
    return re.sub(r"\s*\r?\n[ \t]+", " ", str(value)).strip() or None


def _from_prose(message: Message, data: bytes, send_id: str | None) -> list[Feedback]:
    """A bounce with no status part: the codes and the failed address read from the text."""
    text = all_text(message)
    if _is_auto_reply(message):
        return []
    if not PROSE_BOUNCE.search(text) and not PROSE_BOUNCE.search(str(message.get("Subject", ""))):
        return []
    body = _before_original(text)
    status, smtp_code = find_status(body), find_reply_code(body)
    recipient = _failed_address(body, message)
    kind = classify(status, smtp_code)
    return [
        Feedback(
            kind=kind,
            key=report_key(message, data, recipient or ""),
            recipient=recipient,
            send_id=send_id,
            status=status,
            smtp_code=smtp_code,
            diagnostic=_diagnostic_line(body),
            source="dsn",
            detail="prose",
        )
    ]


def _before_original(text: str) -> str:
    """The report's own words, without the returned original message that follows them."""
    marker = re.search(
        r"^(-+ ?(this is a copy of the message|original message|below this line)|"
        r"--- Below this line is a copy of the message|Return-Path:|Received:)",
        text,
        re.I | re.M,
    )
    return text[: marker.start()] if marker else text


def _failed_address(body: str, message: Message) -> str | None:
    own = {bare_address(str(message.get(h, ""))) for h in ("From", "To", "Return-Path")}
    for match in ADDRESS.finditer(body):
        address = match.group(0).lower().rstrip(".")
        if address not in own and not address.startswith(("mailer-daemon@", "postmaster@")):
            return address
    return None


def _diagnostic_line(body: str) -> str | None:
    for line in body.splitlines():
        if find_reply_code(line) or find_status(line):
            return line.strip()[:500]
    return None
