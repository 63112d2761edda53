"""Consent changes: an append-only history per contact, channel and topic; the latest wins."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retenta.contacts.traits import CONSENT_STATUSES
from retenta.errors import ApiError

CHANNEL_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CONSENT_COLUMNS = ("contact_id", "channel", "topic", "status", "source", "changed_at")


def check_consent(*, channel: str, topic: str, status: str, source: str) -> None:
    """``ApiError`` 422 naming the field when a consent change is not well-formed.

    >>> check_consent(channel="email", topic="*", status="subscribed", source="api")
    >>> check_consent(channel="email", topic="*", status="maybe", source="api")
    Traceback (most recent call last):
    ...
    retenta.errors.ApiError: status must be one of subscribed, unsubscribed, pending
    """
    if not CHANNEL_PATTERN.match(channel or ""):
        raise ApiError(
            422,
            "validation_error",
            "channel must be a lowercase name like 'email'",
            field="channel",
        )
    if not topic or len(topic) > 100:
        raise ApiError(422, "validation_error", "topic must be 1-100 characters", field="topic")
    if status not in CONSENT_STATUSES:
        msg = f"status must be one of {', '.join(CONSENT_STATUSES)}"
        raise ApiError(422, "validation_error", msg, field="status")
    if not source or len(source) > 100:
        raise ApiError(422, "validation_error", "source must be 1-100 characters", field="source")


def record_consent(
    conn: Any,
    *,
    workspace_id: str,
    contact_id: int,
    channel: str,
    topic: str = "*",
    status: str,
    source: str,
    changed_at: datetime | None = None,
) -> None:
    """Append one consent change inside the caller's writer unit of work."""
    check_consent(channel=channel, topic=topic, status=status, source=source)
    conn.execute(
        "INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source,"
        " changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [workspace_id, contact_id, channel, topic, status, source, changed_at or datetime.now(UTC)],
    )


def record_consents(conn: Any, *, workspace_id: str, table: pa.Table) -> int:
    """Append many consent changes in one statement (imports); columns ``CONSENT_COLUMNS``.

    Rows are not validated here: the caller has checked them (``check_consent``).
    """
    if table.num_rows == 0:
        return 0
    cols = ", ".join(CONSENT_COLUMNS)
    conn.register("_incoming_consents", table.select(list(CONSENT_COLUMNS)))
    try:
        conn.execute(
            f"INSERT INTO consents (workspace_id, {cols}) SELECT ?, {cols} FROM _incoming_consents",
            [workspace_id],
        )
    finally:
        conn.unregister("_incoming_consents")
    return int(table.num_rows)
