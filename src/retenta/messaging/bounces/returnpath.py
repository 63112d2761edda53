"""Reading the signed addresses our emails carry, with the key of the workspace that sent them.

Each message is built with its workspace's link signer (``Keyring.workspace``), so the
VERP return path ``bounce+<send>-<sig>@…`` and the RFC 2369 mailto unsubscribe address
``unsubscribe+<send>-<sig>@…`` are signed with that workspace's key. The address does not
name the workspace: the send does, so the send is looked up first and its workspace's key
checks the signature. A forged or edited address, or one naming an unknown send, is ``None``.
"""

from __future__ import annotations

import hmac
import re

from retenta.messaging.bounces.apply import find_sends
from retenta.messaging.signing import SEND_ID, Keyring
from retenta.storage.base import Database

LOCAL = re.compile(r"^(bounce|unsubscribe)\+(snd_[a-z0-9]{1,40})-([0-9a-f]{20})$")


class ReturnPaths:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    def read(self, address: str) -> tuple[str, str] | None:
        """``(purpose, send_id)`` of a genuine ``bounce+``/``unsubscribe+`` address."""
        local = address.strip().strip("<>").rpartition("@")[0].lower()
        match = LOCAL.match(local)
        if match is None:
            return None
        purpose, send_id, signature = match.groups()
        if not SEND_ID.fullmatch(send_id):
            return None
        with self.db.read() as cur:
            send = find_sends(cur, {send_id}, None).get(send_id)
        if send is None:
            return None
        expected = self.keyring.workspace(send.workspace_id).signature(purpose, send_id)
        return (purpose, send_id) if hmac.compare_digest(expected, signature) else None
