"""Live activity counts: events, new contacts, merges and imports per minute.

Every query filters by workspace and by a time column over a bounded window
(events by ``received_at``, which rises with arrival order, so the recent tier's
zone maps skip almost everything), and answers with a handful of grouped rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from retenta.storage.base import Database

MAX_MINUTES = 24 * 60

# series -> (table, time column); the minute is an integer (epoch seconds // 60) so
# bucketing is time-zone proof.
SOURCES: dict[str, tuple[str, str]] = {
    "events": ("all_events", "received_at"),
    "contacts": ("contacts", "created_at"),
    "merges": ("merges", "merged_at"),
    "imports": ("import_jobs", "created_at"),
}


def window(now: datetime, minutes: int) -> tuple[int, int]:
    """``(first, last)`` epoch minutes of the window ending with ``now``'s minute.

    >>> window(datetime(1970, 1, 1, 0, 10, 30, tzinfo=UTC), 3)
    (8, 10)
    """
    last = int(now.timestamp()) // 60
    return last - minutes + 1, last


def fill(counts: dict[int, int], first: int, minutes: int) -> list[int]:
    """Dense per-minute list from sparse ``{minute: count}``; missing minutes are 0.

    >>> fill({5: 2, 7: 1}, 5, 4)
    [2, 0, 1, 0]
    """
    return [counts.get(first + i, 0) for i in range(minutes)]


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _per_minute(
    cur: Any, table: str, column: str, ws: str, lo: datetime, hi: datetime
) -> dict[int, int]:
    rows = cur.execute(
        f"SELECT CAST(floor(epoch({column}) / 60) AS BIGINT) AS m, count(*) FROM {table}"
        f" WHERE workspace_id = ? AND {column} >= ? AND {column} < ? GROUP BY m",
        [ws, lo, hi],
    ).fetchall()
    return {int(m): int(n) for m, n in rows}


def _import_summary(cur: Any, ws: str, lo: datetime) -> dict[str, int]:
    row = cur.execute(
        "SELECT coalesce(sum(accepted_rows), 0), coalesce(sum(rejected_rows), 0),"
        " count(*) FILTER (WHERE status IN ('queued', 'running'))"
        " FROM import_jobs WHERE workspace_id = ? AND (created_at >= ? OR status = 'running')",
        [ws, lo],
    ).fetchone()
    return {"accepted_rows": int(row[0]), "rejected_rows": int(row[1]), "running": int(row[2])}


def _dead_letters(cur: Any, ws: str, lo: datetime) -> dict[str, int]:
    """Events refused in the window, and every letter still waiting for a decision."""
    row = cur.execute(
        "SELECT count(*) FILTER (WHERE received_at >= ?), count(*) FILTER (WHERE status ="
        " 'pending') FROM dead_letters WHERE workspace_id = ?",
        [lo, ws],
    ).fetchone()
    return {"refused": int(row[0]), "pending": int(row[1])}


def _active_contacts(cur: Any, ws: str) -> int:
    row = cur.execute(
        "SELECT count(*) FROM contacts WHERE workspace_id = ?"
        " AND merged_into IS NULL AND erased_at IS NULL",
        [ws],
    ).fetchone()
    return int(row[0])


def live_stats(
    db: Database, *, workspace_id: str, minutes: int = 60, now: datetime | None = None
) -> dict[str, Any]:
    """Per-minute counts and totals for the last ``minutes`` minutes of one workspace."""
    first, last = window(now or datetime.now(UTC), minutes)
    lo = datetime.fromtimestamp(first * 60, UTC)
    hi = datetime.fromtimestamp((last + 1) * 60, UTC)
    with db.read() as cur:
        series = {
            name: fill(_per_minute(cur, table, col, workspace_id, lo, hi), first, minutes)
            for name, (table, col) in SOURCES.items()
        }
        imports = _import_summary(cur, workspace_id, lo)
        dead_letters = _dead_letters(cur, workspace_id, lo)
        contacts_total = _active_contacts(cur, workspace_id)
    return {
        "minutes": minutes,
        "since": _iso(first),
        "until": _iso(last + 1),
        "buckets": [_iso(first + i) for i in range(minutes)],
        "series": series,
        "totals": {name: sum(values) for name, values in series.items()},
        "contacts_total": contacts_total,
        "imports": imports,
        "dead_letters": dead_letters,
    }
