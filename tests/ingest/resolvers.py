"""A small, real Resolver for pipeline tests: one contact per userId/anonymousId.

It writes the same tables identity resolution does (contacts, identities) through the
writer connection it is given, so the pipeline is exercised against real storage without
depending on the identity engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retenta.core.messages import Message

BLOCKED_USER = "blocked-user"


class TableResolver:
    """Looks identifiers up in ``identities``; creates a contact for an unknown one."""

    def __init__(self, *, fail_on_event: str | None = None) -> None:
        self.fail_on_event = fail_on_event
        self.calls = 0

    def resolve(self, conn: Any, messages: Sequence[Message]) -> None:
        self.calls += 1
        for m in messages:
            if self.fail_on_event is not None and m.event == self.fail_on_event:
                raise RuntimeError(f"resolver refuses {m.event!r}")
            if m.user_id == BLOCKED_USER:
                m.dropped = "blocked identifier"
                continue
            id_type, value = (
                ("external_id", m.user_id) if m.user_id else ("anonymous_id", m.anonymous_id)
            )
            m.contact_id = self._contact(conn, m, id_type, str(value))

    def _contact(self, conn: Any, m: Message, id_type: str, value: str) -> int:
        # fetchall, not fetchone: DuckDB 2 keeps a half-read result open on the connection.
        rows = conn.execute(
            "SELECT contact_id FROM identities WHERE workspace_id = ? AND type = ? AND value = ?",
            [m.workspace_id, id_type, value],
        ).fetchall()
        if rows:
            return int(rows[0][0])
        ((contact_id,),) = conn.execute("SELECT nextval('contact_id_seq')").fetchall()
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [m.workspace_id, contact_id, m.timestamp, m.timestamp],
        )
        conn.execute(
            "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?)",
            [m.workspace_id, id_type, value, contact_id, m.timestamp, m.timestamp],
        )
        return int(contact_id)


class RecordingApplier:
    """An Applier that records what it was given and can be told to fail."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        for m in messages:
            assert m.contact_id is not None
        self.seen.extend(m.message_id for m in messages)
