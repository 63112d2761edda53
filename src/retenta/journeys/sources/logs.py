"""Entries read from append-only history tables, one reader per trigger type.

Each reader returns the source rows timed in ``(lower, until]`` as :class:`LogEntry`: the
contact, a key naming the row (the run id derives from it), the row's time and the context
the run carries. Which rows count:

- ``subscription``: a consent row whose status differs from the contact's previous row for
  that channel and topic (a repeated "subscribed" is not a change);
- ``list``: a join (``joined_at``) or a leave (``left_at``) of a list or tag;
- ``message``: the first event of that status per send; machine opens and clicks are not
  people and do not count; ``journey_id`` matches sends of that journey;
- ``goal``: a run of the named journey that reached a goal (one entry per run and goal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.journeys.triggers import GoalTrigger, ListTrigger, MessageTrigger, SubscriptionTrigger


@dataclass(frozen=True, slots=True)
class LogEntry:
    contact_id: int
    key: str
    at: datetime
    context: dict[str, Any]


def key(*parts: object) -> str:
    """A row's identity from its parts; times in UTC ISO form.

    >>> key("msg", "snd_1", "opened")
    'msg\\x1fsnd_1\\x1fopened'
    """
    return "\x1f".join(p.astimezone(UTC).isoformat() if isinstance(p, datetime) else str(p)
                       for p in parts)  # fmt: skip


CHANGES_SQL = """
SELECT contact_id, topic, changed_at, source FROM consents
WHERE workspace_id = $ws AND channel = $channel AND topic = $topic AND status = $status
  AND changed_at > $lower AND changed_at <= $until
ORDER BY changed_at
"""
BEFORE_SQL = """
WITH changed AS (SELECT unnest($contacts) AS contact_id, unnest($times) AS changed_at)
SELECT c.contact_id, c.changed_at, arg_max(p.status, p.changed_at)
FROM changed c JOIN consents p
  ON p.contact_id = c.contact_id AND p.changed_at < c.changed_at
WHERE p.workspace_id = $ws AND p.channel = $channel AND p.topic = $topic
  AND p.contact_id IN (SELECT contact_id FROM changed)
GROUP BY ALL
"""


def subscription(conn: Any, workspace_id: str, trigger: SubscriptionTrigger, lower: datetime,
                 until: datetime) -> list[LogEntry]:  # fmt: skip
    topic = trigger.topic or "*"
    where = {"ws": workspace_id, "channel": trigger.channel, "topic": topic}
    rows = conn.execute(CHANGES_SQL, where | {
        "status": trigger.on, "lower": lower, "until": until}).fetchall()  # fmt: skip
    if not rows:
        return []
    before = {(int(c), at): status for c, at, status in conn.execute(BEFORE_SQL, where | {
        "contacts": [r[0] for r in rows], "times": [r[2] for r in rows]}).fetchall()}  # fmt: skip
    return [
        LogEntry(int(contact), key("sub", contact, trigger.channel, topic, trigger.on, at), at,
                 {"event": trigger.on, "channel": trigger.channel, "topic": topic,
                  "source": source, "timestamp": at.isoformat()})
        for contact, topic, at, source in rows
        if before.get((int(contact), at)) != trigger.on
    ]  # fmt: skip


def lists(conn: Any, workspace_id: str, trigger: ListTrigger, lower: datetime,
          until: datetime) -> list[LogEntry]:  # fmt: skip
    column = "joined_at" if trigger.on == "joined" else "left_at"  # one of two fixed names
    rows = conn.execute(
        f"SELECT contact_id, {column}, source FROM contact_lists WHERE workspace_id = ?"
        f" AND kind = ? AND name = ? AND {column} > ? AND {column} <= ? ORDER BY {column}",
        [workspace_id, trigger.kind, trigger.name, lower, until],
    ).fetchall()
    event = f"{trigger.kind}_{trigger.on}"
    return [
        LogEntry(int(contact), key("list", contact, trigger.kind, trigger.name, trigger.on, at),
                 at, {"event": event, "kind": trigger.kind, "name": trigger.name,
                      "source": source, "timestamp": at.isoformat()})
        for contact, at, source in rows
    ]  # fmt: skip


MESSAGE_SQL = """
SELECT contact_id, send_id, channel, campaign_id, message_id, min("at") AS first_at
FROM message_events
WHERE workspace_id = $ws AND status = $status AND "at" > $lower AND "at" <= $until
  AND NOT machine
  AND ($message_id::VARCHAR IS NULL OR message_id = $message_id)
  AND ($campaign_id::VARCHAR IS NULL OR campaign_id = $campaign_id)
  AND ($journey_id::VARCHAR IS NULL OR campaign_id = $journey_id)
  AND ($channel::VARCHAR IS NULL OR channel = $channel)
GROUP BY ALL ORDER BY first_at
"""


def message(conn: Any, workspace_id: str, trigger: MessageTrigger, lower: datetime,
            until: datetime) -> list[LogEntry]:  # fmt: skip
    rows = conn.execute(MESSAGE_SQL, {
        "ws": workspace_id, "status": trigger.on, "lower": lower, "until": until,
        "message_id": trigger.message_id, "campaign_id": trigger.campaign_id,
        "journey_id": trigger.journey_id, "channel": trigger.channel}).fetchall()  # fmt: skip
    earlier = _had_status(conn, workspace_id, trigger.on, lower, sorted({r[1] for r in rows}))
    return [
        LogEntry(int(contact), key("msg", send_id, trigger.on), at,
                 {"event": f"message_{trigger.on}", "send_id": send_id, "channel": channel,
                  "campaign_id": campaign, "message_id": message_id,
                  "timestamp": at.isoformat()})
        for contact, send_id, channel, campaign, message_id, at in rows
        if send_id not in earlier
    ]  # fmt: skip


def _had_status(conn: Any, workspace_id: str, status: str, before: datetime,
                send_ids: list[str]) -> set[str]:  # fmt: skip
    """The sends that already had this status at or before ``before`` (their first is read)."""
    if not send_ids:
        return set()
    rows = conn.execute(
        "SELECT DISTINCT send_id FROM message_events WHERE workspace_id = ? AND status = ?"
        ' AND NOT machine AND "at" <= ? AND send_id IN (SELECT unnest(?::VARCHAR[]))',
        [workspace_id, status, before, send_ids],
    ).fetchall()
    return {str(r[0]) for r in rows}


def goal(conn: Any, workspace_id: str, trigger: GoalTrigger, lower: datetime,
         until: datetime) -> list[LogEntry]:  # fmt: skip
    rows = conn.execute(
        'SELECT contact_id, run_id, node_id, goal, "at" FROM journey_goals WHERE workspace_id = ?'
        ' AND journey_id = ? AND (?::VARCHAR IS NULL OR goal = ?) AND "at" > ? AND "at" <= ?'
        ' ORDER BY "at"',
        [workspace_id, trigger.journey_id, trigger.goal, trigger.goal, lower, until],
    ).fetchall()
    return [
        LogEntry(int(contact), key("goal", run_id, node_id), at,
                 {"event": "goal_reached", "journey_id": trigger.journey_id, "run_id": run_id,
                  "goal": name, "timestamp": at.isoformat()})
        for contact, run_id, node_id, name, at in rows
    ]  # fmt: skip


Reader = Callable[[Any, str, Any, datetime, datetime], list[LogEntry]]
READERS: dict[type, Reader] = {
    SubscriptionTrigger: subscription, ListTrigger: lists, MessageTrigger: message,
    GoalTrigger: goal,
}  # fmt: skip


def first_per_key(entries: list[LogEntry]) -> list[LogEntry]:
    """Each key once, its earliest row (a re-delivered report repeats a key)."""
    out: dict[str, LogEntry] = {}
    for entry in sorted(entries, key=lambda e: e.at):
        out.setdefault(entry.key, entry)
    return list(out.values())
