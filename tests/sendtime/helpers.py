"""Set-up for send-time tests: contacts with a timezone and their opens and clicks, written
through the single writer the way the tracker and the dispatcher write them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from retenta.app import Container
from retenta.messaging import events as message_events

_sends = count(1)


def add_contact(container: Container, workspace_id: str, timezone: str | None) -> int:
    now = datetime.now(UTC)

    def work(conn: Any) -> int:
        cid = int(conn.execute("SELECT nextval('contact_id_seq')").fetchone()[0])
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, timezone)"
            " VALUES (?, ?, ?, ?, ?)",
            [workspace_id, cid, now, now, timezone],
        )
        return cid

    return int(container.db.write(work))


def set_workspace_zone(container: Container, workspace_id: str, zone: str) -> None:
    container.db.write(lambda conn: conn.execute(
        "UPDATE workspaces SET settings = json_merge_patch(settings, ?::JSON) WHERE id = ?",
        [f'{{"timezone": "{zone}"}}', workspace_id]))  # fmt: skip


def local(zone: str, day: int, hour: int, minute: int = 10, month: int = 6) -> datetime:
    """A moment given in the zone's wall-clock time (2026), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def engage(
    container: Container, workspace_id: str, contact_id: int, moments: Iterable[datetime], *,
    status: str = "opened", machine: bool = False, clicks_too: bool = False,
) -> None:  # fmt: skip
    """One send per moment, sent an hour before and ``status`` at the moment (and a click
    a minute later when ``clicks_too``)."""
    rows = []
    for at in moments:
        send = message_events.SendContext(workspace_id, contact_id, f"snd_t{next(_sends)}",
                                          "email", message_id="msg_t")  # fmt: skip
        rows.append(message_events.MessageEvent(send, "sent", at - timedelta(hours=1)))
        rows.append(message_events.MessageEvent(send, status, at, machine=machine))
        if clicks_too:
            rows.append(message_events.MessageEvent(send, "clicked", at + timedelta(minutes=1)))
    container.db.write(lambda conn: message_events.append(conn, rows))
