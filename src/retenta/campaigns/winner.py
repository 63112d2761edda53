"""The A/B decision: read each variant's engagement, pick the winner, schedule the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from retenta.campaigns import assign
from retenta.campaigns.definition import Campaign
from retenta.campaigns.snapshot import optimal_times, pace
from retenta.campaigns.stats import Arm, Verdict, pick_winner
from retenta.storage.base import Database

# Per variant of the test sample: recipients whose send reached a provider (a `sent` event)
# and those of them with a human (not machine) click or open.
ARMS_SQL = """
SELECT r.variant,
       count(DISTINCT r.contact_id) FILTER (WHERE e.status = 'sent') AS n,
       count(DISTINCT r.contact_id) FILTER (WHERE e.status = ? AND NOT e.machine) AS x
FROM campaign_recipients r
LEFT JOIN message_events e ON e.workspace_id = r.workspace_id AND e.send_id = r.send_id
WHERE r.workspace_id = ? AND r.campaign_id = ? AND r.grp = 'test'
GROUP BY r.variant
"""
METRIC_STATUS = {"clicks": "clicked", "opens": "opened"}
# The `orders` metric: of the same sent recipients, those with an order (not cancelled or
# returned) placed since the campaign started.
ORDER_ARMS_SQL = """
WITH sent AS (
    SELECT DISTINCT r.variant, r.contact_id FROM campaign_recipients r
    JOIN message_events e ON e.workspace_id = r.workspace_id AND e.send_id = r.send_id
        AND e.status = 'sent'
    WHERE r.workspace_id = $ws AND r.campaign_id = $campaign AND r.grp = 'test'),
buyers AS (
    SELECT DISTINCT o.contact_id FROM orders o
    WHERE o.workspace_id = $ws AND o.status NOT IN ('cancelled', 'returned')
      AND o.placed_at >= (SELECT started_at FROM campaigns WHERE workspace_id = $ws
                          AND id = $campaign))
SELECT s.variant, count(*), count(b.contact_id) FROM sent s
LEFT JOIN buyers b ON b.contact_id = s.contact_id GROUP BY s.variant
"""


def arms(cur: Any, workspace_id: str, campaign_id: str, campaign: Campaign) -> list[Arm]:
    """Each variant's ``Arm(n, x)`` in variant order (zeros for a variant nobody got)."""
    assert campaign.ab_test is not None
    metric = campaign.ab_test.metric
    if metric == "orders":
        rows = cur.execute(ORDER_ARMS_SQL, {"ws": workspace_id, "campaign": campaign_id}).fetchall()
    else:
        rows = cur.execute(ARMS_SQL, [METRIC_STATUS[metric], workspace_id, campaign_id]).fetchall()
    found = {int(v): Arm(int(n), int(x)) for v, n, x in rows if v is not None}
    return [found.get(i, Arm(0, 0)) for i in range(len(campaign.messages))]


def verdict(cur: Any, workspace_id: str, campaign_id: str, campaign: Campaign) -> Verdict:
    ab = campaign.ab_test
    assert ab is not None
    return pick_winner(arms(cur, workspace_id, campaign_id, campaign), alpha=ab.alpha,
                       min_sample=ab.min_sample, fallback=ab.fallback)  # fmt: skip


def rest_schedule(cur: Any, workspace_id: str, campaign_id: str, campaign: Campaign,
                  now: datetime) -> pa.Table:  # fmt: skip
    """The due time of each of the rest once the winner is known (on a read cursor)."""
    rest = cur.execute(
        "SELECT contact_id, timezone FROM campaign_recipients WHERE workspace_id = ?"
        " AND campaign_id = ? AND grp = 'rest' ORDER BY contact_id",
        [workspace_id, campaign_id],
    ).fetchall()
    local = None
    if campaign.schedule.type == "local":
        assert campaign.schedule.time is not None
        local = (campaign.schedule.time, None)  # the next such local time after the decision
    if campaign.schedule.send_time == "optimal":  # each at their best hour after the decision
        times = optimal_times(cur, workspace_id, now, [(int(r[0]), str(r[1])) for r in rest])
    else:
        by_zone = assign.due_times(now, {str(r[1]) for r in rest}, local=local)
        times = [by_zone[str(r[1])] for r in rest]
    due = pace(cur, workspace_id, campaign, [int(r[0]) for r in rest], times)
    return pa.table(
        {"contact_id": [int(r[0]) for r in rest], "send_at": due},
        schema=pa.schema([("contact_id", pa.int64()), ("send_at", pa.timestamp("us", tz="UTC"))]),
    )


def decide(db: Database, workspace_id: str, campaign_id: str, campaign: Campaign,
           now: datetime) -> Verdict | None:  # fmt: skip
    """Pick the winner and give the rest its variant and due times: read and computed on a
    read cursor, written in one writer unit (None: another tick decided first)."""
    with db.read() as cur:
        found = verdict(cur, workspace_id, campaign_id, campaign)
        table = rest_schedule(cur, workspace_id, campaign_id, campaign, now)

    def work(conn: Any) -> bool:
        undecided = conn.execute(
            "SELECT 1 FROM campaigns WHERE workspace_id = ? AND id = ? AND decided_at IS NULL",
            [workspace_id, campaign_id],
        ).fetchall()
        if not undecided:
            return False
        conn.register("_campaign_rest", table)
        try:
            conn.execute(
                "UPDATE campaign_recipients r SET variant = ?, send_at = u.send_at"
                " FROM _campaign_rest u WHERE r.workspace_id = ? AND r.campaign_id = ?"
                " AND r.contact_id = u.contact_id AND r.grp = 'rest'",
                [found.winner, workspace_id, campaign_id],
            )
        finally:
            conn.unregister("_campaign_rest")
        conn.execute(
            "UPDATE campaigns SET winner = ?, winner_reason = ?, decided_at = ?, updated_at = ?"
            " WHERE workspace_id = ? AND id = ?",
            [found.winner, found.reason, now, now, workspace_id, campaign_id],
        )
        return True

    return found if db.write(work) else None
