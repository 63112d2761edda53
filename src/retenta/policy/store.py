"""The policy of a workspace, what its rules count (recent sends, queued higher-priority
sends, the contacts' chosen frequencies), and the hold-back log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.policy.decide import Decision, Sent
from retenta.policy.rules import LOOKBACK, Policy
from retenta.storage.base import Database

__all__ = ["LOOKBACK", "Held", "Pending", "PolicyStore"]

HELD_COLUMNS = ("send_id", "contact_id", "channel", "category", "action", "rule", "reason",
                "until", "at", "priority", "displaced_by")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Held:
    """One message the policy held back."""

    send_id: str
    contact_id: int
    channel: str
    category: str
    decision: Decision
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A queued send due soon: it may have first claim on a slot (pre-emption)."""

    send_id: str
    contact_id: int
    channel: str
    category: str
    source_id: str | None  # the campaign or journey it belongs to
    due: datetime


# The recent sends' events of a batch's contacts; their categories are then read from the
# ledger by key (an index scan): a join with ``sends`` read the whole ledger on every
# dispatcher round the policy has rules for.
HISTORY_SQL = """
SELECT contact_id, channel, send_id,
       min("at") FILTER (WHERE status = 'sent') AS sent_at,
       bool_or(status IN ('opened', 'clicked') AND NOT machine)
FROM message_events
WHERE workspace_id = ? AND contact_id IN (SELECT unnest(?::BIGINT[])) AND "at" >= ?
GROUP BY contact_id, channel, send_id
HAVING sent_at IS NOT NULL
"""
KEYS = 1000  # send ids per ``IN (?, …)`` list


def _categories(cur: Any, send_ids: Sequence[str]) -> dict[str, str]:
    """Each known send's category, by key (``send_id IN (?, …)`` alone is an index scan)."""
    ids = sorted(set(send_ids))
    out: dict[str, str] = {}
    for start in range(0, len(ids), KEYS):
        part = ids[start : start + KEYS]
        sql = f"SELECT send_id, category FROM sends WHERE send_id IN ({', '.join('?' * len(part))})"
        out.update(cur.execute(sql, part).fetchall())
    return out


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, workspace_id: str) -> Policy:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT policy FROM contact_policy WHERE workspace_id = ?", [workspace_id]
            ).fetchone()
        return Policy.model_validate(orjson.loads(row[0])) if row else Policy()

    async def put(self, workspace_id: str, policy: Policy) -> None:
        doc = policy.model_dump_json()
        await self.db.awrite(
            lambda conn: conn.execute(
                "INSERT INTO contact_policy VALUES (?, ?, ?) ON CONFLICT (workspace_id)"
                " DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
                [workspace_id, doc, datetime.now(UTC)],
            )
        )

    def history(self, cur: Any, workspace_id: str, contact_ids: Iterable[int], *,
                now: datetime) -> dict[int, list[Sent]]:  # fmt: skip
        """Each contact's sends of the last ``LOOKBACK``, with whether a person opened them."""
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        rows = cur.execute(HISTORY_SQL, [workspace_id, ids, now - LOOKBACK]).fetchall()
        category = _categories(cur, [row[2] for row in rows])
        out: dict[int, list[Sent]] = defaultdict(list)
        for contact, channel, send_id, sent_at, opened in rows:
            sent = Sent(channel, category.get(send_id, "promo"), sent_at, bool(opened))
            out[int(contact)].append(sent)
        return out

    @staticmethod
    def frequencies(cur: Any, workspace_id: str, contact_ids: Iterable[int]) -> dict[int, str]:
        """The frequency each contact chose in the preference centre, where not ``any``."""
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        rows = cur.execute(
            "SELECT contact_id, frequency FROM contact_preferences WHERE workspace_id = ?"
            " AND contact_id IN (SELECT unnest(?::BIGINT[])) AND frequency <> 'any'",
            [workspace_id, ids],
        ).fetchall()
        return {int(contact): str(frequency) for contact, frequency in rows}

    @staticmethod
    def pending(cur: Any, workspace_id: str, contact_ids: Iterable[int], *,
                until: datetime) -> list[Pending]:  # fmt: skip
        """Queued sends of these contacts due by ``until`` (deferred ones included), any
        channel: a cross-channel limit counts them all."""
        ids = sorted(set(contact_ids))
        if not ids:
            return []
        rows = cur.execute(
            "SELECT send_id, contact_id, channel, category, campaign_id, next_attempt_at"
            " FROM sends WHERE workspace_id = ? AND status = 'queued'"
            " AND contact_id IN (SELECT unnest(?::BIGINT[])) AND next_attempt_at <= ?"
            " AND category <> 'transactional'",
            [workspace_id, ids, until],
        ).fetchall()
        return [Pending(r[0], int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    @staticmethod
    def log(conn: Any, workspace_id: str, held: Sequence[Held], now: datetime) -> None:
        """Writer-side: record the held-back messages (with the rule and the reason)."""
        if not held:
            return
        row = "(" + ", ".join("?" * 12) + ")"  # one statement: executemany is ~1 ms a row
        conn.execute(
            "INSERT INTO policy_log (workspace_id, send_id, contact_id, channel, category,"
            ' action, rule, reason, until, "at", priority, displaced_by) VALUES '
            + ", ".join([row] * len(held)),
            [value for h in held for value in (
                workspace_id, h.send_id, h.contact_id, h.channel, h.category, h.decision.action,
                h.decision.rule, h.decision.reason, h.decision.until, now, h.priority,
                h.decision.displaced_by)],
        )  # fmt: skip

    def held(self, workspace_id: str, *, contact_id: int | None = None,
             limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
        where, args = ["workspace_id = ?"], [workspace_id]
        if contact_id is not None:
            where.append("contact_id = ?")
            args.append(str(contact_id))
        columns = ", ".join(f'"{name}"' for name in HELD_COLUMNS)
        with self.db.read() as cur:
            rows = cur.execute(
                f"SELECT {columns} FROM policy_log WHERE {' AND '.join(where)}"
                ' ORDER BY "at" DESC, send_id LIMIT ?',
                [*args, limit],
            ).fetchall()
        return [dict(zip(HELD_COLUMNS, r, strict=True)) for r in rows]
