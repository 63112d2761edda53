"""Workspaces, keys and users, stored through the single writer."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from retenta.errors import ApiError
from retenta.storage.base import Database
from retenta.tenancy.keys import KeyKind, hash_secret, new_id, new_secret

ROLES = ("admin", "marketer", "analyst")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key or a logged-in user, always bound to one workspace."""

    workspace_id: str
    kind: str  # write | api | user
    subject: str  # key id or user id
    role: str = "admin"
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssuedKey:
    id: str
    workspace_id: str
    kind: str
    secret: str


class Tenancy:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key_cache: dict[str, Principal | None] = {}
        self._lock = threading.Lock()

    def create_workspace(self, *, name: str) -> str:
        """Create a workspace; returns its id."""
        ws_id = new_id("ws")
        self.db.write(
            lambda c: c.execute("INSERT INTO workspaces (id, name) VALUES (?, ?)", [ws_id, name])
        )
        return ws_id

    def list_workspaces(self) -> list[dict[str, Any]]:
        with self.db.read() as c:
            rows = c.execute(
                "SELECT id, name, created_at FROM workspaces ORDER BY created_at"
            ).fetchall()
        return [{"id": r[0], "name": r[1], "created_at": r[2]} for r in rows]

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        with self.db.read() as c:
            row = c.execute(
                "SELECT id, name, settings, created_at FROM workspaces WHERE id = ?", [workspace_id]
            ).fetchone()
        if row is None:
            raise ApiError(404, "not_found", "workspace not found")
        return {"id": row[0], "name": row[1], "settings": row[2], "created_at": row[3]}

    def issue_key(
        self,
        *,
        workspace_id: str,
        kind: KeyKind,
        name: str = "default",
        scopes: tuple[str, ...] = (),
    ) -> IssuedKey:
        """Create a key; the secret is returned once and only its hash is stored."""
        self.workspace(workspace_id)
        secret = new_secret(kind)
        key_id = new_id("key")
        self.db.write(
            lambda c: c.execute(
                "INSERT INTO api_keys (id, workspace_id, kind, name, prefix, secret_hash, scopes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [key_id, workspace_id, kind, name, secret[:8], hash_secret(secret), list(scopes)],
            )
        )
        return IssuedKey(key_id, workspace_id, kind, secret)

    def list_keys(self, *, workspace_id: str) -> list[dict[str, Any]]:
        with self.db.read() as c:
            rows = c.execute(
                "SELECT id, kind, name, prefix, scopes, created_at, revoked_at FROM api_keys"
                " WHERE workspace_id = ? ORDER BY created_at",
                [workspace_id],
            ).fetchall()
        cols = ("id", "kind", "name", "prefix", "scopes", "created_at", "revoked_at")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def revoke_key(self, *, workspace_id: str, key_id: str) -> None:
        def work(c: Any) -> int:
            c.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE id = ? AND workspace_id = ?"
                " AND revoked_at IS NULL RETURNING id",
                [key_id, workspace_id],
            )
            return len(c.fetchall())

        if not self.db.write(work):
            raise ApiError(404, "not_found", "key not found")
        with self._lock:
            self._key_cache.clear()

    def authenticate_key(self, secret: str, *, kind: KeyKind) -> Principal | None:
        """The principal for a key secret of the given kind, or None."""
        known, cached = self.cached_key(secret, kind=kind)
        if known:
            return cached
        digest = hash_secret(secret)
        with self.db.read() as c:
            row = c.execute(
                "SELECT workspace_id, kind, id, scopes FROM api_keys"
                " WHERE secret_hash = ? AND revoked_at IS NULL",
                [digest],
            ).fetchone()
        found = Principal(row[0], row[1], row[2], "admin", tuple(row[3])) if row else None
        with self._lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[digest] = found
        return found if found is not None and found.kind == kind else None

    def cached_key(self, secret: str, *, kind: KeyKind) -> tuple[bool, Principal | None]:
        """``(True, principal or None)`` when the key's answer is cached (revocation clears
        the cache), else ``(False, None)``: then ``authenticate_key`` reads it. No I/O, so
        the event loop may call it."""
        digest = hash_secret(secret)
        with self._lock:
            if digest not in self._key_cache:
                return False, None
            cached = self._key_cache[digest]
        return True, cached if cached is not None and cached.kind == kind else None

    def create_user(self, *, workspace_id: str, email: str, password: str, role: str) -> str:
        if role not in ROLES:
            raise ApiError(
                422, "validation_error", f"role must be one of {', '.join(ROLES)}", field="role"
            )
        if len(password) < 8:
            raise ApiError(
                422, "validation_error", "password must be at least 8 characters", field="password"
            )
        self.workspace(workspace_id)
        user_id = new_id("usr")
        pw_hash = _hasher.hash(password)

        def work(c: Any) -> None:
            taken = c.execute(
                "SELECT 1 FROM users WHERE workspace_id = ? AND email = ?",
                [workspace_id, email.lower()],
            ).fetchone()
            if taken:
                raise ApiError(409, "conflict", "a user with this email exists", field="email")
            c.execute(
                "INSERT INTO users (id, workspace_id, email, password_hash, role)"
                " VALUES (?, ?, ?, ?, ?)",
                [user_id, workspace_id, email.lower(), pw_hash, role],
            )

        self.db.write(work)
        return user_id

    def list_users(self, *, workspace_id: str) -> list[dict[str, Any]]:
        with self.db.read() as c:
            rows = c.execute(
                "SELECT id, email, role, created_at FROM users WHERE workspace_id = ?"
                " ORDER BY created_at",
                [workspace_id],
            ).fetchall()
        return [{"id": r[0], "email": r[1], "role": r[2], "created_at": r[3]} for r in rows]

    def login(self, *, email: str, password: str) -> Principal | None:
        """Check a password; returns the user's principal or None."""
        with self.db.read() as c:
            rows = c.execute(
                "SELECT id, workspace_id, password_hash, role FROM users WHERE email = ?",
                [email.lower()],
            ).fetchall()
        for user_id, ws, pw_hash, role in rows:
            try:
                _hasher.verify(pw_hash, password)
            except VerificationError:
                continue
            return Principal(ws, "user", user_id, role)
        return None

    def user_principal(self, user_id: str) -> Principal | None:
        with self.db.read() as c:
            row = c.execute(
                "SELECT id, workspace_id, role FROM users WHERE id = ?", [user_id]
            ).fetchone()
        return Principal(row[1], "user", row[0], row[2]) if row else None
