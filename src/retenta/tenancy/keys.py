"""Key generation and hashing (pure).

Keys are 32 random bytes, URL-safe; only their SHA-256 is stored. SHA-256 (not
argon2) is right here: the secret has 256 bits of entropy, so a slow hash adds
nothing, and every ingestion request must verify one.

>>> k = new_secret("write"); k.startswith("rtw_") and len(k) > 40
True
>>> hash_secret("abc") == hash_secret("abc")
True
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

KeyKind = Literal["write", "api"]
PREFIX: dict[str, str] = {"write": "rtw_", "api": "rta_"}


def new_secret(kind: KeyKind) -> str:
    return PREFIX[kind] + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
