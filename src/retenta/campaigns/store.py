"""Campaigns and the workspace's campaign settings in DuckDB (recipients: ``snapshot.py``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.campaigns.definition import Campaign, parse
from retenta.errors import ApiError, not_found
from retenta.storage.base import Database

DEFAULT_GLOBAL_CONTROL_PCT = 5.0
EDITABLE = ("draft",)
COLUMNS = ("id", "name", "status", "definition", "scheduled_at", "started_at", "test_ends_at",
           "winner", "winner_reason", "decided_at", "finished_at", "error", "created_at",
           "updated_at")  # fmt: skip
SELECT = f"SELECT workspace_id, {', '.join(COLUMNS)} FROM campaigns"


@dataclass(frozen=True, slots=True)
class CampaignRow:
    workspace_id: str
    id: str
    name: str
    status: str
    campaign: Campaign
    scheduled_at: datetime | None
    started_at: datetime | None
    test_ends_at: datetime | None
    winner: int | None
    winner_reason: str | None
    decided_at: datetime | None
    finished_at: datetime | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "status": self.status,
            "definition": self.campaign.document(), "scheduled_at": self.scheduled_at,
            "started_at": self.started_at, "test_ends_at": self.test_ends_at,
            "winner": None if self.winner is None else {
                "variant": self.winner, "message_id": self.campaign.messages[self.winner],
                "reason": self.winner_reason, "decided_at": self.decided_at},
            "finished_at": self.finished_at, "error": self.error, "created_at": self.created_at,
            "updated_at": self.updated_at,
        }  # fmt: skip


def row_of(row: tuple[Any, ...]) -> CampaignRow:
    ws, cid, name, status, doc, *rest = row
    return CampaignRow(ws, cid, name, status, Campaign.model_validate(orjson.loads(doc)), *rest)


def load(cur: Any, workspace_id: str, campaign_id: str) -> CampaignRow | None:
    found = first(cur.execute(SELECT + " WHERE workspace_id = ? AND id = ?",
                        [workspace_id, campaign_id]))  # fmt: skip
    return None if found is None else row_of(found)


class CampaignStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, workspace_id: str, campaign_id: str) -> CampaignRow:
        with self.db.read() as cur:
            found = load(cur, workspace_id, campaign_id)
        if found is None:
            raise not_found("campaign")
        return found

    def all(self, workspace_id: str, status: str | None = None) -> list[CampaignRow]:
        sql, args = SELECT + " WHERE workspace_id = ?", [workspace_id]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        with self.db.read() as cur:
            rows = cur.execute(sql + " ORDER BY created_at DESC LIMIT 1000", args).fetchall()
        return [row_of(r) for r in rows]

    async def create(self, workspace_id: str, campaign: Campaign) -> CampaignRow:
        campaign_id = f"cmp_{secrets.token_hex(8)}"
        now = datetime.now(UTC)
        doc = orjson.dumps(campaign.document()).decode()
        await self.db.awrite(statement(
            "INSERT INTO campaigns (workspace_id, id, name, status, definition, created_at,"
            " updated_at) VALUES (?, ?, ?, 'draft', ?, ?, ?)",
            [workspace_id, campaign_id, campaign.name, doc, now, now]))  # fmt: skip
        return self.get(workspace_id, campaign_id)

    async def update(self, workspace_id: str, campaign_id: str, campaign: Campaign) -> CampaignRow:
        doc = orjson.dumps(campaign.document()).decode()

        def work(conn: Any) -> None:
            _require(conn, workspace_id, campaign_id, EDITABLE, "edited")
            conn.execute(
                "UPDATE campaigns SET name = ?, definition = ?, updated_at = ?"
                " WHERE workspace_id = ? AND id = ?",
                [campaign.name, doc, datetime.now(UTC), workspace_id, campaign_id],
            )

        await self.db.awrite(work)
        return self.get(workspace_id, campaign_id)

    async def delete(self, workspace_id: str, campaign_id: str) -> None:
        def work(conn: Any) -> None:
            _require(conn, workspace_id, campaign_id, ("draft", "cancelled"), "deleted")
            conn.execute("DELETE FROM campaign_recipients WHERE workspace_id = ? AND"
                         " campaign_id = ?", [workspace_id, campaign_id])  # fmt: skip
            conn.execute("DELETE FROM campaigns WHERE workspace_id = ? AND id = ?",
                         [workspace_id, campaign_id])  # fmt: skip

        await self.db.awrite(work)

    async def transition(
        self, workspace_id: str, campaign_id: str, allowed: tuple[str, ...], status: str,
        **columns: Any,
    ) -> CampaignRow:  # fmt: skip
        """Move a campaign to ``status`` from one of ``allowed`` (409 otherwise), setting
        ``columns`` in the same unit."""
        sets = "".join(f", {name} = ?" for name in columns)

        def work(conn: Any) -> None:
            _require(conn, workspace_id, campaign_id, allowed, f"moved to {status}")
            conn.execute(
                f"UPDATE campaigns SET status = ?, updated_at = ?{sets}"
                " WHERE workspace_id = ? AND id = ?",
                [status, datetime.now(UTC), *columns.values(), workspace_id, campaign_id],
            )

        await self.db.awrite(work)
        return self.get(workspace_id, campaign_id)

    # --- the workspace's settings ---------------------------------------------------------

    def global_control_pct(self, workspace_id: str) -> float:
        with self.db.read() as cur:
            return read_global_control_pct(cur, workspace_id)

    async def set_global_control_pct(self, workspace_id: str, pct: float) -> float:
        await self.db.awrite(statement(
            "INSERT OR REPLACE INTO campaign_settings VALUES (?, ?, ?)",
            [workspace_id, pct, datetime.now(UTC)]))  # fmt: skip
        return pct


def first(result: Any) -> Any:
    """The first row of a result, or None; reads it to the end (the writer connection
    refuses new work while a result is unfinished)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def statement(sql: str, args: list[Any]) -> Callable[[Any], None]:
    """A writer unit that runs one statement (and leaves no open result on the writer)."""

    def work(conn: Any) -> None:
        conn.execute(sql, args)

    return work


def read_global_control_pct(cur: Any, workspace_id: str) -> float:
    row = first(cur.execute(
        "SELECT global_control_pct FROM campaign_settings WHERE workspace_id = ?",
        [workspace_id]))  # fmt: skip
    return DEFAULT_GLOBAL_CONTROL_PCT if row is None else float(row[0])


def _require(
    conn: Any, workspace_id: str, campaign_id: str, allowed: tuple[str, ...], what: str
) -> None:
    row = first(conn.execute("SELECT status FROM campaigns WHERE workspace_id = ? AND id = ?",
                       [workspace_id, campaign_id]))  # fmt: skip
    if row is None:
        raise not_found("campaign")
    if row[0] not in allowed:
        raise ApiError(409, "invalid_status",
                       f"a {row[0]} campaign cannot be {what} (only {', '.join(allowed)})",
                       field="status")  # fmt: skip


def parse_stored(doc: str) -> Campaign:
    return parse(orjson.loads(doc))
