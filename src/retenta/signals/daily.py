"""The daily pass: replenishment due, win-back due and the next best offer, per contact.

Each reads the workspace's orders (cancelled and returned ones left out; a merged-away
contact's orders count for the contact it was merged into) and asks ``rhythm`` whether
today is the day. A signal's key names the purchase it follows (the last order's time), so
one purchase cycle gives at most one signal of each kind however often the pass runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retenta.signals.emit import Signal
from retenta.signals.rhythm import DAY_S, drift, replenishment_due, winback_due
from retenta.signals.settings import SignalSettings

REPLENISHMENT_DUE = "Replenishment Due"
WINBACK_DUE = "Win-back Due"
NEXT_BEST_OFFER = "Next Best Offer"

LINES = """
lines AS (
    SELECT coalesce(k.merged_into, o.contact_id) AS contact_id, o.order_id, o.placed_at,
           i.sku, i.category
    FROM orders o
    JOIN order_items i ON i.workspace_id = o.workspace_id AND i.order_id = o.order_id
    JOIN contacts k ON k.id = o.contact_id
    WHERE o.workspace_id = $ws AND o.status NOT IN ('cancelled', 'returned')
      AND k.erased_at IS NULL AND o.placed_at <= $now
)"""

REPLENISH_SQL = f"""
WITH {LINES},
per AS (
    SELECT contact_id, sku, count(DISTINCT CAST(placed_at AS DATE)) AS n,
           epoch(min(placed_at)) AS first_s, epoch(max(placed_at)) AS last_s,
           max(placed_at) AS last_at
    FROM lines GROUP BY ALL HAVING count(DISTINCT CAST(placed_at AS DATE)) >= 2
)
SELECT per.contact_id, per.sku, per.n, per.first_s, per.last_s, per.last_at
FROM per JOIN products p ON p.workspace_id = $ws AND p.sku = per.sku
WHERE p.in_stock IS DISTINCT FROM false
"""


def replenishment(cur: Any, workspace_id: str, s: SignalSettings, now: datetime) -> list[Signal]:
    """Items a contact buys again and again (on two days at least), due again by the
    contact's own interval for that item; out-of-stock items wait for their restock."""
    rows = cur.execute(REPLENISH_SQL, {"ws": workspace_id, "now": now}).fetchall()
    now_s = now.timestamp()
    picked = []
    for contact_id, sku, n, first_s, last_s, last_at in rows:
        interval = (float(last_s) - float(first_s)) / (int(n) - 1) / DAY_S
        recency = (now_s - float(last_s)) / DAY_S
        if interval < s.min_interval_days:
            continue
        if replenishment_due(recency, interval, lead_days=s.replenish_lead_days,
                             catch_up_days=s.catch_up_days):  # fmt: skip
            picked.append((int(contact_id), str(sku), int(n), interval, last_at))
    catalog = _products(cur, workspace_id, sorted({p[1] for p in picked}))
    return [
        Signal(contact_id, REPLENISHMENT_DUE, f"{sku}@{last_at.isoformat()}", {
            **catalog.get(sku, {"sku": sku}), "purchases": n,
            "interval_days": round(interval, 1), "last_purchased_at": last_at.isoformat(),
            "products": [catalog.get(sku, {"sku": sku})]})
        for contact_id, sku, n, interval, last_at in picked
    ]  # fmt: skip


# The favourite category: the one most order lines fall in (ties: the first by name).
FAVOURITE = """
favourite AS (
    SELECT contact_id, category FROM (
        SELECT contact_id, category, count(*) AS c FROM lines
        WHERE category IS NOT NULL GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY c DESC, category) = 1
)"""

WINBACK_SQL = f"""
WITH {LINES},
{FAVOURITE},
per AS (
    SELECT contact_id, count(DISTINCT CAST(placed_at AS DATE)) AS n,
           epoch(min(placed_at)) AS first_s, epoch(max(placed_at)) AS last_s,
           max(placed_at) AS last_at
    FROM lines GROUP BY contact_id
),
peers AS (  -- people like them: the same department (the favourite category's first level)
    SELECT per.contact_id, per.n, per.first_s, per.last_s, per.last_at,
           trim(regexp_extract(f.category, '^[^/>]+')) AS department
    FROM per LEFT JOIN favourite f USING (contact_id)
),
departments AS (
    SELECT department, median((last_s - first_s) / (n - 1)) AS interval_s, count(*) AS buyers
    FROM peers WHERE n >= 2 AND department IS NOT NULL GROUP BY department
),
population AS (
    SELECT median((last_s - first_s) / (n - 1)) AS interval_s, count(*) AS buyers
    FROM per WHERE n >= 2
)
SELECT p.contact_id, p.n, p.last_at, p.last_s,
       CASE WHEN p.n >= 2 THEN (p.last_s - p.first_s) / (p.n - 1)
            WHEN d.buyers >= $min_buyers THEN d.interval_s
            WHEN population.buyers >= $min_buyers THEN population.interval_s END AS interval_s,
       CASE WHEN p.n >= 2 THEN 'contact' WHEN d.buyers >= $min_buyers THEN 'department'
            WHEN population.buyers >= $min_buyers THEN 'population' END AS source,
       p.department
FROM peers p CROSS JOIN population LEFT JOIN departments d USING (department)
"""


def winback(cur: Any, workspace_id: str, s: SignalSettings, now: datetime) -> list[Signal]:
    """Customers drifted past their usual interval between purchases by the grace (seed
    002's two metrics). One-time buyers have no interval of their own and take the median of
    the repeat buyers like them (the same favourite department), else of all repeat buyers
    (each needs ``population_min_buyers``)."""
    params = {"ws": workspace_id, "now": now, "min_buyers": s.population_min_buyers}
    now_s = now.timestamp()
    out = []
    for contact_id, n, last_at, last_s, interval_s, source, department in cur.execute(
        WINBACK_SQL, params
    ).fetchall():
        if interval_s is None or float(interval_s) / DAY_S < s.min_interval_days:
            continue
        d = drift((now_s - float(last_s)) / DAY_S, float(interval_s) / DAY_S)
        if winback_due(d, grace_days=s.winback_grace_days, catch_up_days=s.catch_up_days):
            out.append(Signal(int(contact_id), WINBACK_DUE, last_at.isoformat(), {
                "reason": "drifted", "orders": int(n), "interval_source": source,
                "department": department,
                "usual_interval_days": round(d.interval_days, 1),
                "days_since_last_order": round(d.recency_days, 1),
                "overdue_days": round(d.overdue_days, 1),
                "last_order_at": last_at.isoformat()}))  # fmt: skip
    return out


NBO_SQL = f"""
WITH {LINES},
last_orders AS (
    SELECT contact_id, max(placed_at) AS last_at FROM lines GROUP BY contact_id
    HAVING epoch($now) - epoch(max(placed_at)) >= $after_s
       AND epoch($now) - epoch(max(placed_at)) < $after_s + $catch_up_s
),
{FAVOURITE},
sellers AS (
    SELECT l.category, l.sku, count(DISTINCT l.contact_id) AS buyers FROM lines l
    JOIN products p ON p.workspace_id = $ws AND p.sku = l.sku
    WHERE l.placed_at >= $now - to_days(CAST($bestseller_days AS INTEGER))
      AND p.in_stock IS DISTINCT FROM false
    GROUP BY ALL
),
offers AS (
    SELECT f.contact_id, s.sku, s.buyers FROM favourite f
    JOIN last_orders lo ON lo.contact_id = f.contact_id
    JOIN sellers s ON s.category = f.category
    WHERE NOT EXISTS (SELECT 1 FROM lines b WHERE b.contact_id = f.contact_id AND b.sku = s.sku)
    QUALIFY row_number() OVER (PARTITION BY f.contact_id ORDER BY s.buyers DESC, s.sku) = 1
)
SELECT o.contact_id, o.sku, f.category, lo.last_at FROM offers o
JOIN favourite f USING (contact_id) JOIN last_orders lo USING (contact_id)
"""


def next_best_offer(cur: Any, workspace_id: str, s: SignalSettings, now: datetime) -> list[Signal]:
    """Some days after the last order: the best seller of the contact's favourite category
    that they have not bought yet (in stock)."""
    params = {"ws": workspace_id, "now": now, "after_s": s.nbo_after_days * DAY_S,
              "catch_up_s": s.catch_up_days * DAY_S,
              "bestseller_days": s.bestseller_days}  # fmt: skip
    rows = cur.execute(NBO_SQL, params).fetchall()
    catalog = _products(cur, workspace_id, sorted({str(r[1]) for r in rows}))
    return [
        Signal(int(contact_id), NEXT_BEST_OFFER, last_at.isoformat(), {
            **catalog.get(sku, {"sku": sku}), "favourite_category": category,
            "last_order_at": last_at.isoformat(), "products": [catalog.get(sku, {"sku": sku})]})
        for contact_id, sku, category, last_at in rows
    ]  # fmt: skip


def _products(cur: Any, workspace_id: str, skus: list[str]) -> dict[str, dict[str, Any]]:
    from retenta.signals.catalog import products

    return products(cur, workspace_id, skus) if skus else {}


def daily_signals(cur: Any, workspace_id: str, s: SignalSettings, now: datetime) -> list[Signal]:
    return [
        *replenishment(cur, workspace_id, s, now),
        *winback(cur, workspace_id, s, now),
        *next_best_offer(cur, workspace_id, s, now),
    ]
