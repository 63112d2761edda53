"""Double opt-in: a subscription is ``pending`` until the person confirms from the mailbox.

``request`` records ``pending`` for each topic and returns the signed confirmation link
(valid ``TTL``); the confirmation message is sent by the send path as a transactional
message (it is the one message allowed without consent: it asks for it). ``confirm``
records ``subscribed`` with the proof (when asked, when confirmed, IP and browser) — once:
the same link again changes nothing and says it is already confirmed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.contacts.consent import check_consent, record_consent
from retenta.messaging.signing import Keyring
from retenta.messaging.unsubscribe import live_contact
from retenta.storage.base import Database

PURPOSE = "confirm"
TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class OptInLink:
    workspace_id: str
    contact_id: int
    channel: str
    topics: tuple[str, ...]
    source: str
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class Confirmation:
    status: str  # confirmed | already_confirmed | expired | gone
    link: OptInLink


def make_token(keyring: Keyring, link: OptInLink) -> str:
    return keyring.url_token(
        PURPOSE, link.workspace_id, str(link.contact_id), link.channel, ",".join(link.topics),
        link.source, str(int(link.requested_at.timestamp())),
    )  # fmt: skip


def read_token(keyring: Keyring, token: str) -> OptInLink | None:
    fields = keyring.read_url_token(PURPOSE, token)
    if fields is None or len(fields) != 6 or not fields[1].isdigit() or not fields[5].isdigit():
        return None
    workspace, contact, channel, topics, source, stamp = fields
    return OptInLink(workspace, int(contact), channel, tuple(topics.split(",")), source,
                     datetime.fromtimestamp(int(stamp), UTC))  # fmt: skip


class DoubleOptIn:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    async def request(
        self, workspace_id: str, contact_id: int, *, channel: str = "email",
        topics: Sequence[str] = ("*",), source: str = "api",
    ) -> str:  # fmt: skip
        """Record ``pending`` (unless already subscribed) and return the confirmation token."""
        for topic in topics:
            check_consent(channel=channel, topic=topic, status="pending", source=source)
        now = datetime.now(UTC)
        link = OptInLink(workspace_id, contact_id, channel, tuple(topics), source, now)

        def work(conn: Any) -> None:
            for topic in topics:
                if _status(conn, workspace_id, contact_id, channel, topic) != "subscribed":
                    record_consent(
                        conn, workspace_id=workspace_id, contact_id=contact_id, channel=channel,
                        topic=topic, status="pending", source=f"double_opt_in:{source}"[:100],
                        changed_at=now,
                    )  # fmt: skip

        await self.db.awrite(work)
        return make_token(self.keyring, link)

    async def confirm(
        self, token: str, *, ip: str | None = None, user_agent: str | None = None,
        now: datetime | None = None,
    ) -> Confirmation | None:  # fmt: skip
        """Confirm a genuine link; ``None`` for a forged or edited one."""
        link = read_token(self.keyring, token)
        if link is None:
            return None
        moment = now or datetime.now(UTC)
        if moment - link.requested_at > TTL:
            return Confirmation("expired", link)
        token_hash = hashlib.sha256(token.encode()).hexdigest()

        def work(conn: Any) -> str:
            contact = live_contact(conn, link.workspace_id, link.contact_id)
            if contact is None:
                return "gone"
            inserted = conn.execute(
                "INSERT INTO consent_proofs (workspace_id, contact_id, channel, topics,"
                " requested_at, confirmed_at, source, ip, user_agent, token_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                [link.workspace_id, contact, link.channel, list(link.topics), link.requested_at,
                 moment, link.source, ip, (user_agent or "")[:300] or None, token_hash],
            ).fetchall()  # fmt: skip
            if not inserted:
                return "already_confirmed"
            for topic in link.topics:
                record_consent(
                    conn, workspace_id=link.workspace_id, contact_id=contact,
                    channel=link.channel, topic=topic, status="subscribed",
                    source="double_opt_in", changed_at=moment,
                )  # fmt: skip
            return "confirmed"

        return Confirmation(await self.db.awrite(work), link)


def _status(conn: Any, workspace_id: str, contact_id: int, channel: str, topic: str) -> str | None:
    rows = conn.execute(
        "SELECT status FROM consents WHERE workspace_id = ? AND contact_id = ? AND channel = ?"
        " AND topic = ? ORDER BY changed_at DESC LIMIT 1",
        [workspace_id, contact_id, channel, topic],
    ).fetchall()
    return str(rows[0][0]) if rows else None
