"""UI log-in sessions: a signed cookie naming a server-side session that log-out revokes.

The cookie alone cannot outlive a log-out: it carries ``{"u": user_id, "s": session_id}``
signed with itsdangerous, and ``load`` also checks the ``user_sessions`` row. Rows are
read once per process and cached; revocation updates the row and the cache together
(one process owns the data directory, so the cache cannot go stale).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from retenta.storage.base import Database


class Sessions:
    def __init__(self, secret_key: str, db: Database) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="retenta-session-v2")
        self._db = db
        self._live: dict[str, str | None] = {}  # session id -> user id (None: revoked/unknown)
        self._lock = threading.Lock()

    def issue(self, user_id: str) -> str:
        """Start a session for a user; returns the cookie value."""
        session_id = secrets.token_urlsafe(18)
        self._db.write(
            lambda c: c.execute(
                "INSERT INTO user_sessions (id, user_id) VALUES (?, ?)", [session_id, user_id]
            )
        )
        with self._lock:
            self._live[session_id] = user_id
        return self._serializer.dumps({"u": user_id, "s": session_id})

    def load(self, token: str, *, max_age: int) -> str | None:
        """The user id of a valid, unrevoked session cookie, or None."""
        claims = self._claims(token, max_age)
        if claims is None:
            return None
        user_id, session_id = claims
        return user_id if self._session_user(session_id) == user_id else None

    def revoke(self, token: str) -> bool:
        """End the session a cookie names (log-out). False when the cookie is not valid."""
        claims = self._claims(token, max_age=None)
        if claims is None:
            return False
        self._revoke_where("id", claims[1])
        with self._lock:
            self._live[claims[1]] = None
        return True

    def revoke_user(self, user_id: str) -> None:
        """End every session of a user (password change, user removed)."""
        self._revoke_where("user_id", user_id)
        with self._lock:
            for sid, uid in list(self._live.items()):
                if uid == user_id:
                    self._live[sid] = None

    def _claims(self, token: str, max_age: int | None) -> tuple[str, str] | None:
        try:
            value: Any = self._serializer.loads(token, max_age=max_age)
        except BadSignature:
            return None
        if not isinstance(value, dict):
            return None
        user_id, session_id = value.get("u"), value.get("s")
        if isinstance(user_id, str) and isinstance(session_id, str):
            return user_id, session_id
        return None

    def _session_user(self, session_id: str) -> str | None:
        with self._lock:
            if session_id in self._live:
                return self._live[session_id]
        with self._db.read() as cur:
            row = cur.execute(
                "SELECT user_id FROM user_sessions WHERE id = ? AND revoked_at IS NULL",
                [session_id],
            ).fetchone()
        user_id = row[0] if row else None
        with self._lock:
            self._live.setdefault(session_id, user_id)
            return self._live[session_id]

    def _revoke_where(self, column: str, value: str) -> None:
        sql = _REVOKE_BY_USER if column == "user_id" else _REVOKE_BY_ID
        self._db.write(lambda c: c.execute(sql, [value]))


_REVOKE_BY_ID = "UPDATE user_sessions SET revoked_at = now() WHERE id = ? AND revoked_at IS NULL"
_REVOKE_BY_USER = (
    "UPDATE user_sessions SET revoked_at = now() WHERE user_id = ? AND revoked_at IS NULL"
)
