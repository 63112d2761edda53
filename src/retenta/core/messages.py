"""The internal form of one accepted event, whatever door it came in by (HTTP, import, demo).

Validation of the wire format (the Segment spec) happens in ``ingest``; by the time a
``Message`` exists it is well-formed, its timestamps are skew-corrected UTC datetimes and
it belongs to exactly one workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

MessageType = Literal["identify", "track", "page", "screen", "group", "alias"]


@dataclass(slots=True)
class Message:
    workspace_id: str
    message_id: str
    type: MessageType
    timestamp: datetime
    received_at: datetime
    event: str | None = None  # track event name, or page/screen name
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None  # alias
    group_id: str | None = None  # group
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    source: str = "api"  # api | import | demo | system
    contact_id: int | None = None  # set by identity resolution
    dropped: str | None = None  # set by identity resolution when the event must not be stored


def corrected_timestamp(
    *, received_at: datetime, sent_at: datetime | None, original: datetime | None
) -> datetime:
    """Segment's clock-skew correction: ``receivedAt − (sentAt − originalTimestamp)``.

    >>> from datetime import datetime, timezone as tz
    >>> r = datetime(2026, 1, 1, 12, 0, 10, tzinfo=tz.utc)
    >>> s = datetime(2026, 1, 1, 12, 5, 0, tzinfo=tz.utc)   # device clock 5 min fast
    >>> o = datetime(2026, 1, 1, 12, 4, 0, tzinfo=tz.utc)
    >>> corrected_timestamp(received_at=r, sent_at=s, original=o).isoformat()
    '2026-01-01T11:59:10+00:00'
    """
    if original is None:
        return received_at
    if sent_at is None:
        return original
    skew: timedelta = sent_at - original
    return received_at - skew
