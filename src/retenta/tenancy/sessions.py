"""Signed session cookies for UI users (itsdangerous)."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer


class Sessions:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="retenta-session")

    def issue(self, user_id: str) -> str:
        return self._serializer.dumps(user_id)

    def load(self, token: str, *, max_age: int) -> str | None:
        try:
            value = self._serializer.loads(token, max_age=max_age)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None
