"""The send-time gate: who of a batch may be sent to, read in two set-based queries.

Current consent comes from the segments' ``consents`` view (latest change per contact,
channel and topic, merged contacts followed); suppressions from the suppression list.
Each recipient gets a :class:`~retenta.messaging.consent.Decision`; the blocked ones become
``suppressed`` message events and never reach a channel (``dispatch.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlglot

from retenta.messaging.consent import Decision, may_send
from retenta.messaging.email.mime import Category, Recipient
from retenta.messaging.suppression import Kind, SuppressionStore, reasons_for
from retenta.segments.views import with_views
from retenta.storage.base import Database

CONSENTS_SQL = (
    "WITH _gate_candidates AS (SELECT unnest(CAST(? AS BIGINT[])) AS contact_id)"
    " SELECT contact_id, channel, topic, status FROM consents"
    " WHERE channel = 'CHANNEL' AND contact_id IN (SELECT contact_id FROM _gate_candidates)"
)


def current_consents(
    cur: Any, workspace_id: str, contact_ids: Sequence[int], channel: str
) -> dict[int, dict[tuple[str, str], str]]:
    """``{contact: {(channel, topic): status}}`` for the contacts on ``channel``."""
    if not contact_ids:
        return {}
    query = sqlglot.parse_one(CONSENTS_SQL, read="duckdb")
    assert isinstance(query, sqlglot.exp.Query)
    placeholder = query.find(sqlglot.exp.Literal)
    assert placeholder is not None
    placeholder.replace(sqlglot.exp.Literal.string(channel))  # an AST literal, never spliced
    sql = with_views(query, workspace_id, "duckdb", candidates="_gate_candidates").sql("duckdb")
    rows = cur.execute(sql, [list(contact_ids)]).fetchall()  # ids bound, not registered
    state: dict[int, dict[tuple[str, str], str]] = defaultdict(dict)
    for contact_id, row_channel, topic, status in rows:
        state[int(contact_id)][(row_channel, topic)] = status
    return state


class SendGate:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.suppressions = SuppressionStore(db)

    def check(
        self,
        workspace_id: str,
        recipients: Sequence[Recipient],
        *,
        channel: str = "email",
        topic: str | None = None,
        category: Category = Category.MARKETING,
        kind: Kind = "email",
    ) -> list[Decision]:
        """One decision per recipient, in order."""
        with self.db.read() as cur:
            consents = current_consents(
                cur, workspace_id, sorted({r.contact_id for r in recipients}), channel
            )
            suppressed = reasons_for(cur, workspace_id, kind, {r.address for r in recipients})
        return [
            may_send(
                consents.get(r.contact_id, {}),
                channel=channel,
                topic=topic,
                category=category,
                suppression=suppressed.get(r.address),
            )
            for r in recipients
        ]
