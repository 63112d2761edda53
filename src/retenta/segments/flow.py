"""The flow report: where the members of chosen segments at one date were at another.

Read from REALTIME's ``segment_membership`` intervals. A date is read at its end: ``t`` =
midnight UTC that starts the next day, and a contact is a member then when it entered
before ``t`` (``entered_at < t``) and had not left before it (``exited_at IS NULL OR
exited_at >= t``). Contacts in a chosen segment at either date and in
none of them at the other count under ``"none"``; a contact in two chosen segments counts in
each pair (segments may overlap).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NONE = "none"


def end_of_day(day: date) -> datetime:
    """The instant a date's membership is read at (exclusive end of the day, UTC).

    >>> end_of_day(date(2026, 11, 27)).isoformat()
    '2026-11-28T00:00:00+00:00'
    """
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


FLOW_SQL = """
WITH spans AS (
    SELECT contact_id, segment_id, entered_at, exited_at FROM segment_membership
    WHERE workspace_id = $ws AND segment_id IN (SELECT unnest($ids::VARCHAR[]))
),
at_from AS (
    SELECT DISTINCT contact_id, segment_id FROM spans
    WHERE entered_at < $t_from AND (exited_at IS NULL OR exited_at >= $t_from)
),
at_to AS (
    SELECT DISTINCT contact_id, segment_id FROM spans
    WHERE entered_at < $t_to AND (exited_at IS NULL OR exited_at >= $t_to)
),
people AS (SELECT contact_id FROM at_from UNION SELECT contact_id FROM at_to),
src AS (
    SELECT p.contact_id, coalesce(f.segment_id, 'none') AS seg
    FROM people p LEFT JOIN at_from f USING (contact_id)
),
dst AS (
    SELECT p.contact_id, coalesce(t.segment_id, 'none') AS seg
    FROM people p LEFT JOIN at_to t USING (contact_id)
)
SELECT src.seg, dst.seg, count(*) FROM src JOIN dst USING (contact_id)
GROUP BY ALL ORDER BY 3 DESC, 1, 2
"""


def flow_rows(
    cur: Any, workspace_id: str, ids: list[str], day_from: date, day_to: date
) -> list[dict[str, Any]]:
    """``[{from, to, count}]``; ``from``/``to`` are segment ids or ``"none"``."""
    rows = cur.execute(
        FLOW_SQL,
        {
            "ws": workspace_id,
            "ids": ids,
            "t_from": end_of_day(day_from),
            "t_to": end_of_day(day_to),
        },
    ).fetchall()
    return [{"from": r[0], "to": r[1], "count": int(r[2])} for r in rows]
