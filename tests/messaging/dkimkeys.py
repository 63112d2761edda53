"""DKIM keys for tests and a ``dnsfunc`` that answers dkimpy's TXT lookups from them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from retenta.messaging.email.dkim import DkimKey, dns_record, generate_key


@cache
def make_key(domain: str = "shop.example", selector: str = "s1") -> DkimKey:
    return generate_key(domain, selector)


def dns_for(*keys: DkimKey) -> Callable[..., bytes | None]:
    """A resolver for ``dkim.verify(..., dnsfunc=)`` that knows exactly these keys."""
    records = {
        f"{k.selector}._domainkey.{k.domain}.".encode(): dns_record(k).encode() for k in keys
    }

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return lookup
