"""Channel settings per workspace: named configs, secrets sealed at rest (table from 0018).

A config is the channel type's pydantic ``Config`` (``channels/registry.py``). Its
``SecretStr`` fields — SMTP passwords, DKIM and VAPID private keys, provider tokens — are
pulled out by path, sealed together with AES-GCM under a key derived from the server secret
(HKDF-SHA256, its own ``info``), and stored apart from the plain fields. The row's identity
(workspace, channel, name) is the associated data, so a sealed blob copied into another row
or workspace does not open. Nothing here logs a config, and :func:`masked` is the only shape
the API returns: secret values never leave the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, SecretStr

from retenta.storage.base import Database

MASK = "********"
_VERSION = b"\x01"
_NONCE = 12


class SealError(ValueError):
    """A sealed value that does not open: another server secret, or moved to another row."""


class SecretBox:
    """AES-256-GCM with a key derived from the server secret; a fresh 96-bit nonce per seal."""

    def __init__(self, server_secret: bytes, *, purpose: bytes = b"retenta channel settings v1"):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            server_secret
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        if sealed[:1] != _VERSION:
            raise SealError("unknown sealed-value version")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, associated)
        except InvalidTag:
            raise SealError("the sealed value does not open with this server secret") from None


Path = tuple[str | int, ...]


def split_secrets(value: Any, path: Path = ()) -> tuple[Any, dict[Path, str]]:
    """The value with every ``SecretStr`` replaced by ``None``, and the secrets by path.

    >>> split_secrets({"host": "h", "auth": {"password": SecretStr("pw")}})
    ({'host': 'h', 'auth': {'password': None}}, {('auth', 'password'): 'pw'})
    """
    if isinstance(value, SecretStr):
        return None, {path: value.get_secret_value()}
    found: dict[Path, str] = {}
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            plain[key], inner = split_secrets(item, (*path, key))
            found.update(inner)
        return plain, found
    if isinstance(value, list | tuple):
        items = []
        for index, item in enumerate(value):
            plain_item, inner = split_secrets(item, (*path, index))
            items.append(plain_item)
            found.update(inner)
        return items, found
    return value, found


def put_path(doc: Any, path: Path, value: Any) -> None:
    """Set ``doc[path[0]][path[1]]… = value`` (the containers exist: they came from a dump)."""
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def secret_paths(model: BaseModel) -> list[str]:
    """Dotted paths of the secrets a config holds (what the API says is set)."""
    _, found = split_secrets(model.model_dump())
    return sorted(".".join(str(p) for p in path) for path in found)


def masked(model: BaseModel) -> dict[str, Any]:
    """The config as the API shows it: every secret that is set reads ``********``."""
    plain, found = split_secrets(model.model_dump())
    for path in found:
        put_path(plain, path, MASK)
    return orjson.loads(orjson.dumps(plain, default=str))  # type: ignore[no-any-return]


def keep_unchanged_secrets(
    incoming: Mapping[str, Any], previous: BaseModel | None
) -> dict[str, Any]:
    """A PUT body with masked or omitted secrets filled from the stored config.

    The UI shows ``********`` for a set secret and sends it back unchanged on save; that (or
    ``null``) means "keep the stored one", never "set the password to eight stars".
    """
    body = orjson.loads(orjson.dumps(dict(incoming)))
    if previous is None:
        return _drop_masks(body)  # type: ignore[no-any-return]
    _, stored = split_secrets(previous.model_dump())
    for path, secret in stored.items():
        if _path_value(body, path) in (MASK, None, _MISSING):
            _set_creating(body, path, secret)
    return _drop_masks(body)  # type: ignore[no-any-return]


_MISSING = object()


def _child(doc: Any, key: str | int) -> Any:
    """``doc[key]`` of a JSON object or array, or ``_MISSING``."""
    if isinstance(doc, dict):
        return doc.get(key, _MISSING)
    if isinstance(doc, list) and isinstance(key, int) and 0 <= key < len(doc):
        return doc[key]
    return _MISSING


def _path_value(doc: Any, path: Path) -> Any:
    for key in path:
        doc = _child(doc, key)
        if doc is _MISSING:
            return _MISSING
    return doc


def _set_creating(doc: Any, path: Path, value: Any) -> None:
    for key in path[:-1]:
        doc = _child(doc, key)
        if doc is _MISSING or doc is None:
            return  # the caller removed the whole section: the secret goes with it
    if isinstance(doc, dict) or _child(doc, path[-1]) is not _MISSING:
        doc[path[-1]] = value


def _drop_masks(doc: Any) -> Any:
    """A leftover mask (a secret never stored) becomes absent rather than a literal value."""
    if isinstance(doc, dict):
        return {k: _drop_masks(v) for k, v in doc.items() if v != MASK}
    if isinstance(doc, list):
        return [_drop_masks(v) for v in doc]
    return doc


@dataclass(frozen=True, slots=True)
class StoredConfig:
    channel: str
    name: str
    config: BaseModel
    updated_at: datetime


class ChannelSettingsStore:
    """Named channel configs of each workspace; reads open the sealed secrets in memory."""

    def __init__(self, db: Database, box: SecretBox, types: Mapping[str, type[BaseModel]]):
        self.db = db
        self.box = box
        self.types = types  # channel type -> its Config class

    def put(self, workspace_id: str, channel: str, name: str, config: BaseModel) -> bool:
        """Store (insert or replace) one config; True when it is new."""
        return self._write(workspace_id, channel, name, config, mode="put")

    def create(
        self,
        workspace_id: str,
        channel: str,
        name: str,
        config: BaseModel,
        *,
        replace_if: bool = False,
    ) -> bool:
        """Store only if absent (``replace_if``: or if the stored one holds no secret), in one
        writer unit, so two first uses racing keep one key; True when this one was stored."""
        return self._write(
            workspace_id, channel, name, config, mode="replace_unsealed" if replace_if else "create"
        )

    def _write(
        self, workspace_id: str, channel: str, name: str, config: BaseModel, *, mode: str
    ) -> bool:
        plain, found = split_secrets(config.model_dump())
        identity = _identity(workspace_id, channel, name)
        sealed = self.box.seal(_secrets_json(found), identity) if found else None
        row = [orjson.dumps(plain, default=str).decode(), sealed, datetime.now(UTC)]

        def work(conn: Any) -> bool:
            if mode != "put":
                existing = conn.execute(
                    "SELECT sealed IS NULL FROM channel_settings"
                    " WHERE workspace_id = ? AND channel = ? AND name = ?",
                    [workspace_id, channel, name],
                ).fetchone()
                if existing is not None and not (mode == "replace_unsealed" and existing[0]):
                    return False
            updated = conn.execute(
                "UPDATE channel_settings SET config = ?, sealed = ?, updated_at = ?"
                " WHERE workspace_id = ? AND channel = ? AND name = ? RETURNING 1",
                [*row, workspace_id, channel, name],
            ).fetchall()
            if updated:
                return mode != "put"
            conn.execute(
                "INSERT INTO channel_settings (workspace_id, channel, name, config, sealed,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [workspace_id, channel, name, row[0], sealed, row[2], row[2]],
            )
            return True

        return self.db.write(work)

    def get(self, workspace_id: str, channel: str, name: str) -> BaseModel | None:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT config, sealed, updated_at FROM channel_settings"
                " WHERE workspace_id = ? AND channel = ? AND name = ?",
                [workspace_id, channel, name],
            ).fetchone()
        if row is None:
            return None
        return self._config(workspace_id, channel, name, row[0], row[1])

    def all(self, workspace_id: str, channel: str | None = None) -> list[StoredConfig]:
        """Every config of the workspace (of one channel type), by type and name."""
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT channel, name, config, sealed, updated_at FROM channel_settings"
                " WHERE workspace_id = ? AND (? IS NULL OR channel = ?) ORDER BY channel, name",
                [workspace_id, channel, channel],
            ).fetchall()
        return [
            StoredConfig(kind, name, self._config(workspace_id, kind, name, plain, sealed), at)
            for kind, name, plain, sealed, at in rows
            if kind in self.types
        ]

    def names(self, workspace_id: str, channel: str) -> list[str]:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT name FROM channel_settings WHERE workspace_id = ? AND channel = ?"
                " ORDER BY name",
                [workspace_id, channel],
            ).fetchall()
        return [str(r[0]) for r in rows]

    def delete(self, workspace_id: str, channel: str, name: str) -> bool:
        def work(conn: Any) -> bool:
            return bool(
                conn.execute(
                    "DELETE FROM channel_settings WHERE workspace_id = ? AND channel = ?"
                    " AND name = ? RETURNING 1",
                    [workspace_id, channel, name],
                ).fetchall()
            )

        return self.db.write(work)

    def _config(
        self, workspace_id: str, channel: str, name: str, plain: str, sealed: bytes | None
    ) -> BaseModel:
        doc = orjson.loads(plain)
        if sealed is not None:
            secrets = orjson.loads(
                self.box.open(bytes(sealed), _identity(workspace_id, channel, name))
            )
            for dotted, value in secrets:
                put_path(doc, tuple(dotted), value)
        return self.types[channel].model_validate(doc)


def _identity(workspace_id: str, channel: str, name: str) -> bytes:
    return orjson.dumps([workspace_id, channel, name])


def _secrets_json(found: Mapping[Path, str]) -> bytes:
    return orjson.dumps([[list(path), value] for path, value in found.items()])
