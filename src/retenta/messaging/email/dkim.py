"""DKIM signing (RFC 6376): rsa-sha256, relaxed/relaxed, RSA through OpenSSL (``cryptography``).

dkimpy's own pure-Python RSA signs ~140 messages/s per core; OpenSSL signs ~3,400/s, which
the render + sign figure needs. dkimpy stays as the independent verifier in the tests.
Headers are signed bottom-up per RFC 6376 §5.4.2, and the ones a forger would like to add
(From, Subject, List-Unsubscribe, …) are *over-signed*: listed once more than present, so
adding another instance after signing breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from retenta.messaging.email.canonical import (
    CRLF,
    header_fields,
    relaxed_body,
    relaxed_header,
    split_message,
)

SIGNED_HEADERS: tuple[str, ...] = (
    "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version",
    "content-type", "content-transfer-encoding", "list-id", "list-unsubscribe",
    "list-unsubscribe-post", "feedback-id", "in-reply-to", "references",
)  # fmt: skip
OVERSIGNED: tuple[str, ...] = (
    "from", "subject", "to", "cc", "reply-to", "list-unsubscribe", "list-unsubscribe-post",
)  # fmt: skip


class DkimError(ValueError):
    """A key or message that cannot be signed; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A signing identity: ``d=`` domain, ``s=`` selector and the RSA private key (PEM)."""

    domain: str
    selector: str
    private_pem: bytes = field(repr=False)


def generate_key(domain: str, selector: str, *, bits: int = 2048) -> DkimKey:
    """A fresh RSA key for ``selector._domainkey.domain``."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return DkimKey(domain=domain, selector=selector, private_pem=pem)


def dns_record(key: DkimKey) -> str:
    """The TXT record to publish at ``<selector>._domainkey.<domain>``."""
    public = _load_private(key.private_pem).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def _load_private(pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError(f"the DKIM private key cannot be read: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimError("the DKIM private key must be an RSA key")
    if key.key_size < 1024:
        raise DkimError(f"the DKIM key has {key.key_size} bits; at least 1024 are required")
    return key


class DkimSigner:
    """Signs messages for one key; ``sign`` returns the message with DKIM-Signature on top."""

    def __init__(
        self,
        key: DkimKey,
        *,
        signed_headers: Sequence[str] = SIGNED_HEADERS,
        oversigned: Sequence[str] = OVERSIGNED,
    ) -> None:
        self.key = key
        self._private = _load_private(key.private_pem)
        self._signed = frozenset(h.lower().encode("ascii") for h in signed_headers)
        self._oversigned = tuple(h.lower().encode("ascii") for h in oversigned)
        self._fixed_tags = (
            b"v=1",
            b"a=rsa-sha256",
            b"c=relaxed/relaxed",
            b"d=" + key.domain.encode("idna"),
            b"s=" + key.selector.encode("ascii"),
        )

    def sign(
        self, message: bytes, *, timestamp: int | None = None, body_canonical: bool = False
    ) -> bytes:
        """``message`` (CRLF line ends) with a DKIM-Signature field prepended.

        ``body_canonical``: the caller guarantees the body is already in relaxed form (as
        ``MimeBuilder`` does), so the per-message canonicalization pass is skipped.
        """
        header = self.signature_field(message, timestamp=timestamp, body_canonical=body_canonical)
        return header + message

    def signature_field(
        self, message: bytes, *, timestamp: int | None = None, body_canonical: bool = False
    ) -> bytes:
        """The ``DKIM-Signature: …\\r\\n`` field for ``message``."""
        head, body = split_message(message)
        fields = header_fields(head)
        names, canonical_headers = self._select(fields)
        canonical_body = body if body_canonical and body.endswith(CRLF) else relaxed_body(body)
        body_hash = base64.b64encode(hashlib.sha256(canonical_body).digest())
        tags = self._tags(names, body_hash, timestamp or int(time.time()))
        # The field's relaxed form, known without parsing it back: unfolding turns each
        # ";CRLF TAB" separator into "; " and no tag holds whitespace.
        signed_data = canonical_headers + b"dkim-signature:" + b"; ".join(tags)
        signature = self._private.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
        return b"DKIM-Signature: " + b";\r\n\t".join(tags) + _folded_base64(signature) + CRLF

    def _select(self, fields: list[tuple[bytes, bytes]]) -> tuple[list[bytes], bytes]:
        """The ``h=`` names (over-signed ones once more) and the canonical fields they cover."""
        names, parts = _bottom_up(fields, self._signed)
        names.extend(self._oversigned)
        return names, b"".join(parts)

    def _tags(self, names: list[bytes], body_hash: bytes, timestamp: int) -> list[bytes]:
        """The field's tags in order, ``b=`` last and still empty (the signature follows)."""
        return [
            *self._fixed_tags,
            b"t=%d" % timestamp,
            b"h=" + b":".join(names),
            b"bh=" + body_hash,
            b"b=",
        ]


def _bottom_up(
    fields: list[tuple[bytes, bytes]], signed: frozenset[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """Per RFC 6376 §5.4.2: for a name listed k times, the k-th listing takes the k-th
    instance counted from the bottom. Listing each present instance once, in header order of
    first appearance, gives the fields in the order the verifier will pick them."""
    instances: dict[bytes, list[tuple[bytes, bytes]]] = {}
    order: list[bytes] = []
    for name, value in fields:
        lower = name.strip().lower()
        if lower not in signed:
            continue
        if lower not in instances:
            instances[lower] = []
            order.append(lower)
        instances[lower].append((name, value))
    names: list[bytes] = []
    parts: list[bytes] = []
    for lower in order:
        for name, value in reversed(instances[lower]):
            names.append(lower)
            parts.append(relaxed_header(name, value))
    return names, parts


def _folded_base64(data: bytes, width: int = 72) -> bytes:
    """Base64 folded with CRLF + TAB (FWS is allowed inside ``b=``)."""
    encoded = base64.b64encode(data)
    return b"\r\n\t".join(encoded[i : i + width] for i in range(0, len(encoded), width))
