"""Signed, tamper-proof values in links and addresses: unsubscribe links, bounce addresses.

One server secret, one sub-key per purpose (a bounce signature never passes as an
unsubscribe one). Tokens are lowercase hex — safe in URLs *and* in the local part of an
email address, where mail systems may change letter case.

>>> signer = LinkSigner(b"server secret")
>>> token = signer.token("unsubscribe", "ws_1", "42", "snd_abc")
>>> signer.read("unsubscribe", token)
('ws_1', '42', 'snd_abc')
>>> signer.read("unsubscribe", token.upper())  # case-insensitive on purpose
('ws_1', '42', 'snd_abc')
>>> signer.read("bounce", token) is None
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

SIGNATURE_BYTES = 10  # 80 bits: forging one needs ~2^79 tries against the live server
SEND_ID = re.compile(r"snd_[a-z0-9]{1,40}")
MAX_CACHED_WORKSPACES = 10_000


def new_send_id() -> str:
    """A time-ordered, lowercase send id usable inside an email address.

    >>> bool(SEND_ID.fullmatch(new_send_id()))
    True
    """
    return f"snd_{int(time.time() * 1000):011x}{secrets.token_hex(6)}"


class LinkSigner:
    """HMAC-SHA256 signatures over purpose-bound values."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 8:
            raise ValueError("the link-signing secret must have at least 8 bytes")
        self._secret = secret
        self._keys: dict[str, bytes] = {}

    def _key(self, purpose: str) -> bytes:
        key = self._keys.get(purpose)
        if key is None:
            derived = hmac.new(self._secret, b"retenta-link:" + purpose.encode(), hashlib.sha256)
            key = self._keys[purpose] = derived.digest()
        return key

    def signature(self, purpose: str, value: str) -> str:
        """The signature of ``value`` for ``purpose``: 20 lowercase hex digits."""
        mac = hmac.new(self._key(purpose), value.encode(), hashlib.sha256).digest()
        return mac[:SIGNATURE_BYTES].hex()

    def valid(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.signature(purpose, value), signature.lower())

    def token(self, purpose: str, *fields: str) -> str:
        """``fields`` packed and signed: ``<payload>-<signature>``."""
        if any("\x1f" in f for f in fields):
            raise ValueError("token fields cannot contain the unit separator")
        payload = "\x1f".join(fields).encode().hex()
        return f"{payload}-{self.signature(purpose, payload)}"

    def read(self, purpose: str, token: str) -> tuple[str, ...] | None:
        """The fields of a genuine token; ``None`` for a forged, edited or malformed one."""
        payload, _, signature = token.strip().lower().rpartition("-")
        if not payload or not self.valid(purpose, payload, signature):
            return None
        try:
            return tuple(bytes.fromhex(payload).decode().split("\x1f"))
        except (UnicodeDecodeError, ValueError):
            return None


class BounceAddress:
    """VERP return paths: ``bounce+<send id>-<signature>@<bounce domain>``.

    A bounce to that address names the send it belongs to; a forged one (to get somebody's
    address suppressed) fails the signature.

    >>> verp = BounceAddress(LinkSigner(b"server secret"))
    >>> address = verp.address("snd_018f3a", "bounces.shop.example")
    >>> address.startswith("bounce+snd_018f3a-"), len(address.split("@")[0]) <= 64
    (True, True)
    >>> verp.send_id(address), verp.send_id(address.upper())
    ('snd_018f3a', 'snd_018f3a')
    >>> verp.send_id(address.replace("018f3a", "018f3b")) is None
    True
    """

    PREFIX = "bounce+"

    def __init__(self, signer: LinkSigner) -> None:
        self._signer = signer

    def address(self, send_id: str, domain: str) -> str:
        if not SEND_ID.fullmatch(send_id):
            raise ValueError(f"send id {send_id!r} cannot go in an address (snd_ + a-z0-9)")
        return f"{self.PREFIX}{send_id}-{self._signer.signature('bounce', send_id)}@{domain}"

    def send_id(self, address: str) -> str | None:
        """The send id of a genuine bounce address, else ``None``."""
        local = address.strip().strip("<>").rpartition("@")[0].lower()
        if not local.startswith(self.PREFIX):
            return None
        send_id, _, signature = local[len(self.PREFIX) :].rpartition("-")
        if not SEND_ID.fullmatch(send_id) or not self._signer.valid("bounce", send_id, signature):
            return None
        return send_id


class Keyring:
    """One link-signing key per workspace, derived from the server secret.

    Leaking one workspace's key (say, to a support script) exposes no other workspace. A
    token names its workspace in the clear; :meth:`read` picks that workspace's key to
    verify it, so a token minted for one workspace never passes in another.

    >>> ring = Keyring(b"server secret")
    >>> token = ring.workspace("ws_1").token("unsubscribe", "ws_1", "42", "snd_abc")
    >>> ring.read("unsubscribe", token)
    ('ws_1', '42', 'snd_abc')
    >>> forged = Keyring(b"server secret").workspace("ws_2").token("unsubscribe", "ws_1", "42")
    >>> ring.read("unsubscribe", forged) is None
    True
    >>> url = ring.url_token("click", "ws_1", "42", "snd_abc", "0", "https://shop.example/a?b=1")
    >>> ring.read_url_token("click", url)[-1]
    'https://shop.example/a?b=1'
    >>> ring.read_url_token("click", url[:-1] + ("A" if url[-1] != "A" else "B")) is None
    True
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 8:
            raise ValueError("the link-signing secret must have at least 8 bytes")
        self._secret = secret
        self._signers: dict[str, LinkSigner] = {}

    def workspace(self, workspace_id: str) -> LinkSigner:
        signer = self._signers.get(workspace_id)
        if signer is None:
            if len(self._signers) >= MAX_CACHED_WORKSPACES:  # forged tokens name anything
                self._signers.clear()
            key = hmac.new(self._secret, b"retenta-ws:" + workspace_id.encode(), hashlib.sha256)
            signer = self._signers[workspace_id] = LinkSigner(key.digest())
        return signer

    def read(self, purpose: str, token: str) -> tuple[str, ...] | None:
        """Fields of a genuine hex ``LinkSigner.token`` (its first field names the workspace)."""
        fields = _peek_hex(token)
        if not fields:
            return None
        return self.workspace(fields[0]).read(purpose, token)

    def url_token(self, purpose: str, workspace_id: str, *fields: str) -> str:
        """A compact URL-safe token (base64url payload) for long fields such as target URLs."""
        if any("\x1f" in f for f in (workspace_id, *fields)):
            raise ValueError("token fields cannot contain the unit separator")
        raw = "\x1f".join((workspace_id, *fields)).encode()
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return f"{payload}.{self.workspace(workspace_id).signature(purpose, payload)}"

    def read_url_token(self, purpose: str, token: str) -> tuple[str, ...] | None:
        """Fields of a genuine :meth:`url_token`; ``None`` for a forged, edited or malformed one."""
        payload, _, signature = token.strip().rpartition(".")
        if not payload or not re.fullmatch(r"[A-Za-z0-9_-]+", payload):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            fields = tuple(raw.decode().split("\x1f"))
        except (ValueError, UnicodeDecodeError):
            return None
        signer = self.workspace(fields[0])
        if not re.fullmatch(r"[0-9a-f]+", signature) or not signer.valid(
            purpose, payload, signature
        ):
            return None
        return fields


def _peek_hex(token: str) -> tuple[str, ...] | None:
    """The unverified fields of a hex token (only to choose the key that verifies it)."""
    payload = token.strip().lower().rpartition("-")[0]
    try:
        return tuple(bytes.fromhex(payload).decode().split("\x1f")) if payload else None
    except (UnicodeDecodeError, ValueError):
        return None
