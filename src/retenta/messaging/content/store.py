"""Blocks, their versions, messages, their revisions and where each block is used (0019).

Every change runs in the single writer, and every check that guards one (is the block
still used? does every referenced block exist?) runs in the same unit: a message saved
while a block is being deleted either sees the block gone (422) or stops the delete (409).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from retenta.errors import ApiError
from retenta.messaging.content.compose import BlockVersion
from retenta.storage.base import Database

BLOCK_COLUMNS = "v.block_id, v.version, v.name, v.kind, v.description, v.email, v.text, v.params"
BLOCK_SQL = f"""
SELECT {BLOCK_COLUMNS}, b.created_at, v.created_at AS updated_at
FROM content_blocks b JOIN content_block_versions v
  ON v.workspace_id = b.workspace_id AND v.block_id = b.id AND v.version = b.version
WHERE b.workspace_id = ? AND b.deleted_at IS NULL
"""
VERSION_SQL = f"""
SELECT {BLOCK_COLUMNS}, v.created_at FROM content_block_versions v
WHERE v.workspace_id = ? AND v.block_id = ? AND v.version = ?
"""
PINNED_SQL = f"""
SELECT {BLOCK_COLUMNS} FROM content_block_versions v
JOIN (SELECT unnest(?::VARCHAR[]) AS id, unnest(?::INTEGER[]) AS version) w
  ON v.block_id = w.id AND v.version = w.version
WHERE v.workspace_id = ?
"""
MESSAGE_SQL = """
SELECT m.id, m.revision, r.document, m.created_at, m.updated_at
FROM content_messages m JOIN content_message_revisions r
  ON r.workspace_id = m.workspace_id AND r.message_id = m.id AND r.revision = m.revision
WHERE m.workspace_id = ? AND m.deleted_at IS NULL
"""
# What a resolve must know to find its compiled content (no JSON parsed): two small reads.
HEAD_SQL = """
SELECT m.revision, json_extract_string(w.settings, '$.default_language')
FROM content_messages m JOIN workspaces w ON w.id = m.workspace_id
WHERE m.workspace_id = ? AND m.id = ? AND m.deleted_at IS NULL
"""
HEAD_BLOCKS_SQL = """
SELECT b.id, b.version FROM content_block_refs r JOIN content_blocks b
  ON b.workspace_id = r.workspace_id AND b.id = r.block_id AND b.deleted_at IS NULL
WHERE r.workspace_id = ? AND r.owner_kind = 'message' AND r.owner_id = ? AND r.channel = ?
"""
USED_BY_SQL = """
SELECT r.owner_kind, r.owner_id, list(DISTINCT r.channel ORDER BY r.channel), any_value(m.name)
FROM content_block_refs r
LEFT JOIN content_messages m
  ON r.owner_kind = 'message' AND m.workspace_id = r.workspace_id AND m.id = r.owner_id
WHERE r.workspace_id = ? AND r.block_id = ?
GROUP BY r.owner_kind, r.owner_id ORDER BY r.owner_kind, r.owner_id
"""

Ref = tuple[str, str, str]  # (path, block_id, channel)


def _now() -> datetime:
    return datetime.now(UTC)


def _block_version(row: Sequence[Any]) -> BlockVersion:
    return BlockVersion(
        block_id=row[0], version=row[1], name=row[2], kind=row[3],
        email=json.loads(row[5]), text=json.loads(row[6]), params=json.loads(row[7]),
    )  # fmt: skip


def _block_dict(row: Sequence[Any]) -> dict[str, Any]:
    b = _block_version(row)
    out = {
        "id": b.block_id, "version": b.version, "name": b.name, "kind": b.kind,
        "description": row[4], "email": b.email, "text": b.text, "params": b.params,
    }  # fmt: skip
    if len(row) > 9:
        out |= {"created_at": row[8], "updated_at": row[9]}
    else:
        out |= {"created_at": row[8]}
    return out


class ContentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- blocks -------------------------------------------------------------------------

    async def create_block(self, workspace_id: str, doc: Mapping[str, Any]) -> str:
        block_id = f"blk_{secrets.token_hex(8)}"
        now = _now()

        def work(conn: Any) -> None:
            conn.execute(
                "INSERT INTO content_blocks VALUES (?, ?, ?, ?, 1, ?, ?, NULL)",
                [workspace_id, block_id, doc["name"], doc["kind"], now, now],
            )
            _insert_version(conn, workspace_id, block_id, 1, doc, now)

        await self.db.awrite(work)
        return block_id

    async def update_block(self, workspace_id: str, block_id: str, doc: Mapping[str, Any]) -> int:
        """Append version n + 1; refused (409) when it drops a source a message still uses."""
        now = _now()

        def work(conn: Any) -> int:
            current = _live_version(conn, workspace_id, block_id)
            _check_sources_kept(conn, workspace_id, block_id, doc)
            version = current + 1
            _insert_version(conn, workspace_id, block_id, version, doc, now)
            conn.execute(
                "UPDATE content_blocks SET version = ?, name = ?, kind = ?, updated_at = ?"
                " WHERE workspace_id = ? AND id = ?",
                [version, doc["name"], doc["kind"], now, workspace_id, block_id],
            )
            return version

        return await self.db.awrite(work)

    async def delete_block(self, workspace_id: str, block_id: str) -> None:
        """Hide the block (its versions stay for the record); 409 while anything uses it."""

        def work(conn: Any) -> None:
            _live_version(conn, workspace_id, block_id)
            users = conn.execute(USED_BY_SQL, [workspace_id, block_id]).fetchall()
            if users:
                names = ", ".join(f"{kind} {owner}" for kind, owner, *_ in users[:5])
                raise ApiError(
                    409, "block_in_use", f"block {block_id} is used by {len(users)}: {names}",
                    field="id", details=[_user(u) for u in users],
                )  # fmt: skip
            conn.execute(
                "UPDATE content_blocks SET deleted_at = ? WHERE workspace_id = ? AND id = ?",
                [_now(), workspace_id, block_id],
            )

        await self.db.awrite(work)

    def block(self, workspace_id: str, block_id: str, version: int | None = None) -> dict[str, Any]:
        with self.db.read() as cur:
            rows = cur.execute(BLOCK_SQL + " AND b.id = ?", [workspace_id, block_id]).fetchall()
            if not rows:
                raise ApiError(404, "not_found", f"no block {block_id}", field="id")
            if version is None:
                return _block_dict(rows[0])
            found = cur.execute(VERSION_SQL, [workspace_id, block_id, version]).fetchall()
        if not found:
            raise ApiError(404, "not_found", f"block {block_id} has no version {version}",
                           field="version")  # fmt: skip
        return _block_dict(found[0])

    def blocks(self, workspace_id: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = BLOCK_SQL, [workspace_id]
        if kind is not None:
            sql, args = sql + " AND b.kind = ?", [*args, kind]
        with self.db.read() as cur:
            rows = cur.execute(sql + " ORDER BY b.name, b.id LIMIT 1000", args).fetchall()
        return [_block_dict(r) for r in rows]

    def block_versions(self, workspace_id: str, block_id: str) -> list[dict[str, Any]]:
        self.block(workspace_id, block_id)
        with self.db.read() as cur:
            rows = cur.execute(
                f"SELECT {BLOCK_COLUMNS}, v.created_at FROM content_block_versions v"
                " WHERE v.workspace_id = ? AND v.block_id = ? ORDER BY v.version DESC",
                [workspace_id, block_id],
            ).fetchall()
        return [_block_dict(r) for r in rows]

    def used_by(self, workspace_id: str, block_id: str) -> list[dict[str, Any]]:
        self.block(workspace_id, block_id)
        with self.db.read() as cur:
            return [_user(u) for u in cur.execute(USED_BY_SQL, [workspace_id, block_id])
                    .fetchall()]  # fmt: skip

    def latest_versions(self, workspace_id: str, block_ids: Iterable[str]) -> dict[str, int]:
        """The latest version of each live block among ``block_ids`` (missing ones left out)."""
        ids = sorted(set(block_ids))
        if not ids:
            return {}
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT id, version FROM content_blocks WHERE workspace_id = ?"
                " AND deleted_at IS NULL AND id IN (SELECT unnest(?::VARCHAR[]))",
                [workspace_id, ids],
            ).fetchall()
        return {block_id: version for block_id, version in rows}

    def pinned(self, workspace_id: str, versions: Mapping[str, int]) -> dict[str, BlockVersion]:
        """The given versions of blocks (deleted blocks included: a record is a record)."""
        if not versions:
            return {}
        ids = list(versions)
        with self.db.read() as cur:
            rows = cur.execute(
                PINNED_SQL, [ids, [versions[i] for i in ids], workspace_id]
            ).fetchall()
        return {row[0]: _block_version(row) for row in rows}

    # --- messages -----------------------------------------------------------------------

    async def save_message(
        self,
        workspace_id: str,
        message_id: str | None,
        doc: Mapping[str, Any],
        refs: Sequence[Ref],
    ) -> tuple[str, int]:
        """Create (``message_id=None``) or append a revision; refs checked in the same unit."""
        new_id = message_id or f"msg_{secrets.token_hex(8)}"
        now = _now()

        def work(conn: Any) -> int:
            _check_refs(conn, workspace_id, refs)
            if message_id is None:
                revision = 1
                conn.execute(
                    "INSERT INTO content_messages VALUES (?, ?, ?, ?, 1, ?, ?, NULL)",
                    [workspace_id, new_id, doc["name"], doc["category"], now, now],
                )
            else:
                revision = _live_revision(conn, workspace_id, new_id) + 1
                conn.execute(
                    "UPDATE content_messages SET revision = ?, name = ?, category = ?,"
                    " updated_at = ? WHERE workspace_id = ? AND id = ?",
                    [revision, doc["name"], doc["category"], now, workspace_id, new_id],
                )
            conn.execute(
                "INSERT INTO content_message_revisions VALUES (?, ?, ?, ?, ?)",
                [workspace_id, new_id, revision, json.dumps(doc), now],
            )
            _replace_refs(conn, workspace_id, "message", new_id, refs)
            return revision

        return new_id, await self.db.awrite(work)

    async def set_references(
        self, workspace_id: str, owner_kind: str, owner_id: str, refs: Sequence[Ref]
    ) -> None:
        """Record which blocks another owner (a journey, a trigger) uses; checked like a save."""

        def work(conn: Any) -> None:
            _check_refs(conn, workspace_id, refs)
            _replace_refs(conn, workspace_id, owner_kind, owner_id, refs)

        await self.db.awrite(work)

    async def delete_message(self, workspace_id: str, message_id: str) -> None:
        def work(conn: Any) -> None:
            _live_revision(conn, workspace_id, message_id)
            conn.execute(
                "UPDATE content_messages SET deleted_at = ? WHERE workspace_id = ? AND id = ?",
                [_now(), workspace_id, message_id],
            )
            _replace_refs(conn, workspace_id, "message", message_id, [])

        await self.db.awrite(work)

    def head(
        self, workspace_id: str, message_id: str, channel: str
    ) -> tuple[int, str | None, dict[str, int]]:
        """(latest revision, workspace default language, {block: latest version} of the channel)."""
        with self.db.read() as cur:
            rows = cur.execute(HEAD_SQL, [workspace_id, message_id]).fetchall()
            if not rows:
                raise ApiError(404, "not_found", f"no message {message_id}", field="id")
            blocks = cur.execute(HEAD_BLOCKS_SQL, [workspace_id, message_id, channel]).fetchall()
        revision, default = rows[0]
        return int(revision), default or None, {block_id: int(v) for block_id, v in blocks}

    def message(self, workspace_id: str, message_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            rows = cur.execute(MESSAGE_SQL + " AND m.id = ?", [workspace_id, message_id]).fetchall()
        if not rows:
            raise ApiError(404, "not_found", f"no message {message_id}", field="id")
        return _message_dict(rows[0])

    def revisions(self, workspace_id: str, message_id: str) -> list[dict[str, Any]]:
        self.message(workspace_id, message_id)
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT revision, document, created_at FROM content_message_revisions"
                " WHERE workspace_id = ? AND message_id = ? ORDER BY revision DESC",
                [workspace_id, message_id],
            ).fetchall()
        return [
            {"id": message_id, "revision": rev, **json.loads(doc), "created_at": at}
            for rev, doc, at in rows
        ]

    def messages(self, workspace_id: str, *, category: str | None = None) -> list[dict[str, Any]]:
        sql, args = MESSAGE_SQL, [workspace_id]
        if category is not None:
            sql, args = sql + " AND m.category = ?", [*args, category]
        with self.db.read() as cur:
            rows = cur.execute(sql + " ORDER BY m.updated_at DESC LIMIT 1000", args).fetchall()
        return [_message_dict(r) for r in rows]

    def sample_products(self, workspace_id: str, limit: int = 4) -> list[dict[str, Any]]:
        """A few in-stock catalog products (newest first), to fill a preview's ``products``."""
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT sku, name, url, image_url, price, sale_price, currency, brand FROM products"
                " WHERE workspace_id = ? AND in_stock IS NOT FALSE AND name IS NOT NULL"
                " ORDER BY created_at DESC, sku LIMIT ?",
                [workspace_id, limit],
            ).fetchall()
        names = ("sku", "name", "url", "image_url", "price", "sale_price", "currency", "brand")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def workspace_default_language(self, workspace_id: str) -> str | None:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT json_extract_string(settings, '$.default_language') FROM workspaces"
                " WHERE id = ?",
                [workspace_id],
            ).fetchall()
        return rows[0][0] if rows and rows[0][0] else None


def _message_dict(row: Sequence[Any]) -> dict[str, Any]:
    doc = json.loads(row[2])
    return {"id": row[0], "revision": row[1], **doc, "created_at": row[3], "updated_at": row[4]}


def _user(row: Sequence[Any]) -> dict[str, Any]:
    kind, owner, channels, name = row
    return {"owner_kind": kind, "owner_id": owner, "name": name, "channels": list(channels)}


def _insert_version(
    conn: Any, workspace_id: str, block_id: str, version: int, doc: Mapping[str, Any],
    now: datetime,
) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO content_block_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            workspace_id, block_id, version, doc["name"], doc["kind"], doc.get("description", ""),
            json.dumps(doc.get("email") or {}), json.dumps(doc.get("text") or {}),
            json.dumps(doc.get("params") or {}), now,
        ],
    )  # fmt: skip


def _live_version(conn: Any, workspace_id: str, block_id: str) -> int:
    rows = conn.execute(
        "SELECT version FROM content_blocks WHERE workspace_id = ? AND id = ?"
        " AND deleted_at IS NULL",
        [workspace_id, block_id],
    ).fetchall()
    if not rows:
        raise ApiError(404, "not_found", f"no block {block_id}", field="id")
    return int(rows[0][0])


def _live_revision(conn: Any, workspace_id: str, message_id: str) -> int:
    rows = conn.execute(
        "SELECT revision FROM content_messages WHERE workspace_id = ? AND id = ?"
        " AND deleted_at IS NULL",
        [workspace_id, message_id],
    ).fetchall()
    if not rows:
        raise ApiError(404, "not_found", f"no message {message_id}", field="id")
    return int(rows[0][0])


def _check_sources_kept(
    conn: Any, workspace_id: str, block_id: str, doc: Mapping[str, Any]
) -> None:
    """An edit may not drop the email (or text) source while a message uses it there."""
    channels = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT channel FROM content_block_refs WHERE workspace_id = ?"
            " AND block_id = ?",
            [workspace_id, block_id],
        ).fetchall()
    }
    if "email" in channels and not doc.get("email"):
        raise ApiError(409, "block_in_use", "messages use this block in email: keep an email"
                       " source", field="email")  # fmt: skip
    if channels - {"email"} and not doc.get("text"):
        raise ApiError(409, "block_in_use", "messages use this block in a text channel: keep a"
                       " text source", field="text")  # fmt: skip


def _check_refs(conn: Any, workspace_id: str, refs: Sequence[Ref]) -> None:
    ids = sorted({block_id for _, block_id, _ in refs})
    if not ids:
        return
    live = {
        row[0]
        for row in conn.execute(
            "SELECT id FROM content_blocks WHERE workspace_id = ? AND deleted_at IS NULL"
            " AND id IN (SELECT unnest(?::VARCHAR[]))",
            [workspace_id, ids],
        ).fetchall()
    }
    for path, block_id, _ in refs:
        if block_id not in live:
            reason = f"no block {block_id}"
            raise ApiError(
                422, "validation_error", f"{path}.block: {reason}", field=f"{path}.block",
                details=[{"field": f"{path}.block", "reason": reason}],
            )  # fmt: skip


def _replace_refs(
    conn: Any, workspace_id: str, owner_kind: str, owner_id: str, refs: Sequence[Ref]
) -> None:
    conn.execute(
        "DELETE FROM content_block_refs WHERE workspace_id = ? AND owner_kind = ? AND owner_id = ?",
        [workspace_id, owner_kind, owner_id],
    )
    rows = sorted({(block_id, channel) for _, block_id, channel in refs})
    if rows:
        conn.execute(
            "INSERT INTO content_block_refs SELECT ?, b, ?, ?, c"
            " FROM (SELECT unnest(?::VARCHAR[]) AS b, unnest(?::VARCHAR[]) AS c)",
            [workspace_id, owner_kind, owner_id, [r[0] for r in rows], [r[1] for r in rows]],
        )
