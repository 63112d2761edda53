"""What a campaign did: progress from its snapshot and ``message_events``, A/B results,
and the holdout comparison from ``orders`` (read-only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from retenta.campaigns import winner
from retenta.campaigns.stats import Arm, lift
from retenta.campaigns.store import CampaignRow

GROUPS_SQL = """
SELECT grp, count(*), count(queued_at) FROM campaign_recipients
WHERE workspace_id = ? AND campaign_id = ? GROUP BY grp
"""
# Distinct sends per message event status; opens and clicks by people only (machine ones
# — Apple privacy, link scanners — are counted apart).
EVENTS_SQL = """
SELECT status, count(DISTINCT send_id) FILTER (WHERE NOT machine),
       count(DISTINCT send_id) FILTER (WHERE machine)
FROM message_events WHERE workspace_id = ? AND campaign_id = ? GROUP BY status
"""
# Per group: recipients, converters and revenue from orders placed in the window.
ORDERS_SQL = """
WITH bought AS (
    SELECT contact_id, count(*) AS orders, sum(coalesce(revenue, total)) AS revenue
    FROM orders WHERE workspace_id = ? AND placed_at >= ? AND placed_at < ?
      AND status NOT IN ('cancelled', 'returned')
    GROUP BY contact_id)
SELECT r.grp, count(*), count(b.contact_id), coalesce(sum(b.orders), 0),
       coalesce(sum(b.revenue), 0)
FROM campaign_recipients r LEFT JOIN bought b ON b.contact_id = r.contact_id
WHERE r.workspace_id = ? AND r.campaign_id = ? GROUP BY r.grp
"""
EVENT_STATUSES = ("queued", "sent", "delivered", "opened", "clicked", "bounced", "failed",
                  "suppressed", "complained", "unsubscribed")  # fmt: skip
TREATED = ("send", "test", "rest")


def progress(cur: Any, row: CampaignRow) -> dict[str, Any]:
    """Audience by group, sends queued, and distinct sends per event status."""
    groups = {g: (int(n), int(q)) for g, n, q in
              cur.execute(GROUPS_SQL, [row.workspace_id, row.id]).fetchall()}  # fmt: skip
    events = {s: (int(h), int(m)) for s, h, m in
              cur.execute(EVENTS_SQL, [row.workspace_id, row.id]).fetchall()}  # fmt: skip
    out: dict[str, Any] = {
        "audience": sum(n for n, _ in groups.values()),
        "recipients": sum(groups.get(g, (0, 0))[0] for g in TREATED),
        "holdout": groups.get("holdout", (0, 0))[0],
        "global_control": groups.get("control", (0, 0))[0],
        "queued": sum(q for _, q in groups.values()),
    }
    for status in EVENT_STATUSES:
        human, machine = events.get(status, (0, 0))
        key = "in_ledger" if status == "queued" else status
        out[key] = human + (0 if status in ("opened", "clicked") else machine)
        if status in ("opened", "clicked"):
            out[f"{status}_machine"] = machine
    return out


def ab_results(cur: Any, row: CampaignRow) -> dict[str, Any] | None:
    """Each variant's rate and the leader's test against it; the decision when made."""
    ab = row.campaign.ab_test
    if ab is None:
        return None
    found = winner.verdict(cur, row.workspace_id, row.id, row.campaign)
    arms = winner.arms(cur, row.workspace_id, row.id, row.campaign)
    tests = {int(c["variant"]): c for c in found.comparisons}
    variants = [
        {"variant": chr(ord("A") + i), "index": i, "message_id": message_id, "sent": arm.n,
         ab.metric: arm.x, "rate": arm.rate,
         "z": tests[i]["z"] if i in tests else None,
         "p_value": tests[i]["p_value"] if i in tests else None}
        for i, (message_id, arm) in enumerate(zip(row.campaign.messages, arms, strict=True))
    ]  # fmt: skip
    return {
        "metric": ab.metric,
        "test": "two-proportion z-test, pooled, one-sided (leader > each other variant) "
                f"at alpha/k = {ab.alpha}/{len(arms)} (the leader is picked from the data)",
        "alpha": ab.alpha, "min_sample": ab.min_sample, "fallback": ab.fallback,
        "variants": variants, "leader": found.leader,
        "significant": found.significant, "would_pick": found.winner, "reason": found.reason,
        "winner": row.winner, "decided_reason": row.winner_reason, "decided_at": row.decided_at,
    }  # fmt: skip


def holdout(cur: Any, row: CampaignRow, days: int) -> dict[str, Any] | None:
    """Conversion and revenue of the treated (everyone assigned a message, sent or not:
    intention to treat) against the campaign's holdout and the global control group, from
    orders placed within ``days`` of the start."""
    if row.started_at is None:
        return None
    start: datetime = row.started_at
    rows = cur.execute(ORDERS_SQL, [row.workspace_id, start, start + timedelta(days=days),
                                    row.workspace_id, row.id]).fetchall()  # fmt: skip
    groups: dict[str, list[float]] = {}
    for grp, n, converters, orders, revenue in rows:
        key = "treated" if grp in TREATED else str(grp)
        acc = groups.setdefault(key, [0, 0, 0, 0.0])
        for i, value in enumerate((n, converters, orders, float(revenue))):
            acc[i] += value
    shaped = {k: _group(v) for k, v in groups.items()}
    treated = groups.get("treated", [0, 0, 0, 0.0])
    out: dict[str, Any] = {"window_days": days, "from": start,
                           "to": start + timedelta(days=days), "groups": shaped}  # fmt: skip
    for name in ("holdout", "control"):
        held = groups.get(name)
        if held and held[0] and treated[0]:
            comparison = lift(Arm(int(treated[0]), int(treated[1])),
                              Arm(int(held[0]), int(held[1])))  # fmt: skip
            per_treated = treated[3] / treated[0] - held[3] / held[0]
            comparison["revenue_per_recipient_lift"] = per_treated
            comparison["incremental_revenue"] = per_treated * treated[0]
            out[f"vs_{name}"] = comparison
    return out


def _group(acc: list[float]) -> dict[str, Any]:
    n, converters, orders, revenue = acc
    return {"recipients": int(n), "converters": int(converters), "orders": int(orders),
            "revenue": round(revenue, 2),
            "conversion_rate": converters / n if n else 0.0,
            "revenue_per_recipient": revenue / n if n else 0.0}  # fmt: skip
