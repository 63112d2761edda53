"""The facts nodes ask about one contact, read from storage (the engine stays pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from retenta.journeys.engine import MessageState, compare
from retenta.journeys.reach import can_receive

NOT_HANDED = frozenset({"queued", "sending"})  # no provider has seen the send yet


class ContactFacts:
    """Answers for one contact on a read cursor; ``contact_ids`` include merged-in contacts."""

    def __init__(self, cur: Any, workspace_id: str, contact_id: int) -> None:
        self.cur = cur
        self.workspace_id = workspace_id
        self.contact_id = contact_id
        self._attributes: dict[str, Any] | None = None
        self._timezone: str | None = None

    @cached_property
    def contact_ids(self) -> list[int]:
        """The contact and those merged into it, read on first use: a step of a run that asks
        nothing (a send, a wait) must not pay this query (~7 ms: the OR scans every contact)."""
        rows = self.cur.execute(
            "SELECT id FROM contacts WHERE workspace_id = ? AND (id = ? OR merged_into = ?)",
            [self.workspace_id, self.contact_id, self.contact_id],
        ).fetchall()
        return sorted({self.contact_id, *(int(r[0]) for r in rows)})

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

    def event_matching(self, event: str, where: Sequence[Any], since: datetime | None) -> bool:
        """An ``event`` since ``since`` whose properties pass every filter of ``where``."""
        rows = self.cur.execute(
            "SELECT properties FROM all_events WHERE workspace_id = ? AND contact_id IN"
            " (SELECT unnest(?::BIGINT[])) AND type = 'track' AND event = ?"
            " AND timestamp >= coalesce(?, '-infinity'::TIMESTAMPTZ) ORDER BY timestamp LIMIT 1000",
            [self.workspace_id, self.contact_ids, event, since],
        ).fetchall()
        for (raw,) in rows:
            props = orjson.loads(raw) if raw else {}
            if all(compare(props.get(f.property), f.op, f.value) for f in where):
                return True
        return False

    def message(self, send_id: str) -> MessageState | None:
        """The send's ledger status and its message events (none before the hand-over).

        Events are read from the send's creation on: ``message_events`` is appended in time
        order, so the bound prunes old row groups (2M events: 18 → 1.2 ms CPU a lookup)."""
        row = self.cur.execute(
            "SELECT status, created_at, last_error FROM sends WHERE send_id = ?", [send_id]
        ).fetchone()
        if row is None:
            return None
        status, created_at, error = str(row[0]), row[1], row[2]
        if status in NOT_HANDED:
            return MessageState(status, None)
        events = self.cur.execute(
            'SELECT status, min("at") FROM message_events WHERE workspace_id = ?'
            ' AND send_id = ? AND "at" >= ? AND NOT machine GROUP BY status',
            [self.workspace_id, send_id, created_at],
        ).fetchall()
        seen = {str(kind): at for kind, at in events}
        return MessageState(status, seen.get("sent"), frozenset(seen), error)

    def can_receive(self, channel: str, category: str, topic: str | None) -> tuple[bool, str]:
        family = [self.contact_id, *(i for i in self.contact_ids if i != self.contact_id)]
        return can_receive(self.cur, self.workspace_id, family, channel, category, topic)

    def timezone(self) -> str:
        """The contact's zone, else the workspace's, else UTC."""
        if self._timezone is None:
            from retenta.sendtime.store import contact_zones, workspace_zone

            fallback = workspace_zone(self.cur, self.workspace_id)
            zones = contact_zones(self.cur, self.workspace_id, [self.contact_id], fallback)
            self._timezone = zones.get(self.contact_id, fallback)
        return self._timezone

    def best_hour(self) -> int:
        from retenta.sendtime import best_hour

        return int(best_hour(self.cur, self.workspace_id, self.contact_id).hour)

    def contact(self) -> Mapping[str, Any]:
        """The templates' ``contact``: the traits at the top level, then the names message
        templates use (``messaging/outbox/recipients.py``: email, phone, first_name…)."""
        self.attribute("language")
        attributes = dict(self._attributes or {})
        rows = self.cur.execute(
            "SELECT type, arg_max(value, last_seen) FROM identities WHERE workspace_id = ?"
            " AND type IN ('email', 'phone', 'external_id')"
            " AND contact_id IN (SELECT unnest(?::BIGINT[])) GROUP BY type",
            [self.workspace_id, self.contact_ids],
        ).fetchall()
        identifiers = {str(kind): value for kind, value in rows}
        return {
            **attributes,
            "contact_id": self.contact_id,
            "email": identifiers.get("email"),
            "phone": identifiers.get("phone"),
            "external_id": identifiers.get("external_id"),
            "first_name": attributes.get("first_name") or attributes.get("firstName"),
            "last_name": attributes.get("last_name") or attributes.get("lastName"),
            "language": attributes.get("language"),
            "timezone": attributes.get("timezone"),
            "attributes": attributes,
        }
