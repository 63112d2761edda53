"""The preference centre: a contact's channels, topics and frequency behind a signed link.

The link names the workspace and the contact and does not expire (it sits in every
message). Saving records a consent change only for what actually changed (source
``preference_centre``), and the frequency in ``contact_preferences`` for the contact policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.contacts.consent import record_consent
from retenta.messaging.consent import ALL_TOPICS
from retenta.messaging.signing import Keyring
from retenta.messaging.unsubscribe import live_contact
from retenta.storage.base import Database

PURPOSE = "preferences"
SOURCE = "preference_centre"
CHANNELS = ("email", "sms", "viber", "push")
FREQUENCIES = ("any", "weekly", "monthly")


@dataclass(frozen=True, slots=True)
class PreferenceLink:
    workspace_id: str
    contact_id: int


@dataclass(frozen=True, slots=True)
class Topic:
    topic: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the page shows and the form sends back."""

    channels: Mapping[str, bool]  # subscribed to the channel (topic "*")
    topics: Mapping[str, bool]  # email topics
    frequency: str = "any"


def make_token(keyring: Keyring, link: PreferenceLink) -> str:
    return keyring.url_token(PURPOSE, link.workspace_id, str(link.contact_id))


def read_token(keyring: Keyring, token: str) -> PreferenceLink | None:
    fields = keyring.read_url_token(PURPOSE, token)
    if fields is None or len(fields) != 2 or not fields[1].isdigit():
        return None
    return PreferenceLink(fields[0], int(fields[1]))


def from_form(form: Mapping[str, list[str]], topics: list[Topic]) -> Preferences:
    """The submitted form: ``channel:<name>`` and ``topic:<name>`` checkboxes, ``frequency``.

    >>> p = from_form({"channel:email": ["on"], "frequency": ["weekly"]}, [Topic("news", "N")])
    >>> dict(p.channels)["email"], dict(p.channels)["sms"], dict(p.topics), p.frequency
    (True, False, {'news': False}, 'weekly')
    >>> from_form({"unsubscribe_all": ["1"], "channel:email": ["on"]}, []).channels["email"]
    False
    """
    everything_off = "unsubscribe_all" in form
    frequency = (form.get("frequency") or ["any"])[0]
    return Preferences(
        channels={c: not everything_off and f"channel:{c}" in form for c in CHANNELS},
        topics={t.topic: not everything_off and f"topic:{t.topic}" in form for t in topics},
        frequency=frequency if frequency in FREQUENCIES else "any",
    )


class PreferenceCentre:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    def topics(self, workspace_id: str) -> list[Topic]:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT topic, name, description FROM consent_topics WHERE workspace_id = ?"
                " ORDER BY position, topic",
                [workspace_id],
            ).fetchall()
        return [Topic(*row) for row in rows]

    async def set_topics(self, workspace_id: str, topics: list[Topic]) -> None:
        def work(conn: Any) -> None:
            conn.execute("DELETE FROM consent_topics WHERE workspace_id = ?", [workspace_id])
            for position, t in enumerate(topics):
                conn.execute(
                    "INSERT INTO consent_topics VALUES (?, ?, ?, ?, ?)",
                    [workspace_id, t.topic, t.name, t.description, position],
                )

        await self.db.awrite(work)

    def current(self, link: PreferenceLink) -> Preferences | None:
        """The contact's preferences now; ``None`` when the contact is gone (erased)."""
        with self.db.read() as cur:
            contact = live_contact(cur, link.workspace_id, link.contact_id)
            if contact is None:
                return None
            state = _consents(cur, link.workspace_id, contact)
            frequency = cur.execute(
                "SELECT frequency FROM contact_preferences WHERE workspace_id = ?"
                " AND contact_id = ?",
                [link.workspace_id, contact],
            ).fetchall()
        topics = self.topics(link.workspace_id)
        channel_on = {c: state.get((c, ALL_TOPICS)) == "subscribed" for c in CHANNELS}
        return Preferences(
            channels=channel_on,
            topics={t.topic: _topic_on(state, t.topic) for t in topics},
            frequency=str(frequency[0][0]) if frequency else "any",
        )

    async def save(self, link: PreferenceLink, wanted: Preferences) -> int:
        """Record what changed; the number of consent changes recorded."""
        now = datetime.now(UTC)

        def work(conn: Any) -> int:
            contact = live_contact(conn, link.workspace_id, link.contact_id)
            if contact is None:
                return 0
            state = _consents(conn, link.workspace_id, contact)
            changes = [(c, ALL_TOPICS, on) for c, on in wanted.channels.items()
                       if (state.get((c, ALL_TOPICS)) == "subscribed") != on]  # fmt: skip
            changes += [("email", t, on) for t, on in wanted.topics.items()
                        if _topic_on(state, t) != on]  # fmt: skip
            for channel, topic, on in changes:
                record_consent(
                    conn, workspace_id=link.workspace_id, contact_id=contact, channel=channel,
                    topic=topic, status="subscribed" if on else "unsubscribed", source=SOURCE,
                    changed_at=now,
                )  # fmt: skip
            conn.execute(
                "INSERT INTO contact_preferences VALUES (?, ?, ?, ?) ON CONFLICT"
                " (workspace_id, contact_id) DO UPDATE SET frequency = excluded.frequency,"
                " updated_at = excluded.updated_at",
                [link.workspace_id, contact, wanted.frequency, now],
            )
            return len(changes)

        return await self.db.awrite(work)


def _topic_on(state: Mapping[tuple[str, str], str], topic: str) -> bool:
    """Subscribed to an email topic: explicitly, or through "all topics" with no opt-out."""
    explicit = state.get(("email", topic))
    if explicit is not None:
        return explicit == "subscribed"
    return state.get(("email", ALL_TOPICS)) == "subscribed"


def _consents(cur: Any, workspace_id: str, contact_id: int) -> dict[tuple[str, str], str]:
    rows = cur.execute(
        "SELECT channel, topic, arg_max(status, changed_at) FROM consents"
        " WHERE workspace_id = ? AND contact_id = ? GROUP BY channel, topic",
        [workspace_id, contact_id],
    ).fetchall()
    return {(str(c), str(t)): str(s) for c, t, s in rows}
