"""Reading engagement histograms from ``message_events`` (read cursor only, never writes).

A sample is one engaged send (its first human ``opened``/``clicked`` in the lookback
window), placed at its local hour in the contact's *current* timezone — the zone a send
will be scheduled in — falling back to the workspace's ``settings.timezone``, then UTC.
Unknown zone names fall back the same way (checked against ``pg_timezone_names()``).
A contact's samples include those of contacts merged into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from retenta.sendtime.model import HOURS

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
WITH asked AS ({asked}),
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
SELECT f.owner AS owner, hour(timezone(COALESCE(z.zone, $zone), f.first_at)) AS h,
       count(*) AS n
FROM firsts f LEFT JOIN zones z ON z.id = f.owner
GROUP BY ALL
"""
# A few contacts (one journey run's): their own and merged-in ids read first, then their
# message events picked by a list_contains filter on the scan instead of a join to the
# asked ids (one contact: 5.4-6.6 -> 3.4-4.3 ms CPU).
FEW = 64
FEW_OWNERS_SQL = """
SELECT c.id, CASE WHEN list_contains($ids, c.id) THEN c.id ELSE c.merged_into END,
       COALESCE(z.name, $zone)
FROM contacts c LEFT JOIN pg_timezone_names() z ON z.name = c.timezone
WHERE c.workspace_id = $ws AND (list_contains($ids, c.id) OR list_contains($ids, c.merged_into))
"""
FEW_FIRSTS_SQL = """
SELECT contact_id, min("at") FROM message_events
WHERE workspace_id = $ws AND list_contains($sources, contact_id)
  AND status IN ('opened', 'clicked') AND NOT machine AND "at" >= $since AND "at" < $until
GROUP BY contact_id, send_id
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


@lru_cache(maxsize=1024)
def usable(name: str, fallback: str) -> str:
    """``name`` when Python's zone database knows it too (DuckDB's ICU list has a few
    names it lacks), else ``fallback``.

    >>> usable("Europe/Kyiv", "UTC"), usable("Mars/Base", "UTC")
    ('Europe/Kyiv', 'UTC')
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback
    return name


def workspace_zone(cur: Any, workspace_id: str) -> str:
    """The workspace's ``settings.timezone`` when it names a real zone, else UTC."""
    row = cur.execute(WORKSPACE_ZONE_SQL, [workspace_id]).fetchone()
    return usable(str(row[0]), "UTC") if row else "UTC"


def contact_zones(cur: Any, workspace_id: str, contact_ids: Sequence[int], fallback: str
                  ) -> dict[int, str]:  # fmt: skip
    """Each known contact's usable zone."""
    rows = cur.execute(CONTACT_ZONES_SQL,
                       {"ws": workspace_id, "ids": list(contact_ids), "zone": fallback}
                       ).fetchall()  # fmt: skip
    return {int(r[0]): usable(str(r[1]), fallback) for r in rows}


def contact_hours(
    cur: Any, workspace_id: str, contact_ids: Sequence[int], *, zone: str,
    since: datetime, until: datetime,
) -> npt.NDArray[np.int32]:  # fmt: skip
    """An n × 24 matrix of engaged sends per local hour, one row per asked contact (in the
    order asked; ids unique)."""
    ids = np.asarray(contact_ids, dtype=np.int64)
    counts = np.zeros((len(ids), HOURS), dtype=np.int32)
    if not len(ids):
        return counts
    params = {"ws": workspace_id, "ids": ids.tolist(), "zone": zone, "since": since,
              "until": until}  # fmt: skip
    if len(ids) <= FEW:
        return _fill(counts, ids, _few_hours(cur, params))
    sql = CONTACT_HOURS_SQL.format(asked=_ASKED, zones=_ZONES_OF_ASKED)
    return _fill(counts, ids, cur.execute(sql, params).fetchnumpy())


def _few_hours(cur: Any, params: dict[str, Any]) -> dict[str, list[int]]:
    """``{"owner", "h", "n"}`` columns for a few asked contacts (see ``FEW_OWNERS_SQL``)."""
    owners = cur.execute(FEW_OWNERS_SQL, {k: params[k] for k in ("ws", "ids", "zone")}
                         ).fetchall()  # fmt: skip
    owner_of = {int(src): int(owner) for src, owner, _ in owners}
    zone_of = {int(src): ZoneInfo(usable(str(zone), params["zone"]))
               for src, owner, zone in owners if src == owner}  # fmt: skip
    rows = cur.execute(FEW_FIRSTS_SQL, {"ws": params["ws"], "sources": list(owner_of),
                                        "since": params["since"], "until": params["until"]}
                       ).fetchall()  # fmt: skip
    out: dict[str, list[int]] = {"owner": [], "h": [], "n": []}
    fallback = ZoneInfo(params["zone"])
    for source, first_at in rows:
        owner = owner_of[int(source)]
        out["owner"].append(owner)
        out["h"].append(first_at.astimezone(zone_of.get(owner, fallback)).hour)
        out["n"].append(1)
    return out


def _fill(counts: npt.NDArray[np.int32], ids: npt.NDArray[np.int64], found: Any
          ) -> npt.NDArray[np.int32]:  # fmt: skip
    """``counts`` (rows in ``ids`` order) plus the query's (owner, hour, n) rows."""
    order = np.argsort(ids, kind="stable")
    rows = order[np.searchsorted(ids, np.asarray(found["owner"], dtype=np.int64), sorter=order)]
    np.add.at(counts, (rows, np.asarray(found["h"], dtype=np.int64)),
              np.asarray(found["n"], dtype=np.int32))  # fmt: skip
    return counts


def live_count(cur: Any, workspace_id: str) -> int:
    row = cur.execute(
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND merged_into IS NULL"
        " AND erased_at IS NULL",
        [workspace_id],
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True, slots=True)
class LiveHours:
    """Every live contact of a workspace: ids ascending, each one's zone (an index into
    ``zone_names``) and its n × 24 counts."""

    ids: npt.NDArray[np.int64]
    zones: npt.NDArray[np.int32]
    zone_names: list[str]
    counts: npt.NDArray[np.int32]


def live_contact_hours(cur: Any, workspace_id: str, *, zone: str, since: datetime,
                       until: datetime) -> LiveHours:  # fmt: skip
    live = cur.execute(LIVE_ZONES_SQL, {"ws": workspace_id, "zone": zone}).fetchnumpy()
    ids = np.asarray(live["id"], dtype=np.int64)
    names, codes = np.unique(np.asarray(live["zone"], dtype=object), return_inverse=True)
    counts = np.zeros((len(ids), HOURS), dtype=np.int32)
    sql = CONTACT_HOURS_SQL.format(asked=_LIVE, zones=_ZONES_OF_ASKED)
    params = {"ws": workspace_id, "zone": zone, "since": since, "until": until}
    found = cur.execute(sql, params).fetchnumpy()
    return LiveHours(ids, codes.astype(np.int32), [usable(str(n), zone) for n in names],
                     _fill(counts, ids, found))  # fmt: skip


_ASKED = "SELECT unnest($ids::BIGINT[]) AS id"
_LIVE = (
    "SELECT id FROM contacts WHERE workspace_id = $ws AND merged_into IS NULL AND erased_at IS NULL"
)
LIVE_ZONES_SQL = """
SELECT c.id AS id, COALESCE(z.name, $zone) AS zone FROM contacts c
LEFT JOIN pg_timezone_names() z ON z.name = c.timezone
WHERE c.workspace_id = $ws AND c.merged_into IS NULL AND c.erased_at IS NULL ORDER BY c.id
"""
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
