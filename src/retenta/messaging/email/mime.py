"""One outgoing email as bytes: headers for deliverability, multipart/alternative body.

Marketing mail carries ``List-Unsubscribe`` (a signed https link and a mailto) with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058); transactional mail
carries neither. Every message has ``Feedback-ID`` (Gmail's feedback loop) and goes out
with a per-message VERP return path, so a bounce names its send.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import StrEnum

import numpy as np

from retenta.messaging.email.headers import HeaderError, address_spec, encode_text, format_address
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.signing import BounceAddress, LinkSigner

_SPACE_RUN = re.compile(r"[ \t]{2,}|\t")
_LINE_END_SPACE = re.compile(r" (?=\r?\n|$)")
_CRLF = np.frombuffer(b"\r\n", np.uint8)


class Category(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a profile sends as: From, optional Reply-To, the bounce and link domains."""

    address: str
    name: str | None = None
    reply_to: str | None = None
    bounce_domain: str | None = None  # default: the From domain
    unsubscribe_base_url: str = "https://localhost/u/"
    feedback_sender: str = "retenta"


@dataclass(frozen=True, slots=True)
class Recipient:
    workspace_id: str
    contact_id: int
    address: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """What the SMTP channel needs: the envelope and the exact bytes (DKIM-signable)."""

    send_id: str
    mail_from: str  # the VERP return path
    rcpt_to: str
    message_id: str
    data: bytes
    category: Category = Category.MARKETING
    headers: dict[str, str] = field(default_factory=dict)
    body_canonical: bool = False  # the body is already in DKIM relaxed form (MimeBuilder's are)


class MimeBuilder:
    """Builds messages for one sender; signing links and bounce addresses with ``signer``."""

    def __init__(self, sender: Sender, signer: LinkSigner) -> None:
        self.sender = sender
        self._signer = signer
        self._verp = BounceAddress(signer)
        self._from = format_address(sender.address, sender.name)
        self._domain = address_spec(sender.address).rpartition("@")[2]
        self._bounce_domain = sender.bounce_domain or self._domain

    def build(
        self,
        *,
        send_id: str,
        recipient: Recipient,
        content: RenderedEmail,
        category: Category,
        campaign_id: str = "",
        timestamp: float | None = None,
    ) -> OutgoingEmail:
        """The message for one recipient; raises ``HeaderError`` for an unsendable address."""
        # From the send alone: a send handed over again after a crash carries the same
        # Message-ID, so the receiving side (and our own counting) can tell it is a copy.
        message_id = f"<{send_id}@{self._domain}>"
        nonce = secrets.token_hex(12)
        headers = self._headers(send_id, recipient, content, category, campaign_id, message_id)
        headers["Date"] = date_header(time.time() if timestamp is None else timestamp)
        boundary = f"=_rt_{nonce}"
        headers["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        # One join of every piece: the 30 KB body is copied once, not once per layer.
        data = b"".join([_header_block(headers), b"\r\n", *_alternative(boundary, content)])
        return OutgoingEmail(
            send_id=send_id,
            mail_from=self._verp.address(send_id, self._bounce_domain),
            rcpt_to=address_spec(recipient.address),
            message_id=message_id,
            data=data,
            category=category,
            headers=headers,
            body_canonical=True,
        )

    def _headers(
        self,
        send_id: str,
        recipient: Recipient,
        content: RenderedEmail,
        category: Category,
        campaign_id: str,
        message_id: str,
    ) -> dict[str, str]:
        headers = {
            "From": self._from,
            "To": format_address(recipient.address, recipient.name),
            "Subject": encode_text(content.subject),
            "Message-ID": message_id,
            "MIME-Version": "1.0",
        }
        if self.sender.reply_to:
            headers["Reply-To"] = format_address(self.sender.reply_to)
        if category is Category.MARKETING:
            headers.update(self.unsubscribe_headers(send_id, recipient))
        headers["Feedback-ID"] = self.feedback_id(campaign_id, recipient.workspace_id, category)
        headers["X-Retenta-Send"] = send_id
        return headers

    def unsubscribe_headers(self, send_id: str, recipient: Recipient) -> dict[str, str]:
        """RFC 2369 + RFC 8058: a signed one-click https URL first, a mailto second."""
        token = self._signer.token(
            "unsubscribe", recipient.workspace_id, str(recipient.contact_id), send_id
        )
        url = self.sender.unsubscribe_base_url + token
        mailto_local = f"unsubscribe+{send_id}-{self._signer.signature('unsubscribe', send_id)}"
        mailto = f"mailto:{mailto_local}@{self._bounce_domain}?subject=unsubscribe"
        return {
            "List-Unsubscribe": f"<{url}>, <{mailto}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def feedback_id(self, campaign_id: str, workspace_id: str, category: Category) -> str:
        """Gmail's ``a:b:c:SenderId`` — campaign, customer, mail type, sender."""
        parts = [campaign_id or "none", workspace_id, category.value, self.sender.feedback_sender]
        return ":".join(p.replace(":", "_") for p in parts)


def date_header(timestamp: float) -> str:
    """RFC 5322 date in UTC, formatted once per second (a send builds thousands a second).

    >>> date_header(1795000000.9)
    'Wed, 18 Nov 2026 11:06:40 -0000'
    """
    second = math.floor(timestamp)
    cached_second, text = _last_date[0]  # one tuple: threads never see a torn pair
    if cached_second != second:
        text = formatdate(second, localtime=False)
        _last_date[0] = (second, text)
    return text


_last_date: list[tuple[int, str]] = [(-1, "")]


def _header_block(headers: dict[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        unfolded = value.replace("\r\n ", "")
        if "\r" in unfolded or "\n" in unfolded:
            raise HeaderError(f"header {name} contains a line break")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("ascii")


def _alternative(boundary: str, content: RenderedEmail) -> list[bytes | memoryview]:
    """The body's pieces, in order (joined once by the caller)."""
    opener = f"--{boundary}\r\n".encode()
    return [
        opener,
        _part("text/plain", content.text),
        opener,
        *_base64_part("text/html", content.html),
        f"--{boundary}--\r\n".encode(),
    ]


def _part(mime_type: str, text: str) -> bytes:
    head = (
        f"Content-Type: {mime_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()
    return head + quoted_printable(single_spaced(text)) + b"\r\n"


def single_spaced(text: str) -> str:
    """Runs of spaces/tabs → one space, none at line ends: the text part is then already in
    DKIM's relaxed form, so the whole body is (the HTML part is base64), and signing can
    skip canonicalizing 30 KB per message.

    >>> single_spaced("a  b\\t c \\nd")
    'a b c\\nd'
    """
    if "\t" in text or "  " in text:  # a tidy text part has neither: skip the regexes
        text = _SPACE_RUN.sub(" ", text)
    if " \n" in text or " \r" in text or text.endswith(" "):
        text = _LINE_END_SPACE.sub("", text)
    return text


def _base64_part(mime_type: str, text: str) -> list[bytes | memoryview]:
    """HTML goes base64: ~20x faster to encode than quoted-printable, no spaces to canonicalize
    for DKIM, and what large senders do; the text part stays readable QP. Every line ends in
    CRLF, the last one too: the delimiter that follows starts a line."""
    head = (
        f"Content-Type: {mime_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    return [head, *_base64_rows(text.encode())]


def base64_lines(data: bytes, width: int = 76) -> bytes:
    """Base64 in CRLF-separated lines of ``width``, no CRLF after the last one.

    >>> base64_lines(b"0123456789" * 6, width=40)
    b'MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5\\r\\nMDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5'
    >>> base64_lines(b""), base64_lines(b"a")
    (b'', b'YQ==')
    """
    return b"".join(_base64_rows(data, width))[:-2]


def _base64_rows(data: bytes, width: int = 76) -> list[bytes | memoryview]:
    """Base64 lines of ``width``, each ending in CRLF, as pieces to join.

    The full lines are rows of a numpy array (slicing 400 lines of a 30 KB body in Python
    cost twice the encoding itself), handed over as a view, without a copy.
    """
    encoded = base64.b64encode(data)
    full, tail = divmod(len(encoded), width)
    rows = np.empty((full, width + 2), np.uint8)
    rows[:, :width] = np.frombuffer(encoded, np.uint8, full * width).reshape(full, width)
    rows[:, width:] = _CRLF
    pieces: list[bytes | memoryview] = [rows.reshape(-1).data]
    if tail:
        pieces += [encoded[full * width :], b"\r\n"]
    return pieces


def quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends, no line over 76 characters.

    >>> quoted_printable("Ціна: 5 €\\n. dot")
    b'=D0=A6=D1=96=D0=BD=D0=B0: 5 =E2=82=AC\\r\\n=2E dot'
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalized.encode(), quotetabs=False, istext=True)
    # A leading dot is encoded too: some relays mishandle lines that start with one.
    encoded = encoded.replace(b"\n.", b"\n=2E")
    if encoded.startswith(b"."):
        encoded = b"=2E" + encoded[1:]
    return encoded.replace(b"\n", b"\r\n")
