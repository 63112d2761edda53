"""The facts conditions ask about one contact, read from storage (the engine stays pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson


class ContactFacts:
    """Answers for one contact on a read cursor; ``contact_ids`` include merged-in contacts."""

    def __init__(self, cur: Any, workspace_id: str, contact_id: int) -> None:
        self.cur = cur
        self.workspace_id = workspace_id
        self.contact_id = contact_id
        rows = cur.execute(
            "SELECT id FROM contacts WHERE workspace_id = ? AND (id = ? OR merged_into = ?)",
            [workspace_id, contact_id, contact_id],
        ).fetchall()
        self.contact_ids = sorted({contact_id, *(int(r[0]) for r in rows)})
        self._attributes: dict[str, Any] | None = None

    def event_since(self, event: str, since: datetime | None) -> bool:
        row = self.cur.execute(
            "SELECT 1 FROM all_events WHERE workspace_id = ? AND contact_id IN"
            " (SELECT unnest(?::BIGINT[])) AND type = 'track' AND event = ?"
            " AND timestamp >= coalesce(?, '-infinity'::TIMESTAMPTZ) LIMIT 1",
            [self.workspace_id, self.contact_ids, event, since],
        ).fetchone()
        return row is not None

    def attribute(self, name: str) -> Any:
        if self._attributes is None:
            row = self.cur.execute(
                "SELECT attributes, language, timezone FROM contacts WHERE workspace_id = ?"
                " AND id = ?",
                [self.workspace_id, self.contact_id],
            ).fetchone()
            attributes = orjson.loads(row[0]) if row and row[0] else {}
            if row:
                attributes.setdefault("language", row[1])
                attributes.setdefault("timezone", row[2])
            self._attributes = attributes
        return self._attributes.get(name)

    def in_segment(self, segment_id: str) -> bool:
        row = self.cur.execute(
            "SELECT 1 FROM segment_membership WHERE workspace_id = ? AND segment_id = ?"
            " AND contact_id = ? AND exited_at IS NULL LIMIT 1",
            [self.workspace_id, segment_id, self.contact_id],
        ).fetchone()
        return row is not None
