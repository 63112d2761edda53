"""Recording opens and clicks as ``message_events``, and human engagement rates.

A hit is recorded inside the single writer: the send's facts (channel, campaign, when it
was sent) and its earlier clicks are read in the same unit of work as the append, so
concurrent clicks of one message are judged in order (the link-burst rule sees them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.messaging.events import MessageEvent, SendContext, append
from retenta.messaging.tracking import BURST_WINDOW, Hit, machine_click, machine_open
from retenta.storage.base import Database

SEND_FACTS_SQL = """
SELECT any_value(channel), any_value(campaign_id), any_value(message_id), any_value(tags),
       min("at") FILTER (WHERE status = 'sent')
FROM message_events WHERE workspace_id = ? AND send_id = ?
"""
RECENT_CLICKS_SQL = """
SELECT CAST(json_extract_string(properties, '$.link') AS INTEGER), "at"
FROM message_events
WHERE workspace_id = ? AND send_id = ? AND status = 'clicked' AND "at" >= ?
"""


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of an HTTP request that tell a person from a machine."""

    user_agent: str
    method: str = "GET"
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendFacts:
    send: SendContext
    sent_at: datetime | None


def send_facts(conn: Any, hit: Hit) -> SendFacts:
    """The send's context from its earlier events (email, no campaign if none was recorded)."""
    rows = conn.execute(SEND_FACTS_SQL, [hit.workspace_id, hit.send_id]).fetchall()
    channel, campaign_id, message_id, tags, sent_at = rows[0] if rows else (None,) * 5
    send = SendContext(
        workspace_id=hit.workspace_id,
        contact_id=hit.contact_id,
        send_id=hit.send_id,
        channel=channel or "email",
        campaign_id=campaign_id,
        message_id=message_id,
        tags=tuple(tags or ()),
    )
    return SendFacts(send, sent_at)


def open_event(conn: Any, hit: Hit, request: Request) -> MessageEvent:
    at = request.at or datetime.now(UTC)
    facts = send_facts(conn, hit)
    reason = machine_open(
        user_agent=request.user_agent, method=request.method, sent_at=facts.sent_at, at=at
    )
    return MessageEvent(facts.send, "opened", at, machine=reason is not None,
                        properties=_properties(request, reason))  # fmt: skip


def click_event(conn: Any, hit: Hit, request: Request) -> MessageEvent:
    at = request.at or datetime.now(UTC)
    facts = send_facts(conn, hit)
    recent = conn.execute(
        RECENT_CLICKS_SQL, [hit.workspace_id, hit.send_id, at - BURST_WINDOW]
    ).fetchall()
    assert hit.link is not None
    reason = machine_click(
        user_agent=request.user_agent,
        method=request.method,
        sent_at=facts.sent_at,
        at=at,
        link=hit.link,
        recent_clicks=[(int(n), when) for n, when in recent if n is not None],
    )
    properties = _properties(request, reason) | {"link": hit.link, "url": hit.url}
    return MessageEvent(
        facts.send, "clicked", at, machine=reason is not None, properties=properties
    )


def _properties(request: Request, reason: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"user_agent": request.user_agent[:300]}
    if request.method.upper() != "GET":
        out["method"] = request.method.upper()
    if reason:
        out["machine_reason"] = reason
    return out


class TrackingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record_open(self, hit: Hit, request: Request) -> MessageEvent:
        def work(conn: Any) -> MessageEvent:
            event = open_event(conn, hit, request)
            append(conn, [event])
            return event

        return await self.db.awrite(work)

    async def record_click(self, hit: Hit, request: Request) -> MessageEvent:
        def work(conn: Any) -> MessageEvent:
            event = click_event(conn, hit, request)
            append(conn, [event])
            return event

        return await self.db.awrite(work)

    def engagement(
        self, workspace_id: str, *, campaign_id: str | None = None, message_id: str | None = None
    ) -> dict[str, Any]:
        """Sends, human and machine opens/clicks (distinct sends), and the human rates.

        A human click counts as an open too: the person read the message even when the
        pixel was blocked (images off) or fetched by a proxy.
        """
        where, args = ["workspace_id = ?"], [workspace_id]
        for column, value in (("campaign_id", campaign_id), ("message_id", message_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT count(DISTINCT send_id) FILTER (WHERE status = 'sent'),"
            " count(DISTINCT send_id) FILTER (WHERE status IN ('opened', 'clicked')"
            " AND NOT machine),"
            " count(DISTINCT send_id) FILTER (WHERE status = 'clicked' AND NOT machine),"
            " count(DISTINCT send_id) FILTER (WHERE status = 'opened' AND machine),"
            " count(DISTINCT send_id) FILTER (WHERE status = 'clicked' AND machine)"
            f" FROM message_events WHERE {' AND '.join(where)}"
        )
        with self.db.read() as cur:
            [(sent, opened, clicked, m_opened, m_clicked)] = cur.execute(sql, args).fetchall()
        return {
            "sent": sent,
            "opened": opened,
            "clicked": clicked,
            "machine_opened": m_opened,
            "machine_clicked": m_clicked,
            "open_rate": round(opened / sent, 4) if sent else None,
            "click_rate": round(clicked / sent, 4) if sent else None,
        }
