"""The suppression list: addresses and phones nothing is sent to (table from migration 0016).

Values are kept as SHA-256 of the normalized ``kind:value`` with a masked hint, so the
list can be checked and shown without holding the addresses themselves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

from retenta.errors import ApiError
from retenta.storage.base import Database

Kind = Literal["email", "phone"]
REASONS = ("hard_bounce", "complaint", "unsubscribed", "manual")
HASH = re.compile(r"[0-9a-f]{64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalize(kind: Kind, value: str) -> str:
    """The form a value is hashed in: trimmed lower-case email; ``+`` and digits of a phone.

    >>> normalize("email", "  Olena@Example.COM "), normalize("phone", "+380 (50) 123-45-67")
    ('olena@example.com', '+380501234567')
    """
    if kind == "email":
        value = value.strip().lower()
        if not EMAIL.fullmatch(value):
            raise ApiError(422, "validation_error", "not an email address", field="address")
        return value
    digits = re.sub(r"[^\d]", "", value)
    if not 6 <= len(digits) <= 15:
        raise ApiError(422, "validation_error", "a phone has 6-15 digits", field="phone")
    return "+" + digits


def value_hash(kind: Kind, value: str) -> str:
    """SHA-256 hex of ``kind:normalized value``.

    >>> value_hash("email", "A@b.co") == value_hash("email", "a@B.co ")
    True
    """
    return hashlib.sha256(f"{kind}:{normalize(kind, value)}".encode()).hexdigest()


def hint(kind: Kind, value: str) -> str:
    """A masked form people can recognise.

    >>> hint("email", "olena@example.com"), hint("phone", "+380501234567")
    ('o***a@example.com', '+38050******7')
    """
    value = normalize(kind, value)
    if kind == "email":
        local, _, domain = value.rpartition("@")
        masked = local[0] + "***" + (local[-1] if len(local) > 1 else "")
        return f"{masked}@{domain}"
    return value[:6] + "*" * (len(value) - 7) + value[-1]


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Kind
    value: str
    reason: str
    source: str = "api"
    send_id: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ApiError(
                422, "validation_error", f"reason must be one of {', '.join(REASONS)}",
                field="reason",
            )  # fmt: skip


COLUMNS = ("workspace_id", "kind", "value_hash", "hint", "reason", "source", "send_id",
           "created_at")  # fmt: skip


def add(
    conn: Any, workspace_id: str, entries: Iterable[Entry], *, at: datetime | None = None
) -> int:
    """Writer-side: add entries (an entry already listed keeps its first reason); the count new."""
    moment = at or datetime.now(UTC)
    rows = {(e.kind, value_hash(e.kind, e.value)): e for e in entries}
    if not rows:
        return 0
    table = pa.table({
        "workspace_id": [workspace_id] * len(rows),
        "kind": [k for k, _ in rows],
        "value_hash": [h for _, h in rows],
        "hint": [hint(e.kind, e.value) for e in rows.values()],
        "reason": [e.reason for e in rows.values()],
        "source": [e.source for e in rows.values()],
        "send_id": [e.send_id for e in rows.values()],
        "created_at": pa.array([moment] * len(rows), pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    conn.register("_new_suppressions", table)
    try:
        before = _count(conn, workspace_id)
        cols = ", ".join(COLUMNS)
        conn.execute(
            f"INSERT INTO suppressions ({cols}) SELECT {cols} FROM _new_suppressions"
            " ON CONFLICT DO NOTHING"
        )
        return _count(conn, workspace_id) - before
    finally:
        conn.unregister("_new_suppressions")


def _count(conn: Any, workspace_id: str) -> int:
    rows = conn.execute(
        "SELECT count(*) FROM suppressions WHERE workspace_id = ?", [workspace_id]
    ).fetchall()
    return int(rows[0][0])


def reasons_for(cur: Any, workspace_id: str, kind: Kind, values: Iterable[str]) -> dict[str, str]:
    """``{value: reason}`` for the given values that are suppressed (bad values skipped)."""
    by_hash: dict[str, str] = {}
    for value in values:
        try:
            by_hash[value_hash(kind, value)] = value
        except ApiError:
            continue
    if not by_hash:
        return {}
    rows = cur.execute(
        "SELECT s.value_hash, s.reason FROM suppressions s"
        " JOIN (SELECT unnest(?::VARCHAR[]) AS value_hash) p USING (value_hash)"
        " WHERE s.workspace_id = ? AND s.kind = ?",
        [list(by_hash), workspace_id, kind],
    ).fetchall()
    return {by_hash[h]: reason for h, reason in rows}


class SuppressionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, workspace_id: str, entries: list[Entry]) -> int:
        return await self.db.awrite(lambda conn: add(conn, workspace_id, entries))

    async def remove(self, workspace_id: str, value: str) -> bool:
        """Remove by address, phone or hash; ``False`` when it was not listed."""
        hashes = _hashes_of(value)

        def work(conn: Any) -> bool:
            before = _count(conn, workspace_id)
            conn.execute(
                "DELETE FROM suppressions WHERE workspace_id = ? AND value_hash IN"
                " (SELECT unnest(?::VARCHAR[]))",
                [workspace_id, hashes],
            )
            return _count(conn, workspace_id) < before

        return await self.db.awrite(work)

    def list(
        self, workspace_id: str, *, reason: str | None = None, limit: int = 100,
        after: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Newest first, ``limit`` at a time; ``next_cursor`` continues."""
        where, args = ["workspace_id = ?"], [workspace_id]
        if reason:
            where.append("reason = ?")
            args.append(reason)
        if after:
            where.append(AFTER_CURSOR)
            args += [workspace_id, after]
        sql = (
            "SELECT kind, value_hash, hint, reason, source, send_id, created_at FROM suppressions"
            f" WHERE {' AND '.join(where)} ORDER BY created_at DESC, value_hash DESC LIMIT ?"
        )
        with self.db.read() as cur:
            rows = cur.execute(sql, [*args, limit + 1]).fetchall()
        names = ("kind", "hash", "hint", "reason", "source", "send_id", "created_at")
        items = [dict(zip(names, row, strict=True)) for row in rows[:limit]]
        return {"items": items, "next_cursor": items[-1]["hash"] if len(rows) > limit else None}


AFTER_CURSOR = (
    "(created_at, value_hash) < (SELECT (created_at, value_hash)"
    " FROM suppressions WHERE workspace_id = ? AND value_hash = ?)"
)


def _hashes_of(value: str) -> list[str]:
    """The hashes ``value`` may name: itself (a hash), an email or a phone.

    >>> len(_hashes_of("a@b.co")), _hashes_of("0" * 64) == ["0" * 64]
    (1, True)
    """
    value = value.strip()
    if HASH.fullmatch(value.lower()):
        return [value.lower()]
    if "@" in value:
        return [value_hash("email", value)]
    return [value_hash("phone", value)]
