"""Header values for hand-built MIME: RFC 2047 encoded words, addresses, folding.

Building the bytes directly (instead of ``email.message``) keeps a send to a few
microseconds of header work and makes every byte the DKIM signature covers explicit.

>>> encode_text("Hello")
'Hello'
>>> encode_text("Привіт, Ann")
'=?utf-8?b?0J/RgNC40LLRltGCLCBBbm4=?='
>>> format_address("ann@example.com", "Ann O'Neil")
"Ann O'Neil <ann@example.com>"
>>> format_address("ann@example.com", 'Ann "Dev", Inc.')
'"Ann \\\\"Dev\\\\", Inc." <ann@example.com>'
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

_ATEXT_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_WORD_BYTES = 45  # base64 of 45 bytes is 60 chars: each encoded word stays under 75
FOLD = "\r\n "


class HeaderError(ValueError):
    """A header value that cannot be sent; the message says which and why."""


def _no_line_breaks(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderError(f"{what} contains a line break")
    return value


def encode_text(value: str) -> str:
    """Unstructured text (Subject): ASCII as is, otherwise folded UTF-8 encoded words."""
    _no_line_breaks(value, "header text")
    if value.isascii() and "=?" not in value:
        return value
    return FOLD.join(_encoded_words(value))


def _encoded_words(value: str) -> list[str]:
    """Greedy words of at most ``_WORD_BYTES`` UTF-8 bytes, never splitting a character.

    >>> [len(w) for w in _encoded_words("ї" * 30)], _encoded_words("") == []
    ([72, 36], True)
    """
    data = value.encode()
    words: list[str] = []
    start, size = 0, len(data)
    while start < size:
        end = min(start + _WORD_BYTES, size)
        while end < size and data[end] & 0xC0 == 0x80:  # inside a character: back off
            end -= 1
        words.append(_word(data[start:end]))
        start = end
    return words


def _word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode() + "?="


def address_spec(address: str) -> str:
    """A validated ``local@domain``; an internationalized domain goes out as punycode.

    >>> address_spec("Ann@Bücher.example")
    'Ann@xn--bcher-kva.example'
    """
    _no_line_breaks(address, "an address")
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or ".." in local or not domain:
        raise HeaderError(f"{address!r} is not a deliverable address")
    try:
        ascii_domain = _idna(domain)
    except UnicodeError:
        raise HeaderError(f"{address!r} has an invalid domain") from None
    return f"{local}@{ascii_domain}"


@lru_cache(maxsize=4096)
def _idna(domain: str) -> str:
    """Memoized: a mailing goes to a few thousand domains, each checked once."""
    return domain.encode("idna").decode()


def format_address(address: str, name: str | None = None) -> str:
    """``Name <local@domain>`` with the name quoted or encoded as needed."""
    spec = address_spec(address)
    if not name:
        return spec
    _no_line_breaks(name, "a display name")
    if not name.isascii():
        return f"{FOLD.join(_encoded_words(name))} <{spec}>"
    if _ATEXT_PHRASE.fullmatch(name):
        return f"{name} <{spec}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{spec}>'
