"""Promo pools and codes in DuckDB (migration 0016): add, issue, look up, redemptions.

**Never issued twice.** Codes are issued only inside the single writer, by one set-based
claim per batch: contacts that already hold a code of this pool for this message keep it
(at most one per contact per message); the rest are paired by row number with free,
unexpired codes and ``UPDATE … WHERE issued_at IS NULL``. The writer runs one unit at a
time, so two concurrent batches can never pair the same free code.

**Redemption** is read from orders: a code is redeemed by the orders whose ``coupon``
(upper-cased, trimmed) equals it, so nothing has to be kept in step with commerce.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.errors import ApiError
from retenta.messaging import promocodes as pc
from retenta.storage.base import Database

ISSUE_SQL = """
UPDATE promo_codes AS p
SET contact_id = pairs.contact_id, send_id = pairs.send_id, message_id = ?, issued_at = ?
FROM (
    SELECT need.contact_id, need.send_id, free.code
    FROM (SELECT contact_id, send_id, row_number() OVER (ORDER BY contact_id) AS rn
          FROM (SELECT unnest(?::BIGINT[]) AS contact_id, unnest(?::VARCHAR[]) AS send_id)) need
    JOIN (SELECT code, row_number() OVER (ORDER BY rowid) AS rn
          FROM promo_codes
          WHERE workspace_id = ? AND pool_id = ? AND issued_at IS NULL
            AND (expires_at IS NULL OR expires_at > ?)
          ORDER BY rowid LIMIT ?) free
    USING (rn)
) pairs
WHERE p.workspace_id = ? AND p.code = pairs.code AND p.issued_at IS NULL
"""
HELD_SQL = """
SELECT contact_id, code FROM promo_codes
WHERE workspace_id = ? AND pool_id = ? AND message_id = ? AND issued_at IS NOT NULL
  AND contact_id IN (SELECT unnest(?::BIGINT[]))
"""
STATS_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE issued_at IS NOT NULL),
       count(*) FILTER (WHERE issued_at IS NULL AND (expires_at IS NULL OR expires_at > ?)),
       count(*) FILTER (WHERE code IN (SELECT upper(trim(coupon)) FROM orders
                                       WHERE workspace_id = ? AND coupon IS NOT NULL))
FROM promo_codes WHERE workspace_id = ? AND pool_id = ?
"""
REDEMPTIONS_SQL = """
SELECT order_id, contact_id, status, placed_at FROM orders
WHERE workspace_id = ? AND upper(trim(coupon)) = ? ORDER BY placed_at
"""


@dataclass(frozen=True, slots=True)
class Claim:
    contact_id: int
    send_id: str | None = None


class PromoStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_pool(
        self, workspace_id: str, *, name: str, kind: str, length: int, prefix: str,
        expires_at: datetime | None,
    ) -> dict[str, Any]:  # fmt: skip
        pool_id = f"pool_{secrets.token_hex(8)}"
        now = datetime.now(UTC)

        def work(conn: Any) -> None:
            conn.execute(
                "INSERT INTO promo_pools (workspace_id, id, name, kind, prefix, length,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [workspace_id, pool_id, name, kind, prefix, length, expires_at, now],
            )

        await self.db.awrite(work)
        return self.pool(workspace_id, pool_id)

    def _pool_row(self, cur: Any, workspace_id: str, pool_id: str) -> dict[str, Any]:
        rows = cur.execute(
            "SELECT id, name, kind, prefix, length, expires_at, created_at FROM promo_pools"
            " WHERE workspace_id = ? AND id = ?",
            [workspace_id, pool_id],
        ).fetchall()
        if not rows:
            raise ApiError(404, "not_found", f"no promo pool {pool_id}", field="pool_id")
        names = ("id", "name", "kind", "prefix", "length", "expires_at", "created_at")
        return dict(zip(names, rows[0], strict=True))

    def pool(self, workspace_id: str, pool_id: str) -> dict[str, Any]:
        """The pool, its counts (redeemed from orders) and the odds of guessing a code."""
        now = datetime.now(UTC)
        with self.db.read() as cur:
            pool = self._pool_row(cur, workspace_id, pool_id)
            [(total, issued, available, redeemed)] = cur.execute(
                STATS_SQL, [now, workspace_id, workspace_id, pool_id]
            ).fetchall()
        odds = pc.guess_odds(total, pool["length"]) if pool["kind"] == "generated" else None
        return pool | {
            "codes": total, "issued": issued, "available": available, "redeemed": redeemed,
            "guess_odds": odds,
        }  # fmt: skip

    async def generate(self, workspace_id: str, pool_id: str, count: int) -> int:
        """Add ``count`` new random codes (collisions redrawn); the number added."""
        with self.db.read() as cur:
            pool = self._pool_row(cur, workspace_id, pool_id)
        if pool["kind"] != "generated":
            raise ApiError(409, "conflict", "this pool holds imported codes", field="generate")
        current = self.pool(workspace_id, pool_id)["codes"]
        if current + count > pc.capacity(pool["length"]):
            raise ApiError(
                422, "validation_error",
                f"a pool of {pool['length']}-character codes holds at most"
                f" {pc.capacity(pool['length'])} codes (guessing odds); use longer codes",
                field="generate",
            )  # fmt: skip
        added = 0
        for _ in range(10):  # collisions are ~1e-4 at most: a redraw or two
            codes = [pc.generate(pool["length"], pool["prefix"]) for _ in range(count - added)]
            added += await self._insert(workspace_id, pool_id, codes, pool["expires_at"])
            if added == count:
                return added
        raise ApiError(500, "internal", "could not draw enough unique codes")

    async def import_codes(
        self, workspace_id: str, pool_id: str, codes: Sequence[str], expires_at: datetime | None
    ) -> dict[str, Any]:
        """Add imported codes; malformed ones refused by index, duplicates skipped."""
        with self.db.read() as cur:
            pool = self._pool_row(cur, workspace_id, pool_id)
        normalized = [pc.normalize(c) for c in codes]
        for index, code in enumerate(normalized):
            if not pc.IMPORTED.fullmatch(code):
                raise ApiError(
                    422, "validation_error", "a code is 3-64 of A-Z, 0-9, '-' and '_'",
                    field=f"codes[{index}]",
                )  # fmt: skip
        unique = list(dict.fromkeys(normalized))
        added = await self._insert(workspace_id, pool_id, unique, expires_at or pool["expires_at"])
        return {"added": added, "skipped": len(codes) - added}

    async def _insert(
        self, workspace_id: str, pool_id: str, codes: list[str], expires_at: datetime | None
    ) -> int:
        now = datetime.now(UTC)

        def work(conn: Any) -> int:
            before = _count(conn, workspace_id, pool_id)
            conn.execute(
                "INSERT INTO promo_codes (workspace_id, pool_id, code, expires_at, created_at)"
                " SELECT ?, ?, unnest(?::VARCHAR[]), ?, ? ON CONFLICT DO NOTHING",
                [workspace_id, pool_id, codes, expires_at, now],
            )
            return _count(conn, workspace_id, pool_id) - before

        return await self.db.awrite(work)

    def issue(
        self, workspace_id: str, pool_id: str, message_id: str, claims: Sequence[Claim]
    ) -> dict[int, str | None]:
        """``{contact: code}`` (``None`` when the pool ran out); blocking, through the writer."""
        return self.db.write(lambda conn: issue(conn, workspace_id, pool_id, message_id, claims))

    async def aissue(
        self, workspace_id: str, pool_id: str, message_id: str, claims: Sequence[Claim]
    ) -> dict[int, str | None]:
        return await self.db.awrite(
            lambda conn: issue(conn, workspace_id, pool_id, message_id, claims)
        )

    def code(self, workspace_id: str, pool_id: str, code: str) -> dict[str, Any]:
        """One code: well-formed?, issued to whom, expiry, the orders that redeemed it."""
        code = pc.normalize(code)
        with self.db.read() as cur:
            pool = self._pool_row(cur, workspace_id, pool_id)
            rows = cur.execute(
                "SELECT contact_id, message_id, send_id, issued_at, expires_at FROM promo_codes"
                " WHERE workspace_id = ? AND pool_id = ? AND code = ?",
                [workspace_id, pool_id, code],
            ).fetchall()
            if not rows:
                raise ApiError(404, "not_found", "no such code in this pool", field="code")
            orders = cur.execute(REDEMPTIONS_SQL, [workspace_id, code]).fetchall()
        contact_id, message_id, send_id, issued_at, expires_at = rows[0]
        return {
            "code": code,
            "check_ok": pc.valid(code, prefix=pool["prefix"]) if pool["kind"] == "generated"
            else None,
            "contact_id": contact_id, "message_id": message_id, "send_id": send_id,
            "issued_at": issued_at, "expires_at": expires_at,
            "expired": expires_at is not None and expires_at <= datetime.now(UTC),
            "redemptions": [
                {"order_id": o, "contact_id": c, "status": s, "placed_at": p}
                for o, c, s, p in orders
            ],
        }  # fmt: skip


def issue(
    conn: Any, workspace_id: str, pool_id: str, message_id: str, claims: Sequence[Claim]
) -> dict[int, str | None]:
    """Writer-side set-based claim (see the module docstring)."""
    wanted = {c.contact_id: c for c in claims}
    held = dict(
        conn.execute(HELD_SQL, [workspace_id, pool_id, message_id, list(wanted)]).fetchall()
    )
    need = [c for contact_id, c in wanted.items() if contact_id not in held]
    if need:
        now = datetime.now(UTC)
        conn.execute(
            ISSUE_SQL,
            [message_id, now, [c.contact_id for c in need], [c.send_id for c in need],
             workspace_id, pool_id, now, len(need), workspace_id],
        ).fetchall()  # fmt: skip
        held = dict(
            conn.execute(HELD_SQL, [workspace_id, pool_id, message_id, list(wanted)]).fetchall()
        )
    return {contact_id: held.get(contact_id) for contact_id in wanted}


def _count(conn: Any, workspace_id: str, pool_id: str) -> int:
    rows = conn.execute(
        "SELECT count(*) FROM promo_codes WHERE workspace_id = ? AND pool_id = ?",
        [workspace_id, pool_id],
    ).fetchall()
    return int(rows[0][0])
