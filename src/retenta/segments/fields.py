"""What the segment builder's pickers list, read from the workspace's data: attribute names
with inferred types, event names with their property keys, traits, channels, RFM cells.

Sampled (recent events, a bounded number of contacts) and cached per workspace for a minute:
the lists guide the user, they are not a census.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from retenta.segments.definition_checks import TRAIT_TYPES

CACHE_S = 60.0
CONTACT_SAMPLE = 20_000
EVENT_SAMPLE = 200_000
EVENT_DAYS = 30
MAX_NAMES = 500
BUILTIN_ATTRIBUTES = [
    {"name": "email", "type": "text"},
    {"name": "phone", "type": "text"},
    {"name": "external_id", "type": "text"},
    {"name": "language", "type": "text"},
    {"name": "timezone", "type": "text"},
    {"name": "created_at", "type": "date"},
    {"name": "updated_at", "type": "date"},
    {"name": "last_seen_at", "type": "date"},
]
TRAITS = [{"name": name, "type": kind} for name, kind in TRAIT_TYPES.items()]
DEFAULT_CHANNELS = ["email", "sms", "viber", "webpush", "mobilepush"]
JSON_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "number",
    "UBIGINT": "number",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "ARRAY": "list",
    "OBJECT": "object",
}


def value_type(json_types: Counter[str], looks_like_date: bool) -> str:
    """The builder's value type from the JSON types seen for a key (the most common wins).

    >>> value_type(Counter({"VARCHAR": 3}), True), value_type(Counter({"UBIGINT": 2}), False)
    ('date', 'number')
    >>> value_type(Counter({"DOUBLE": 1, "UBIGINT": 5, "NULL": 9}), False)
    'number'
    """
    seen = Counter({k: v for k, v in json_types.items() if k != "NULL"})
    if not seen:
        return "text"
    kind = JSON_TYPES.get(seen.most_common(1)[0][0], "text")
    return "date" if kind == "text" and looks_like_date else kind


def attributes(cur: Any, workspace_id: str) -> list[dict[str, str]]:
    rows = cur.execute(
        f"""
        WITH c AS (
            SELECT attributes FROM contacts
            WHERE workspace_id = ? AND merged_into IS NULL AND erased_at IS NULL
            ORDER BY id DESC LIMIT {CONTACT_SAMPLE}
        )
        SELECT j.key, j.type, count(*) AS n,
            bool_and(j.type <> 'VARCHAR'
                OR regexp_full_match(j.value ->> '$', '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?'))
        FROM c, json_each(c.attributes) AS j
        GROUP BY ALL ORDER BY j.key
        """,
        [workspace_id],
    ).fetchall()
    by_key: dict[str, Counter[str]] = {}
    dates: dict[str, bool] = {}
    for key, jtype, n, date_like in rows:
        by_key.setdefault(key, Counter())[jtype] += int(n)
        if jtype == "VARCHAR":
            dates[key] = bool(date_like)
    builtin = {a["name"] for a in BUILTIN_ATTRIBUTES}
    found = [
        {"name": key, "type": value_type(types, dates.get(key, False))}
        for key, types in sorted(by_key.items())
        if key not in builtin
    ]
    return BUILTIN_ATTRIBUTES + found[:MAX_NAMES]


def events(cur: Any, workspace_id: str, now: datetime) -> list[dict[str, Any]]:
    """Track event names of the last 30 days (sampled), most frequent first, with property keys."""
    rows = cur.execute(
        f"""
        WITH e AS (
            SELECT event, properties FROM all_events
            WHERE workspace_id = ? AND type = 'track' AND event IS NOT NULL AND timestamp >= ?
            LIMIT {EVENT_SAMPLE}
        )
        SELECT e.event, count(*) AS n,
            list(DISTINCT j.key ORDER BY j.key) FILTER (WHERE j.key IS NOT NULL)
        FROM e LEFT JOIN LATERAL json_each(e.properties) AS j ON true
        GROUP BY e.event ORDER BY n DESC, e.event LIMIT {MAX_NAMES}
        """,
        [workspace_id, now - timedelta(days=EVENT_DAYS)],
    ).fetchall()
    return [
        {"name": name, "count": int(n), "properties": list(keys or [])} for name, n, keys in rows
    ]


def channels(cur: Any, workspace_id: str) -> list[str]:
    rows = cur.execute(
        "SELECT DISTINCT channel FROM consents WHERE workspace_id = ? ORDER BY 1", [workspace_id]
    ).fetchall()
    return sorted(set(DEFAULT_CHANNELS) | {r[0] for r in rows})


def rfm_cells() -> list[dict[str, str]]:
    """The named RFM cells (VIEWS' ``segments.rfm``) with their labels."""
    from retenta.segments.rfm import CELLS

    return [{"name": name, "label": label} for name, label in CELLS.items()]


def collect(cur: Any, workspace_id: str, now: datetime) -> dict[str, Any]:
    return {
        "attributes": attributes(cur, workspace_id),
        "events": events(cur, workspace_id, now),
        "traits": TRAITS,
        "channels": channels(cur, workspace_id),
        "rfm_cells": rfm_cells(),
    }


class FieldsCache:
    """``collect`` per workspace, kept for ``CACHE_S`` seconds."""

    def __init__(self, ttl_s: float = CACHE_S, monotonic: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, workspace_id: str, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = self.monotonic()
        with self._lock:
            hit = self._entries.get(workspace_id)
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        value = load()
        with self._lock:
            self._entries[workspace_id] = (now, value)
        return value
