"""Time-driven entries: the cron schedule and the date trait (birthday ± offset).

A tick covers the window ``(position, now]`` of the journey's source: for each timezone its
contacts live in (their own, else the workspace's, else UTC; or the trigger's fixed zone) it
asks ``schedule.py`` which local occurrences fall in the window, and only then reads the
contacts concerned. An occurrence is keyed by (contact, local date and minute), so it starts
a run once even when a contact moves zone. Occurrences more than ``MAX_LATE`` old (the
server was down longer than that) are skipped, not sent late.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from retenta.journeys.entry import Entrant
from retenta.journeys.schedule import (
    cron_due,
    cron_next,
    fire_days,
    fire_next,
    occurrence_key,
    trait_date,
    usable_zone,
    world_zones,
    yearly_month_days,
    zone_classes,
)
from retenta.journeys.sources.logs import key
from retenta.journeys.store import LiveJourney
from retenta.journeys.triggers import DateTrigger, ScheduleTrigger
from retenta.segments import evaluate, members
from retenta.segments import store as segment_store

log = logging.getLogger(__name__)
MAX_LATE = timedelta(hours=6)
HORIZON = timedelta(days=7)  # next_due looks this far ahead (zones grouped over it)
ZONES_SQL = (
    "SELECT DISTINCT coalesce(timezone, '') FROM contacts WHERE workspace_id = ?"
    " AND erased_at IS NULL AND merged_into IS NULL"
)


def window_start(position: datetime, now: datetime) -> datetime:
    """Where a tick starts firing: the last position, but never more than ``MAX_LATE`` ago."""
    return max(position, now - MAX_LATE)


def next_due(trigger: ScheduleTrigger | DateTrigger, after: datetime) -> datetime:
    """The first moment after ``after`` when the trigger can fire for anyone: over every zone
    a contact can be in (or the fixed one). Until then a tick need not read anything.

    >>> t = ScheduleTrigger(type="schedule", cron="0 9 * * *", timezone="Asia/Tokyo",
    ...                     segment_id="seg_1")
    >>> next_due(t, datetime.fromisoformat("2026-05-17T00:00:00+00:00")).isoformat()
    '2026-05-18T00:00:00+00:00'
    """
    zones = world_zones() if trigger.timezone == "contact" else {trigger.timezone}
    kinds = _classes(frozenset(zones), after.date())
    if isinstance(trigger, ScheduleTrigger):
        found = min(cron_next(trigger.cron, zone, after) for zone in kinds)
    else:
        found = min(fire_next(trigger.at, zone, after) for zone in kinds)
    return min(found, after + HORIZON)


@lru_cache(maxsize=64)
def _classes(zones: frozenset[str], day: date) -> list[str]:
    """Zone groups valid for any ``after`` on ``day`` (UTC) looking ``HORIZON`` ahead."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return zone_classes(zones, start, HORIZON + timedelta(days=1))


def workspace_zone(conn: Any, workspace_id: str) -> str:
    row = conn.execute(
        "SELECT json_extract_string(settings, '$.timezone') FROM workspaces WHERE id = ?",
        [workspace_id],
    ).fetchone()
    return usable_zone(row[0] if row else None, "UTC")


def zones(conn: Any, workspace_id: str, fixed: str) -> dict[str, list[str]]:
    """Effective zone -> the stored ``contacts.timezone`` values ('' for none) that map to it;
    a fixed zone maps every contact (``["*"]``)."""
    if fixed != "contact":
        return {fixed: ["*"]}
    fallback = workspace_zone(conn, workspace_id)
    out: dict[str, list[str]] = defaultdict(list)
    for (raw,) in conn.execute(ZONES_SQL, [workspace_id]).fetchall():
        out[usable_zone(raw or None, fallback)].append(raw)
    return dict(out)


def schedule_entrants(conn: Any, workspace_id: str, journey: LiveJourney,
                      trigger: ScheduleTrigger, after: datetime, now: datetime
                      ) -> list[Entrant]:  # fmt: skip
    by_zone = zones(conn, workspace_id, trigger.timezone)
    due = {z: cron_due(trigger.cron, z, after, now) for z in by_zone}
    due = {z: occ for z, occ in due.items() if occ}
    if not due:
        return []
    zone_of = {raw: z for z, raws in by_zone.items() for raw in raws}
    out = []
    for contact, raw in audience(conn, workspace_id, trigger.segment_id, now):
        zone = zone_of.get("*") or zone_of.get(raw or "")
        for local in due.get(zone or "", ()):
            at = local.astimezone(now.tzinfo)
            out.append(Entrant(journey, contact, key("sch", contact, occurrence_key(local)), at,
                               {"event": "schedule", "occurrence": occurrence_key(local),
                                "timezone": zone, "segment_id": trigger.segment_id,
                                "timestamp": at.isoformat()}))  # fmt: skip
    return out


def audience(conn: Any, workspace_id: str, segment_id: str, now: datetime
             ) -> list[tuple[int, str | None]]:  # fmt: skip
    """The segment's current members (stored membership when current, else evaluated)."""
    seg = segment_store.get(conn, workspace_id, segment_id)
    if seg is None:
        log.warning("schedule trigger: segment %s of %s is gone", segment_id, workspace_id)
        return []
    if members.stored_is_current(conn, seg):
        sql, params = members.STORED_MEMBERS, {"ws": workspace_id, "seg": seg.id}
    else:
        sql, params = evaluate.members_sql(conn, evaluate.Draft.of(seg), now=now), {
            "ws": workspace_id}  # fmt: skip
    rows = conn.execute(
        f"SELECT m.contact_id, c.timezone FROM ({sql}) AS m JOIN contacts c"
        " ON c.workspace_id = $ws AND c.id = m.contact_id"
        " WHERE c.erased_at IS NULL AND c.merged_into IS NULL ORDER BY m.contact_id",
        params,
    ).fetchall()
    return [(int(c), tz) for c, tz in rows]


DATE_SQL = """
SELECT id FROM (
    SELECT id, coalesce(timezone, '') AS zone,
           TRY_CAST(left(json_extract_string(attributes, $path), 10) AS DATE) AS d
    FROM contacts
    WHERE workspace_id = $ws AND erased_at IS NULL AND merged_into IS NULL)
WHERE d IS NOT NULL AND (list_contains($raws, '*') OR list_contains($raws, zone))
  AND (CASE WHEN $yearly THEN list_contains($month_days, month(d) * 100 + day(d))
            ELSE d = $exact END)
ORDER BY id
"""


def date_entrants(conn: Any, workspace_id: str, journey: LiveJourney, trigger: DateTrigger,
                  after: datetime, now: datetime) -> list[Entrant]:  # fmt: skip
    out = []
    for zone, raws in zones(conn, workspace_id, trigger.timezone).items():
        for day, moment in fire_days(trigger.at, zone, after, now):
            target = trait_date(day, trigger.offset.days(), trigger.direction)
            month_days = [m * 100 + d for m, d in yearly_month_days(target)]
            rows = conn.execute(DATE_SQL, {
                "ws": workspace_id, "path": f'$."{trigger.attribute}"', "raws": raws,
                "yearly": trigger.yearly, "month_days": month_days, "exact": target,
            }).fetchall()  # fmt: skip
            context = {"event": "date", "attribute": trigger.attribute,
                       "date": target.isoformat(), "occurrence": day.isoformat(),
                       "timezone": zone, "timestamp": moment.isoformat()}  # fmt: skip
            out += [Entrant(journey, int(c), key("date", c, day.isoformat()), moment, context)
                    for (c,) in rows]  # fmt: skip
    return out
