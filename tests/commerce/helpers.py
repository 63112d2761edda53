"""Building e-commerce Messages that already carry a contact (as identity would set it)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.app import Container
from retenta.core.messages import Message

_ids = itertools.count(1)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def track(
    ws: str, contact_id: int, event: str, props: dict[str, Any] | None = None, *, minute: int = 0
) -> Message:
    at = T0 + timedelta(minutes=minute)
    return Message(
        workspace_id=ws,
        message_id=f"m-{next(_ids)}",
        type="track",
        timestamp=at,
        received_at=at,
        event=event,
        properties=props or {},
        contact_id=contact_id,
    )


def apply(container: Container, *messages: Message) -> None:
    container.db.write(lambda c: container.commerce.apply(c, list(messages)))


def rows(container: Container, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Query the tables after folding the cart change rows into ``carts`` / ``cart_items``."""
    container.db.write(container.commerce.consolidate_carts)
    with container.db.read() as cur:
        return list(cur.execute(sql, list(params)).fetchall())


def make_contact(container: Container, workspace_id: str, *, merged_into: int | None = None) -> int:
    """A contact row as identity would create it (tests must not wait for identity); with
    ``merged_into``, also the merge record identity keeps."""
    sql = (
        "INSERT INTO contacts (workspace_id, id, created_at, updated_at, merged_into)"
        " VALUES (?, nextval('contact_id_seq'), now(), now(), ?) RETURNING id"
    )
    merge = (
        "INSERT INTO merges (workspace_id, winner_id, loser_id, rule, inputs, snapshot)"
        " VALUES (?, ?, ?, 'test', '{}', '{}')"
    )

    def work(conn: Any) -> int:
        contact_id = int(conn.execute(sql, [workspace_id, merged_into]).fetchone()[0])
        if merged_into is not None:
            conn.execute(merge, [workspace_id, merged_into, contact_id])
        return contact_id

    return container.db.write(work)
