"""A provider's delivery report moves its send: ``delivered`` / ``failed`` on ``sends``.

Every report path (SMS/Viber webhooks, SMPP receipts; ``channels/sms/reports.py``) appends
its ``message_events`` and calls :func:`follow_reports` in the same writer unit, so the
ledger row and the events never disagree.

The rule (:func:`new_status`): a ``delivered`` report wins over ``sent`` and over ``failed``
(a Viber message that failed, then its SMS fallback was delivered); a ``failed`` report
(undelivered) moves only a ``sent`` send. A report may arrive while the send is still
``sending`` (an SMPP receipt can beat the dispatcher's settle); it is noted then, and the
settle keeps it (``ledger.SETTLE_SQL``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from retenta.messaging.events import MessageEvent
from retenta.messaging.outbox.ledger import KEYS, keys

REPORTED = pa.schema(
    [("workspace_id", pa.string()), ("send_id", pa.string()), ("status", pa.string())]
)
# By key: ``send_id IN (…)`` is an index scan of the primary key (ledger.KEYS). The
# workspace and the rule are a CASE so that DuckDB pushes no filter into the scan: a status
# filter (from the OR of status tests) or ``workspace_id = '…'`` (from a join condition)
# made it a scan of every send.
FOLLOW_SQL = """
UPDATE sends SET status = r.status, updated_at = ?
FROM _reported r
WHERE sends.send_id = r.send_id AND sends.send_id IN ({keys})
  AND CASE WHEN sends.workspace_id <> r.workspace_id THEN false
           WHEN r.status = 'delivered' THEN sends.status IN ('sending', 'sent', 'failed')
           WHEN r.status = 'failed' THEN sends.status IN ('sending', 'sent')
           ELSE false END
"""


def new_status(events: Sequence[MessageEvent]) -> dict[tuple[str, str], str]:
    """The status each reported send moves to: ``delivered`` beats ``failed``.

    >>> from retenta.messaging.events import SendContext
    >>> ctx = SendContext("ws", 1, "snd_a", "viber", None, "msg")
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> new_status([MessageEvent(ctx, "failed", at), MessageEvent(ctx, "delivered", at),
    ...             MessageEvent(ctx, "opened", at)])
    {('ws', 'snd_a'): 'delivered'}
    """
    out: dict[tuple[str, str], str] = {}
    for event in events:
        if event.status not in ("delivered", "failed"):
            continue
        key = (event.send.workspace_id, event.send.send_id)
        if out.get(key) != "delivered":
            out[key] = event.status
    return out


def follow_reports(conn: Any, events: Sequence[MessageEvent]) -> int:
    """Writer-side: move the sends these report events name; how many were reported."""
    moves = new_status(events)
    if not moves:
        return 0
    table = pa.table(
        {
            "workspace_id": [w for w, _ in moves],
            "send_id": [s for _, s in moves],
            "status": list(moves.values()),
        },
        schema=REPORTED,
    )
    for first in range(0, table.num_rows, KEYS):
        part = table.slice(first, KEYS)
        ids = part.column("send_id").to_pylist()
        conn.register("_reported", part)
        try:
            conn.execute(FOLLOW_SQL.format(keys=keys(len(ids))), [datetime.now(UTC), *ids])
        finally:
            conn.unregister("_reported")
    return len(moves)
