"""App user verification: the app proves which user it speaks for (like Intercom / Braze).

The workspace's write key is public (it ships inside every app), so it cannot tell users
apart. The workspace's backend therefore computes, when a user logs in,
``user_token = hex(HMAC-SHA256(identity secret, user id))`` and hands it to the app; the app
sends the user id and that token with every inbox request. Without the secret nobody can
make a token for another user id, so one user can never read another's inbox.

The identity secret is derived from the server secret and a per-workspace *generation*
(``HMAC(server secret, "retenta-inbox-identity:<workspace>:<generation>")``): nothing secret
is stored, and rotating (a new generation) invalidates every token made with the old one.
A workspace that never created a secret (generation 0) accepts no app requests.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from retenta.storage.base import Database


def user_token(secret: str, user_id: str) -> str:
    """What the workspace's backend gives the app for ``user_id``.

    >>> user_token("s3cret", "user-42")[:16]
    '1136c48073bd2ba6'
    """
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class IdentityKeys:
    """Each workspace's identity secret, derived from the server secret and its generation."""

    def __init__(self, db: Database, server_secret: bytes) -> None:
        self.db = db
        self._server_secret = server_secret

    def secret(self, workspace_id: str, generation: int) -> str:
        label = f"retenta-inbox-identity:{workspace_id}:{generation}".encode()
        return hmac.new(self._server_secret, label, hashlib.sha256).hexdigest()

    def generation(self, workspace_id: str) -> int:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT generation FROM inbox_identity_keys WHERE workspace_id = ?",
                [workspace_id],
            ).fetchone()
        return int(row[0]) if row else 0

    def current(self, workspace_id: str) -> str | None:
        """The workspace's secret, or None before one was created."""
        generation = self.generation(workspace_id)
        return self.secret(workspace_id, generation) if generation else None

    async def rotate(self, workspace_id: str) -> tuple[int, str]:
        """A new secret (the old one stops working at once): ``(generation, secret)``."""

        def work(conn: Any) -> int:
            row = conn.execute(
                "INSERT INTO inbox_identity_keys (workspace_id, generation, rotated_at)"
                " VALUES (?, 1, ?) ON CONFLICT (workspace_id) DO UPDATE"
                " SET generation = inbox_identity_keys.generation + 1,"
                " rotated_at = excluded.rotated_at"
                " RETURNING generation",
                [workspace_id, datetime.now(UTC)],
            ).fetchone()
            return int(row[0])

        generation = await self.db.awrite(work)
        return generation, self.secret(workspace_id, generation)

    def verify(self, workspace_id: str, user_id: str, token: str) -> bool:
        """Whether ``token`` is the user token of ``user_id`` under the current secret."""
        secret = self.current(workspace_id)
        if secret is None:
            return False
        return hmac.compare_digest(user_token(secret, user_id), token.strip().lower())
