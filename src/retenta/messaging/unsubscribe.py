"""One-click unsubscribe (RFC 8058) behind the signed ``List-Unsubscribe`` token.

The token (``Keyring`` hex token, purpose ``unsubscribe``) names the workspace, the
contact and the send. Honouring it appends an ``unsubscribed`` consent change (source
``one_click``) for the channel and all topics, in the writer, and an ``unsubscribed``
message event for the send — unless the contact is already unsubscribed, so repeating it
(mail clients retry) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.contacts.consent import record_consent
from retenta.messaging.consent import ALL_TOPICS
from retenta.messaging.events import MessageEvent, SendContext, append
from retenta.messaging.signing import Keyring
from retenta.storage.base import Database

PURPOSE = "unsubscribe"
SOURCE = "one_click"


@dataclass(frozen=True, slots=True)
class UnsubscribeLink:
    workspace_id: str
    contact_id: int
    send_id: str
    channel: str = "email"


def read_token(keyring: Keyring, token: str) -> UnsubscribeLink | None:
    """The link a genuine token names; ``None`` for a forged, edited or malformed one."""
    fields = keyring.read(PURPOSE, token)
    if fields is None or len(fields) not in (3, 4) or not fields[1].isdigit():
        return None
    channel = fields[3] if len(fields) == 4 else "email"
    return UnsubscribeLink(fields[0], int(fields[1]), fields[2], channel)


def live_contact(conn: Any, workspace_id: str, contact_id: int) -> int | None:
    """The contact ``contact_id`` lives on as (merges followed); ``None`` once erased."""
    for _ in range(64):
        rows = conn.execute(
            "SELECT merged_into, erased_at FROM contacts WHERE workspace_id = ? AND id = ?",
            [workspace_id, contact_id],
        ).fetchall()
        if not rows or rows[0][1] is not None:
            return None
        if rows[0][0] is None:
            return contact_id
        contact_id = int(rows[0][0])
    return None


def current_status(conn: Any, workspace_id: str, contact_id: int, channel: str) -> str | None:
    rows = conn.execute(
        "SELECT status FROM consents WHERE workspace_id = ? AND contact_id = ? AND channel = ?"
        " AND topic = ? ORDER BY changed_at DESC LIMIT 1",
        [workspace_id, contact_id, channel, ALL_TOPICS],
    ).fetchall()
    return str(rows[0][0]) if rows else None


class Unsubscriber:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def unsubscribe(self, link: UnsubscribeLink) -> bool:
        """Honour the link now; ``True`` if this call changed the consent, ``False`` if it
        was already unsubscribed (or the contact is gone)."""

        def work(conn: Any) -> bool:
            contact = live_contact(conn, link.workspace_id, link.contact_id)
            if contact is None:
                return False
            if current_status(conn, link.workspace_id, contact, link.channel) == "unsubscribed":
                return False
            now = datetime.now(UTC)
            record_consent(
                conn, workspace_id=link.workspace_id, contact_id=contact, channel=link.channel,
                topic=ALL_TOPICS, status="unsubscribed", source=SOURCE, changed_at=now,
            )  # fmt: skip
            if link.send_id:
                send = SendContext(link.workspace_id, contact, link.send_id, link.channel)
                append(
                    conn, [MessageEvent(send, "unsubscribed", now, properties={"source": SOURCE})]
                )
            return True

        return await self.db.awrite(work)

    def status(self, link: UnsubscribeLink) -> str | None:
        with self.db.read() as cur:
            contact = live_contact(cur, link.workspace_id, link.contact_id)
            return (
                None
                if contact is None
                else current_status(cur, link.workspace_id, contact, link.channel)
            )
