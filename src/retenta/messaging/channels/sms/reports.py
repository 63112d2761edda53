"""Delivery reports (provider webhooks, SMPP receipts) → ``delivered`` / ``failed`` events.

A report names its send either by our send id (Twilio's callback URL carries it) or by the
provider's message id (an SMPP receipt's ``id:``), which the send's ``sent`` event holds in
``properties.remote_id``. The send's context (workspace, contact, channel, campaign,
message, tags) is read from its earlier events, so a report needs nothing else; a report
for an unknown send, or one whose status is already recorded (providers retry callbacks),
writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from retenta.messaging.events import MessageEvent, SendContext, append
from retenta.messaging.outbox.delivery import follow_reports
from retenta.storage.base import Database

FinalStatus = Literal["delivered", "failed", "opened"]  # opened: Viber "read"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    status: FinalStatus
    provider: str  # "twilio", "smpp", "infobip"
    send_id: str | None = None
    remote_id: str | None = None
    error_code: str | None = None
    reason: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    channel: str = "sms"  # the channel the event is on ("viber" for Vonage's reports)

    def __post_init__(self) -> None:
        if self.send_id is None and self.remote_id is None:
            raise ValueError("a delivery report names its send_id or the provider's remote_id")


class ReportSink(Protocol):
    """Where a channel hands the delivery reports it receives on its own connection."""

    async def __call__(self, reports: Sequence[DeliveryReport]) -> int: ...


_CONTEXT_BY_SEND = """
SELECT send_id, contact_id, channel, campaign_id, message_id, tags,
       list(DISTINCT status) AS statuses
FROM message_events
WHERE workspace_id = ? AND list_contains(?, send_id)
GROUP BY ALL
"""
_SEND_BY_REMOTE = """
SELECT DISTINCT json_extract_string(properties, '$.remote_id') AS remote_id, send_id
FROM message_events
WHERE workspace_id = ? AND status = 'sent'
  AND list_contains(?, json_extract_string(properties, '$.remote_id'))
"""


def _events(conn: Any, workspace_id: str, reports: Sequence[DeliveryReport]) -> list[MessageEvent]:
    remote_ids = [r.remote_id for r in reports if r.send_id is None]
    by_remote: dict[str, str] = {}
    if remote_ids:
        rows = conn.execute(_SEND_BY_REMOTE, [workspace_id, remote_ids]).fetchall()
        by_remote = {remote: send for remote, send in rows}
    named = (r.send_id or by_remote.get(r.remote_id or "") for r in reports)
    send_ids = sorted({s for s in named if s is not None})
    rows = conn.execute(_CONTEXT_BY_SEND, [workspace_id, send_ids]).fetchall()
    contexts: dict[str, SendContext] = {}
    seen: dict[tuple[str, str], set[str]] = {}  # (send, channel) → statuses recorded
    for send_id, contact_id, channel, campaign_id, message_id, tags, statuses in rows:
        seen.setdefault((send_id, channel), set()).update(statuses)
        ctx = SendContext(workspace_id, contact_id, send_id, channel, campaign_id, message_id,
                          tuple(tags or ()))  # fmt: skip
        contexts.setdefault(send_id, ctx)
    events: list[MessageEvent] = []
    for report in reports:
        send_id = report.send_id or by_remote.get(report.remote_id or "")
        if send_id is None or send_id not in contexts:
            continue
        recorded = seen.setdefault((send_id, report.channel), set())
        if report.status in recorded:
            continue
        recorded.add(report.status)
        ctx = replace(contexts[send_id], channel=report.channel)
        events.append(MessageEvent(ctx, report.status, report.at, properties=_properties(report)))
    return events


def _properties(report: DeliveryReport) -> dict[str, Any]:
    values = {
        "provider": report.provider,
        "remote_id": report.remote_id,
        "error_code": report.error_code,
        "reason": report.reason,
    }
    return {k: v for k, v in values.items() if v is not None}


async def record_reports(db: Database, workspace_id: str, reports: Iterable[DeliveryReport]) -> int:
    """Append the events the reports mean (in the writer); returns how many were written."""
    batch = list(reports)
    if not batch:
        return 0

    def work(conn: Any) -> int:
        events = _events(conn, workspace_id, batch)
        follow_reports(conn, events)  # the send's own status follows (outbox/delivery.py)
        return append(conn, events)

    return await db.awrite(work)


def sink_for(db: Database, workspace_id: str) -> ReportSink:
    """A :class:`ReportSink` that records a workspace's reports in ``message_events``."""

    async def sink(reports: Sequence[DeliveryReport]) -> int:
        return await record_reports(db, workspace_id, reports)

    return sink
