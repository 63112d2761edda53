"""SMPP 3.4 pieces that need no connection: text → parts, answers → results, receipts.

Pure functions (``smpp.py`` runs the connection). GSM-7 goes as ``data_coding`` 0 (one
septet per octet), anything else as UCS-2 (``data_coding`` 8); a long text becomes parts
with a 6-octet UDH (``05 00 03 ref total seq``) split so no escape or surrogate pair is cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import smpplib.consts as c

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms import segments
from retenta.messaging.channels.sms.common import throttled
from retenta.messaging.channels.sms.reports import DeliveryReport

OK: int = c.SMPP_ESME_ROK
SMSC_DELIVERY_RECEIPT = 0x04  # esm_class bits 2-5 = 0001 in a deliver_sm (SMPP 3.4 §5.2.12)
THROTTLED = {c.SMPP_ESME_RTHROTTLED, c.SMPP_ESME_RMSGQFUL}
INVALID_DESTINATION = {c.SMPP_ESME_RINVDSTADR, 0x50, 0x51}  # RINVDSTTON, RINVDSTNPI
TEMPORARY = {c.SMPP_ESME_RSYSERR, c.SMPP_ESME_RX_T_APPN, 0x45}  # RSUBMITFAIL
DELIVERED = {"DELIVRD"}
FAILED = {"UNDELIV", "REJECTD", "EXPIRED", "DELETED", "UNKNOWN"}
MESSAGE_STATES = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN",
                  8: "REJECTD"}  # fmt: skip
_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):\s*(\S*)", re.I)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str
    err: str | None


def parse_receipt(text: str) -> Receipt | None:
    """The fields of an SMSC delivery receipt (SMPP 3.4 appendix B), or ``None``.

    >>> parse_receipt("id:0123456789 sub:001 dlvrd:001 submit date:2611280600 "
    ...               "done date:2611280601 stat:DELIVRD err:000 text:Hello")
    Receipt(message_id='0123456789', stat='DELIVRD', err='000')
    >>> parse_receipt("hello") is None
    True
    """
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(text)}
    if "id" not in fields or "stat" not in fields:
        return None
    return Receipt(fields["id"], fields["stat"].upper(), fields.get("err"))


def report_of(receipt: Receipt) -> DeliveryReport | None:
    """The delivery report a receipt means; ``None`` for ACCEPTD / ENROUTE (not final).

    >>> report_of(Receipt("m1", "UNDELIV", "001")).status
    'failed'
    >>> report_of(Receipt("m1", "ENROUTE", None)) is None
    True
    """
    if receipt.stat in DELIVERED:
        status: Literal["delivered", "failed"] = "delivered"
    elif receipt.stat in FAILED:
        status = "failed"
    else:
        return None
    reason = f"smsc {receipt.stat}" + (f" err:{receipt.err}" if receipt.err else "")
    return DeliveryReport(status, "smpp", None, receipt.message_id, receipt.err, reason)


@dataclass(frozen=True, slots=True)
class Encoded:
    data_coding: int
    esm_class: int
    parts: list[bytes]


def encode(text: str, reference: int) -> Encoded:
    """The short_message octets of each part, with a UDH when there are several.

    >>> e = encode("a" * 161, 7)
    >>> e.data_coding, hex(e.esm_class), [p[:6].hex() for p in e.parts], len(e.parts[0])
    (0, '0x40', ['050003070201', '050003070202'], 159)
    >>> encode("Привіт", 1).parts[0].decode("utf-16-be"), encode("Привіт", 1).data_coding
    ('Привіт', 8)
    """
    gsm = segments.encoding_of(text) == "GSM-7"
    encode_part = segments.gsm7_encode if gsm else (lambda s: s.encode("utf-16-be"))
    data_coding = c.SMPP_ENCODING_DEFAULT if gsm else c.SMPP_ENCODING_ISO10646
    pieces = segments.split(text)
    if len(pieces) == 1:
        return Encoded(data_coding, c.SMPP_MSGTYPE_DEFAULT, [encode_part(pieces[0])])
    total = len(pieces)
    parts = [
        bytes((0x05, 0x00, 0x03, reference & 0xFF, total, seq)) + encode_part(piece)
        for seq, piece in enumerate(pieces, start=1)
    ]
    return Encoded(data_coding, c.SMPP_GSMFEAT_UDHI, parts)


def classify(status: int, send_id: str, retry_s: float) -> SendResult | None:
    """The result of a failed ``submit_sm_resp`` status (``None`` for ESME_ROK).

    >>> classify(0x58, "s", 1.0).reason
    'ESME_RTHROTTLED (0x58); retry-after=1'
    >>> classify(0x0B, "s", 1.0).detail, classify(0x08, "s", 1.0).outcome.value
    ('invalid_number', 'temporary')
    """
    if status == c.SMPP_ESME_ROK:
        return None
    name = _status_name(status)
    if status in THROTTLED:
        return throttled(send_id, retry_s, status, name)
    description = c.DESCRIPTIONS.get(status, "unknown status")
    reason = f"{name}: {description}"
    if status in INVALID_DESTINATION:
        return SendResult(send_id, Outcome.PERMANENT, reason, status, "invalid_number")
    outcome = Outcome.TEMPORARY if status in TEMPORARY else Outcome.PERMANENT
    return SendResult(send_id, outcome, reason, status, f"smpp_{status:#x}")


def _status_name(status: int) -> str:
    for name, value in vars(c).items():
        if name.startswith("SMPP_ESME_") and value == status:
            return f"{name.removeprefix('SMPP_')} ({status:#x})"
    return f"status {status:#x}"
