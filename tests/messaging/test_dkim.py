"""DKIM signatures made with OpenSSL verify with dkimpy; any tampering breaks them."""

from __future__ import annotations

import dkim
import pytest

from retenta.messaging.email.dkim import DkimError, DkimKey, DkimSigner, generate_key
from tests.messaging.dkimkeys import dns_for, make_key

MESSAGE = (
    b"From: Shop <news@shop.example>\r\n"
    b"To: ann@example.com\r\n"
    b"Subject: Hello   there\r\n  folded  line\r\n"
    b"Date: Sat, 28 Nov 2026 03:00:00 +0000\r\n"
    b"Message-ID: <1@shop.example>\r\n"
    b"Received: by relay; Sat, 28 Nov 2026 03:00:00 +0000\r\n"
    b"Received: by other; Sat, 28 Nov 2026 03:00:00 +0000\r\n"
    b"X-Mailer: retenta\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello  world \t\r\n"
    b"second line\r\n"
    b"\r\n"
    b"\r\n"
)


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return make_key()


@pytest.fixture(scope="module")
def signed(key: DkimKey) -> bytes:
    return DkimSigner(key).sign(MESSAGE, timestamp=1_795_000_000)


def verifies(message: bytes, key: DkimKey) -> bool:
    return bool(dkim.verify(message, dnsfunc=dns_for(key)))


def test_signature_verifies_with_dkimpy(signed: bytes, key: DkimKey) -> None:
    assert signed.endswith(MESSAGE)
    assert verifies(signed, key)
    field = signed[: signed.index(b"\r\nFrom:")].decode()
    assert "a=rsa-sha256;" in field
    assert "c=relaxed/relaxed;" in field
    assert "d=shop.example;" in field
    assert "s=s1;" in field
    assert "t=1795000000;" in field


def test_relaxed_canonicalization_survives_whitespace_changes(signed: bytes, key: DkimKey) -> None:
    rewrapped = signed.replace(
        b"Subject: Hello   there\r\n  folded  line", b"subject:Hello there folded line"
    )
    rewrapped = rewrapped.replace(b"Hello  world \t\r\n", b"Hello world\r\n") + b"\r\n\r\n"
    assert verifies(rewrapped, key)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Hello  world", b"Hello  wurld"),  # body
        (b"Subject: Hello", b"Subject: Hallo"),  # signed header
        (b"To: ann@example.com", b"To: eve@example.com"),
        (b"X-Mailer: retenta", b"From: ceo@shop.example"),  # a second From (over-signed)
        (b"X-Mailer: retenta", b"Subject: pay now"),  # a second Subject (over-signed)
        (b"X-Mailer: retenta", b"List-Unsubscribe: <https://evil.example>"),
        (b"d=shop.example", b"d=evil.example"),
    ],
)
def test_tampering_breaks_the_signature(
    signed: bytes, key: DkimKey, old: bytes, new: bytes
) -> None:
    assert old in signed
    assert not verifies(signed.replace(old, new, 1), key)


def test_unsigned_headers_may_change(signed: bytes, key: DkimKey) -> None:
    assert verifies(signed.replace(b"X-Mailer: retenta", b"X-Mailer: relay"), key)
    assert verifies(b"Received: by mx; Sat, 28 Nov 2026\r\n" + signed, key)


def test_repeated_headers_are_signed_bottom_up(key: DkimKey) -> None:
    message = MESSAGE.replace(
        b"X-Mailer: retenta\r\n", b"References: <a@x>\r\nReferences: <b@x>\r\n"
    )
    signed = DkimSigner(key).sign(message)
    assert verifies(signed, key)
    assert not verifies(signed.replace(b"<a@x>", b"<c@x>"), key)


def test_another_domains_key_does_not_verify(signed: bytes) -> None:
    other = make_key("shop.example", "s2")
    wrong_selector = signed.replace(b"s=s1;", b"s=s2;", 1)
    assert not bool(dkim.verify(wrong_selector, dnsfunc=dns_for(other)))


def test_unusable_keys_are_refused_with_a_reason() -> None:
    with pytest.raises(DkimError, match="cannot be read"):
        DkimSigner(DkimKey("shop.example", "s1", b"-----BEGIN PRIVATE KEY-----\nnope\n"))
    small = generate_key("shop.example", "s1", bits=1024)
    assert DkimSigner(small).sign(MESSAGE).startswith(b"DKIM-Signature:")
