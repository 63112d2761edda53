"""The policy of a workspace, the contacts' recent sends it counts, and the hold-back log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from retenta.policy.decide import Decision, Sent
from retenta.policy.rules import Policy
from retenta.storage.base import Database

LOOKBACK = timedelta(days=35)  # the longest window a rule may look at (a week cap + margin)


@dataclass(frozen=True, slots=True)
class Held:
    """One message the policy held back."""

    send_id: str
    contact_id: int
    channel: str
    category: str
    decision: Decision


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
        rows = cur.execute(
            """
            SELECT e.contact_id, e.channel, coalesce(any_value(s.category), 'promo'),
                   min(e."at") FILTER (WHERE e.status = 'sent') AS sent_at,
                   bool_or(e.status IN ('opened', 'clicked') AND NOT e.machine)
            FROM message_events e LEFT JOIN sends s ON s.send_id = e.send_id
            WHERE e.workspace_id = ? AND e.contact_id IN (SELECT unnest(?::BIGINT[]))
              AND e."at" >= ?
            GROUP BY e.contact_id, e.channel, e.send_id
            HAVING sent_at IS NOT NULL
            """,
            [workspace_id, ids, now - LOOKBACK],
        ).fetchall()
        out: dict[int, list[Sent]] = defaultdict(list)
        for contact, channel, category, sent_at, opened in rows:
            out[int(contact)].append(Sent(channel, category, sent_at, bool(opened)))
        return out

    @staticmethod
    def log(conn: Any, workspace_id: str, held: Sequence[Held], now: datetime) -> None:
        """Writer-side: record the held-back messages (with the rule and the reason)."""
        if not held:
            return
        conn.executemany(
            "INSERT INTO policy_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[workspace_id, h.send_id, h.contact_id, h.channel, h.category, h.decision.action,
              h.decision.rule, h.decision.reason, h.decision.until, now] for h in held],
        )  # fmt: skip

    def held(self, workspace_id: str, *, contact_id: int | None = None,
             limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
        where, args = ["workspace_id = ?"], [workspace_id]
        if contact_id is not None:
            where.append("contact_id = ?")
            args.append(str(contact_id))
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT send_id, contact_id, channel, category, action, rule, reason, until,"
                f' "at" FROM policy_log WHERE {" AND ".join(where)} ORDER BY "at" DESC LIMIT ?',
                [*args, limit],
            ).fetchall()
        names = ("send_id", "contact_id", "channel", "category", "action", "rule", "reason",
                 "until", "at")  # fmt: skip
        return [dict(zip(names, r, strict=True)) for r in rows]
