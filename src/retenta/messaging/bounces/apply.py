"""Feedback → what it means for the contact, once per report, in one writer unit per batch.

- delivered → a ``delivered`` message event;
- soft bounce → ``bounced`` (``bounce: soft``); the send is retried later, and the address
  is suppressed after ``soft_limit`` soft bounces in 30 days;
- hard bounce → ``bounced`` (``bounce: hard``); the address is suppressed (``hard_bounce``);
- blocked (policy, content) → ``bounced`` (``bounce: block``); the address is fine;
- complaint → ``complained``; suppressed (``complaint``) and unsubscribed from email;
- unsubscribe → ``unsubscribed``; unsubscribed from email;
- opened / clicked → ``opened`` / ``clicked``;
- delayed → nothing: the relay is still trying.

**Trust.** A send id read from a signed VERP address or a verified webhook is *trusted*. One
read from a report's body (an ARF sent to the feedback-loop address) is not: it is acted on
only when the report's recipient is an address of the send's contact, so a forged report
cannot suppress or unsubscribe anybody else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.contacts.consent import record_consent
from retenta.messaging import suppression
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.consent import ALL_TOPICS
from retenta.messaging.events import MessageEvent, SendContext, append
from retenta.messaging.outbox.delivery import follow_reports
from retenta.messaging.outbox.ledger import chunks, keys
from retenta.messaging.unsubscribe import live_contact
from retenta.storage.base import Database

SOFT_WINDOW = timedelta(days=30)
EVENT_OF = {
    Kind.DELIVERED: "delivered", Kind.SOFT_BOUNCE: "bounced", Kind.HARD_BOUNCE: "bounced",
    Kind.BLOCKED: "bounced", Kind.COMPLAINT: "complained", Kind.UNSUBSCRIBE: "unsubscribed",
    Kind.OPENED: "opened", Kind.CLICKED: "clicked",
}  # fmt: skip
BOUNCE_OF = {Kind.SOFT_BOUNCE: "soft", Kind.HARD_BOUNCE: "hard", Kind.BLOCKED: "block"}
Retry = Callable[[str, str, str], Awaitable[None]]  # (workspace_id, send_id, reason)


@dataclass(frozen=True, slots=True)
class Send:
    workspace_id: str
    contact_id: int
    channel: str
    campaign_id: str | None
    message_id: str | None


@dataclass
class Applied:
    applied: int = 0
    duplicates: int = 0
    unmatched: int = 0
    suppressed: int = 0
    retries: list[tuple[str, str, str]] = field(default_factory=list)


class FeedbackHandler:
    def __init__(self, db: Database, *, retry: Retry | None = None, soft_limit: int = 3) -> None:
        self.db = db
        self.retry = retry
        self.soft_limit = soft_limit

    async def apply(
        self, feedback: Sequence[Feedback], *, workspace_id: str | None = None,
        trusted: bool = True,
    ) -> Applied:  # fmt: skip
        """Apply a batch. Without ``workspace_id`` (mail to a VERP address) each send's own
        workspace is used; reports naming no known send are counted ``unmatched``."""
        result = await self.db.awrite(
            lambda conn: _apply(conn, feedback, workspace_id, trusted, self.soft_limit)
        )
        if self.retry is not None:
            for workspace, send_id, reason in result.retries:
                await self.retry(workspace, send_id, reason)
        return result


def _apply(
    conn: Any, batch: Sequence[Feedback], workspace_id: str | None, trusted: bool,
    soft_limit: int,
) -> Applied:  # fmt: skip
    result = Applied()
    now = datetime.now(UTC)
    sends = find_sends(conn, {f.send_id for f in batch if f.send_id}, workspace_id)
    for item in batch:
        send = sends.get(item.send_id or "")
        workspace = send.workspace_id if send else workspace_id
        if workspace is None or not _first_time(conn, workspace, item, send, now):
            result.duplicates += workspace is not None
            result.unmatched += workspace is None
            continue
        contact = _contact(conn, workspace, item, send, trusted)
        by_address_only = trusted and item.kind in (Kind.HARD_BOUNCE, Kind.COMPLAINT)
        if contact is None and not by_address_only:
            result.unmatched += 1
            continue
        result.applied += 1
        _record_event(conn, workspace, item, send, contact, now)
        result.suppressed += _consequences(conn, workspace, item, send, contact, now, soft_limit)
        if item.kind is Kind.SOFT_BOUNCE and send and contact is not None and item.send_id:
            result.retries.append((workspace, item.send_id, item.diagnostic or "soft bounce"))
    return result


def find_sends(conn: Any, send_ids: set[str], workspace_id: str | None) -> dict[str, Send]:
    """The sends these ids name (from the sends ledger, or the message events of sends made
    before it), in ``workspace_id`` when given.

    The ledger is read by key (``send_id IN (?, …)``, an index scan whatever its size); only
    ids it does not hold are looked for in the message events.
    """
    found: dict[str, Send] = {}
    ids = sorted(send_ids)
    for part in chunks(ids):
        _collect(found, conn.execute(_LEDGER_SQL.format(keys=keys(len(part))), part).fetchall(),
                 workspace_id)  # fmt: skip
    older = [i for i in ids if i not in found]
    if older:
        _collect(found, conn.execute(_EVENTS_SQL, [older]).fetchall(), workspace_id)
    return found


_LEDGER_SQL = (
    "SELECT send_id, workspace_id, contact_id, channel, campaign_id, message_id"
    " FROM sends WHERE send_id IN ({keys})"
)
_EVENTS_SQL = """
SELECT send_id, any_value(workspace_id), any_value(contact_id), any_value(channel),
       any_value(campaign_id), any_value(message_id)
FROM message_events WHERE send_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY send_id
"""


def _collect(found: dict[str, Send], rows: Sequence[Any], workspace_id: str | None) -> None:
    for send_id, workspace, contact, channel, campaign, message in rows:
        if workspace_id is None or workspace == workspace_id:
            found.setdefault(send_id, Send(workspace, int(contact), channel, campaign, message))


def _first_time(
    conn: Any, workspace: str, item: Feedback, send: Send | None, now: datetime
) -> bool:
    rows = conn.execute(
        "INSERT INTO feedback_reports (workspace_id, source, key, kind, send_id, outcome,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING key",
        [workspace, item.source, item.key, item.kind.value, item.send_id,
         "applied" if send else "unmatched", now],
    ).fetchall()  # fmt: skip
    return bool(rows)


def _contact(
    conn: Any, workspace: str, item: Feedback, send: Send | None, trusted: bool
) -> int | None:
    """The live contact the feedback is about, or ``None`` when it cannot be trusted to be."""
    by_address = _contact_by_email(conn, workspace, item.recipient) if item.recipient else None
    if send is None:
        return by_address if trusted else None
    of_send = live_contact(conn, workspace, send.contact_id)
    if trusted or (by_address is not None and by_address == of_send):
        return of_send
    return None


def _contact_by_email(conn: Any, workspace: str, address: str) -> int | None:
    rows = conn.execute(
        "SELECT contact_id FROM identities WHERE workspace_id = ? AND type = 'email' AND value = ?",
        [workspace, address.strip().lower()],
    ).fetchall()
    return live_contact(conn, workspace, int(rows[0][0])) if rows else None


def _record_event(
    conn: Any, workspace: str, item: Feedback, send: Send | None, contact: int | None,
    now: datetime,
) -> None:  # fmt: skip
    status = EVENT_OF.get(item.kind)
    if status is None or send is None or contact is None or item.send_id is None:
        return
    context = SendContext(workspace, contact, item.send_id, send.channel, send.campaign_id,
                          send.message_id)  # fmt: skip
    properties = item.as_properties() | (
        {"bounce": BOUNCE_OF[item.kind]} if item.kind in BOUNCE_OF else {}
    )
    event = MessageEvent(context, status, now, properties=properties)
    append(conn, [event])
    follow_reports(conn, [event])  # a reported delivery moves the send in the ledger too


def _consequences(
    conn: Any, workspace: str, item: Feedback, send: Send | None, contact: int | None,
    now: datetime, soft_limit: int,
) -> int:  # fmt: skip
    """Suppression and consent changes; the number of addresses newly suppressed."""
    source = f"{item.source}:{item.detail}" if item.detail else item.source
    send_id = item.send_id if send else None
    if item.kind is Kind.HARD_BOUNCE and item.recipient:
        return _suppress(conn, workspace, item.recipient, "hard_bounce", source, send_id, now)
    if item.kind in (Kind.COMPLAINT, Kind.UNSUBSCRIBE) and contact is not None:
        record_consent(
            conn, workspace_id=workspace, contact_id=contact, channel="email", topic=ALL_TOPICS,
            status="unsubscribed", source=item.source[:100], changed_at=now,
        )  # fmt: skip
    if item.kind is Kind.COMPLAINT and item.recipient:
        return _suppress(conn, workspace, item.recipient, "complaint", source, send_id, now)
    if (
        item.kind is Kind.SOFT_BOUNCE
        and item.recipient
        and contact is not None
        and _soft_bounces(conn, workspace, contact, now) >= soft_limit
    ):
        return _suppress(conn, workspace, item.recipient, "hard_bounce",
                         "soft_bounce_limit", send_id, now)  # fmt: skip
    return 0


def _suppress(
    conn: Any, workspace: str, address: str, reason: str, source: str, send_id: str | None,
    now: datetime,
) -> int:  # fmt: skip
    try:
        entry = suppression.Entry("email", address, reason, source[:100], send_id)
        return suppression.add(conn, workspace, [entry], at=now)
    except ValueError:
        return 0


def _soft_bounces(conn: Any, workspace: str, contact: int, now: datetime) -> int:
    rows = conn.execute(
        "SELECT count(DISTINCT send_id) FROM message_events WHERE workspace_id = ?"
        " AND contact_id = ? AND channel = 'email' AND status = 'bounced'"
        " AND properties->>'bounce' = 'soft' AND \"at\" >= ?",
        [workspace, contact, now - SOFT_WINDOW],
    ).fetchall()
    return int(rows[0][0])
