"""Building messages and reading identity state straight from the database."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from retenta.app import Container
from retenta.core.messages import Message

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def msg(
    ws: str,
    type: str = "track",
    *,
    user: str | None = None,
    anon: str | None = None,
    traits: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    previous: str | None = None,
    at: datetime | None = None,
    minutes: int = 0,
    source: str = "api",
) -> Message:
    ts = (at or T0) + timedelta(minutes=minutes)
    return Message(
        workspace_id=ws,
        message_id=f"m{next(_ids)}",
        type=type,  # type: ignore[arg-type]
        timestamp=ts,
        received_at=ts,
        event="Viewed" if type == "track" else None,
        user_id=user,
        anonymous_id=anon,
        previous_id=previous,
        traits=traits or {},
        properties=properties or {},
        context=context or {},
        source=source,
    )


def resolve(container: Container, messages: Sequence[Message]) -> list[Message]:
    container.db.write(lambda c: container.identity.resolve(c, messages))
    return list(messages)


def owner(container: Container, ws: str, id_type: str, value: str) -> int | None:
    return container.identity.lookup(workspace_id=ws, id_type=id_type, value=value)


def identities(container: Container, contact_id: int) -> set[tuple[str, str]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT type, value FROM identities WHERE contact_id = ?", [contact_id]
        ).fetchall()
    return {(t, v) for t, v in rows}


def contact_row(container: Container, contact_id: int) -> dict[str, Any]:
    with container.db.read() as cur:
        cur.execute("SELECT * FROM contacts WHERE id = ?", [contact_id])
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
    assert row is not None, f"contact {contact_id} missing"
    out = dict(zip(names, row, strict=True))
    out["attributes"] = orjson.loads(out["attributes"])
    out["provenance"] = orjson.loads(out["provenance"])
    return out


def full_state(container: Container, contact_id: int) -> dict[str, Any]:
    """Everything stored about a contact: its row and its identities with their times."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT type, value, first_seen, last_seen FROM identities WHERE contact_id = ?"
            " ORDER BY type, value",
            [contact_id],
        ).fetchall()
    return {"contact": contact_row(container, contact_id), "identities": rows}


def identity_events(container: Container, ws: str, kind: str | None = None) -> list[dict[str, Any]]:
    with container.db.read() as cur:
        cur.execute(
            "SELECT kind, contact_id, other_contact_id, identifier_type, identifier_value, reason,"
            " message_id FROM identity_events WHERE workspace_id = ? ORDER BY recorded_at",
            [ws],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return [r for r in rows if kind is None or r["kind"] == kind]


def merges(container: Container, ws: str) -> list[dict[str, Any]]:
    with container.db.read() as cur:
        cur.execute(
            "SELECT id, winner_id, loser_id, rule, inputs, trigger_message_id, reverted_at"
            " FROM merges WHERE workspace_id = ? ORDER BY id",
            [ws],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
