"""Reading engagement histograms from ``message_events`` (read cursor only, never writes).

A sample is one engaged send (its first human ``opened``/``clicked`` in the lookback
window), placed at its local hour in the contact's *current* timezone — the zone a send
will be scheduled in — falling back to the workspace's ``settings.timezone``, then UTC.
Unknown zone names fall back the same way (checked against ``pg_timezone_names()``).
A contact's samples include those of contacts merged into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from retenta.sendtime.model import HOURS, Matrix

WORKSPACE_ZONE_SQL = """
SELECT z.name FROM workspaces w
JOIN pg_timezone_names() z ON z.name = json_extract_string(w.settings, '$.timezone')
WHERE w.id = ?
"""
# $ws workspace, $ids asked contacts, $zone fallback zone, $since/$until the window
CONTACT_ZONES_SQL = """
SELECT c.id, COALESCE(z.name, $zone) FROM contacts c
LEFT JOIN pg_timezone_names() z ON z.name = c.timezone
WHERE c.workspace_id = $ws AND c.id IN (SELECT unnest($ids::BIGINT[]))
"""
CONTACT_HOURS_SQL = """
WITH asked AS (SELECT unnest($ids::BIGINT[]) AS id),
owners AS (
    SELECT id AS source, id AS owner FROM asked
    UNION ALL
    SELECT c.id, c.merged_into FROM contacts c JOIN asked a ON c.merged_into = a.id
    WHERE c.workspace_id = $ws
),
firsts AS (
    SELECT o.owner, e.send_id, min(e."at") AS first_at
    FROM message_events e JOIN owners o ON o.source = e.contact_id
    WHERE e.workspace_id = $ws AND e.status IN ('opened', 'clicked') AND NOT e.machine
      AND e."at" >= $since AND e."at" < $until
    GROUP BY o.owner, e.send_id
),
zones AS ({zones})
SELECT f.owner, hour(timezone(COALESCE(z.zone, $zone), f.first_at)) AS h, count(*)
FROM firsts f LEFT JOIN zones z ON z.id = f.owner
GROUP BY ALL
"""
POPULATION_HOURS_SQL = """
WITH firsts AS (
    SELECT e.contact_id, e.send_id, min(e."at") AS first_at
    FROM message_events e
    WHERE e.workspace_id = $ws AND e.status IN ('opened', 'clicked') AND NOT e.machine
      AND e."at" >= $since AND e."at" < $until
    GROUP BY e.contact_id, e.send_id
)
SELECT hour(timezone(COALESCE(z.name, $zone), f.first_at)) AS h, count(*)
FROM firsts f
LEFT JOIN contacts c ON c.workspace_id = $ws AND c.id = f.contact_id
LEFT JOIN pg_timezone_names() z ON z.name = c.timezone
GROUP BY ALL
"""


def workspace_zone(cur: Any, workspace_id: str) -> str:
    """The workspace's ``settings.timezone`` when it names a real zone, else UTC."""
    row = cur.execute(WORKSPACE_ZONE_SQL, [workspace_id]).fetchone()
    return str(row[0]) if row else "UTC"


def contact_zones(cur: Any, workspace_id: str, contact_ids: Sequence[int], fallback: str
                  ) -> dict[int, str]:  # fmt: skip
    """Each known contact's usable zone."""
    rows = cur.execute(CONTACT_ZONES_SQL,
                       {"ws": workspace_id, "ids": list(contact_ids), "zone": fallback}
                       ).fetchall()  # fmt: skip
    return {int(r[0]): str(r[1]) for r in rows}


def contact_hours(
    cur: Any, workspace_id: str, contact_ids: Sequence[int], *, zone: str,
    since: datetime, until: datetime,
) -> Matrix:  # fmt: skip
    """An n × 24 matrix of engaged sends per local hour, one row per asked contact."""
    index = {cid: i for i, cid in enumerate(contact_ids)}
    counts = np.zeros((len(contact_ids), HOURS), dtype=np.float64)
    if not contact_ids:
        return counts
    sql = CONTACT_HOURS_SQL.format(zones=_ZONES_OF_ASKED)
    params = {"ws": workspace_id, "ids": list(index), "zone": zone, "since": since,
              "until": until}  # fmt: skip
    for owner, hour, n in cur.execute(sql, params).fetchall():
        counts[index[int(owner)], int(hour)] += n
    return counts


_ZONES_OF_ASKED = (
    "SELECT c.id, z.name AS zone FROM contacts c JOIN asked a ON a.id = c.id"
    " LEFT JOIN pg_timezone_names() z ON z.name = c.timezone WHERE c.workspace_id = $ws"
)


def population_hours(cur: Any, workspace_id: str, *, zone: str, since: datetime,
                     until: datetime) -> list[float]:  # fmt: skip
    """The workspace's engaged sends per local hour (each in its contact's zone)."""
    counts = [0.0] * HOURS
    params = {"ws": workspace_id, "zone": zone, "since": since, "until": until}
    for hour, n in cur.execute(POPULATION_HOURS_SQL, params).fetchall():
        counts[int(hour)] = float(n)
    return counts
