"""Journeys and their versions in DuckDB; editing one migrates its live runs (``versions.py``)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.errors import ApiError
from retenta.journeys.definition import DefinitionError, EventTrigger, Journey, parse
from retenta.journeys.stats import journey_stats
from retenta.journeys.versions import Migrate, apply_migration, check_node_map
from retenta.storage.base import Database

log = logging.getLogger(__name__)
STATUSES = ("draft", "live", "paused", "stopped")
VERSIONS_SQL = """
SELECT v.version, v.created_at,
       count(r.run_id) FILTER (WHERE r.state = 'active'), count(r.run_id),
       any_value(CASE WHEN m.to_version IS NOT NULL THEN json_object('mode', m.mode,
           'node_map', m.node_map, 'moved', m.moved, 'stayed', m.stayed, 'reasons', m.reasons,
           'at', m."at") END)
FROM journey_versions v
LEFT JOIN journey_runs r ON r.workspace_id = v.workspace_id AND r.journey_id = v.journey_id
     AND r.version = v.version
LEFT JOIN journey_migrations m ON m.workspace_id = v.workspace_id
     AND m.journey_id = v.journey_id AND m.to_version = v.version
WHERE v.workspace_id = ? AND v.journey_id = ?
GROUP BY v.version, v.created_at ORDER BY v.version DESC
"""


@dataclass(frozen=True, slots=True)
class LiveJourney:
    journey_id: str
    version: int
    definition: Journey


LIVE_REFRESH_S = 5.0  # the cached list of every live journey is read again at least this often


class JourneyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._live: dict[str, list[LiveJourney]] = {}
        self._versions: dict[tuple[str, str, int], Journey] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped after every committed change of a journey's status
        self._everywhere: tuple[int, float, list[tuple[str, LiveJourney]]] | None = None

    async def create(self, workspace_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        journey = parse(doc)
        journey_id = f"jny_{secrets.token_hex(8)}"
        now = datetime.now(UTC)

        def work(conn: Any) -> None:
            conn.execute(
                "INSERT INTO journeys VALUES (?, ?, ?, 'draft', 1, ?, ?)",
                [workspace_id, journey_id, journey.name, now, now],
            )
            _insert_version(conn, workspace_id, journey_id, 1, doc, now)

        await self.db.awrite(work)
        return self.get(workspace_id, journey_id)

    async def update(self, workspace_id: str, journey_id: str, doc: dict[str, Any],
                     migrate: Migrate | None = None) -> dict[str, Any]:  # fmt: skip
        """A new version; new runs start on it, runs in flight stay or move (``versions.py``)."""
        journey = parse(doc)
        rule = migrate or Migrate()
        now = datetime.now(UTC)

        def work(conn: Any) -> dict[str, Any]:
            version = _current_version(conn, workspace_id, journey_id) + 1
            check_node_map(
                rule.node_map, journey, self._nodes_before(conn, workspace_id, journey_id, version)
            )
            _insert_version(conn, workspace_id, journey_id, version, doc, now)
            conn.execute(
                "UPDATE journeys SET version = ?, name = ?, updated_at = ? WHERE workspace_id = ?"
                " AND id = ?",
                [version, journey.name, now, workspace_id, journey_id],
            )
            return apply_migration(conn, workspace_id, journey_id, version, journey, rule, now)

        summary = await self.db.awrite(work)
        self._forget(workspace_id)
        return {**self.get(workspace_id, journey_id), "migration": summary}

    def _nodes_before(self, conn: Any, workspace_id: str, journey_id: str, version: int
                      ) -> set[str]:  # fmt: skip
        """The node ids of every version before ``version`` (one that no longer parses: none)."""
        nodes: set[str] = set()
        for v in range(1, version):
            try:
                nodes |= {n.id for n in self.version(conn, workspace_id, journey_id, v).nodes}
            except (DefinitionError, ValueError):
                log.warning("journey %s v%s no longer parses", journey_id, v)
        return nodes

    def versions(self, workspace_id: str, journey_id: str) -> list[dict[str, Any]]:
        """Every version, newest first, with its active runs and how it migrated them."""
        self.get(workspace_id, journey_id)  # 404 when absent
        with self.db.read() as cur:
            rows = cur.execute(VERSIONS_SQL, [workspace_id, journey_id]).fetchall()
        names = ("version", "created_at", "runs_active", "runs_total", "migration")
        out = [dict(zip(names, r, strict=True)) for r in rows]
        for item in out:
            item["migration"] = orjson.loads(item["migration"]) if item["migration"] else None
        return out

    def stats(self, workspace_id: str, journey_id: str) -> dict[str, Any]:
        self.get(workspace_id, journey_id)  # 404 when absent
        with self.db.read() as cur:
            return journey_stats(cur, workspace_id, journey_id)

    def definition(self, workspace_id: str, journey_id: str, version: int) -> dict[str, Any]:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT definition, created_at FROM journey_versions WHERE workspace_id = ?"
                " AND journey_id = ? AND version = ?",
                [workspace_id, journey_id, version],
            ).fetchone()
        if row is None:
            raise ApiError(404, "not_found", f"no version {version} of this journey",
                           field="version")  # fmt: skip
        return {"version": version, "created_at": row[1], "definition": orjson.loads(row[0])}

    async def set_status(self, workspace_id: str, journey_id: str, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise ApiError(
                422, "validation_error", f"status must be one of {STATUSES}", field="status"
            )
        self.get(workspace_id, journey_id)  # 404 when absent

        def work(conn: Any) -> None:
            conn.execute(
                "UPDATE journeys SET status = ?, updated_at = ? WHERE workspace_id = ? AND id = ?",
                [status, datetime.now(UTC), workspace_id, journey_id],
            )
            if status == "stopped":
                conn.execute(
                    "UPDATE journey_runs SET state = 'stopped', finished_at = ?, wake_at = NULL"
                    " WHERE workspace_id = ? AND journey_id = ? AND state = 'active'",
                    [datetime.now(UTC), workspace_id, journey_id],
                )

        await self.db.awrite(work)
        self._forget(workspace_id)
        return self.get(workspace_id, journey_id)

    def get(self, workspace_id: str, journey_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT j.id, j.name, j.status, j.version, j.created_at, j.updated_at,"
                " v.definition FROM journeys j JOIN journey_versions v ON v.workspace_id ="
                " j.workspace_id AND v.journey_id = j.id AND v.version = j.version"
                " WHERE j.workspace_id = ? AND j.id = ?",
                [workspace_id, journey_id],
            ).fetchone()
        if row is None:
            raise ApiError(404, "not_found", "no such journey")
        names = ("id", "name", "status", "version", "created_at", "updated_at", "definition")
        out = dict(zip(names, row, strict=True))
        out["definition"] = orjson.loads(out["definition"])
        return out

    def all(self, workspace_id: str) -> list[dict[str, Any]]:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT id, name, status, version, updated_at FROM journeys WHERE workspace_id = ?"
                " ORDER BY updated_at DESC",
                [workspace_id],
            ).fetchall()
        return [dict(zip(("id", "name", "status", "version", "updated_at"), r, strict=True))
                for r in rows]  # fmt: skip

    def live(self, conn: Any, workspace_id: str) -> list[LiveJourney]:
        """The live journeys with an event trigger (cached; reloaded after any change)."""
        with self._lock:
            cached = self._live.get(workspace_id)
        if cached is not None:
            return cached
        rows = conn.execute(
            "SELECT j.id, j.version, v.definition FROM journeys j JOIN journey_versions v"
            " ON v.workspace_id = j.workspace_id AND v.journey_id = j.id AND v.version ="
            " j.version WHERE j.workspace_id = ? AND j.status = 'live'",
            [workspace_id],
        ).fetchall()
        found = []
        for jid, version, doc in rows:
            try:
                found.append(LiveJourney(jid, version, parse(orjson.loads(doc))))
            except (DefinitionError, ValueError):  # never let one stored journey stop ingestion
                log.exception("live journey %s v%s no longer parses; skipped", jid, version)
        with self._lock:
            self._live[workspace_id] = found
        return found

    def has_live(self, workspace_id: str) -> bool:
        """Whether the workspace had live journeys when last loaded (memory only, no query)."""
        with self._lock:
            return bool(self._live.get(workspace_id))

    def live_everywhere_cached(self) -> list[tuple[str, LiveJourney]]:
        """``live_everywhere``, read again only after a journey changed (every change goes
        through this store, which bumps a generation after its COMMIT) or ``LIVE_REFRESH_S``
        passed: the runner's idle ticks no longer read the journeys table each time."""
        with self._lock:
            generation, cached = self._generation, self._everywhere
        if (cached is not None and cached[0] == generation
                and time.monotonic() - cached[1] < LIVE_REFRESH_S):  # fmt: skip
            return cached[2]
        began = time.monotonic()  # the generation was taken before the read: a change
        with self.db.read() as cur:  # committed meanwhile makes the next call read again
            found = self.live_everywhere(cur)
        with self._lock:
            self._everywhere = (generation, began, found)
        return found

    def live_everywhere(self, cur: Any) -> list[tuple[str, LiveJourney]]:
        """Every live journey of every workspace (definitions cached by version)."""
        rows = cur.execute(
            "SELECT workspace_id, id, version FROM journeys WHERE status = 'live'"
        ).fetchall()
        found = []
        for ws, jid, v in rows:
            try:
                found.append((ws, LiveJourney(jid, v, self.version(cur, ws, jid, v))))
            except (DefinitionError, ValueError):  # one stored journey must not stop the rest
                log.exception("live journey %s v%s no longer parses; skipped", jid, v)
        return found

    def version(self, cur: Any, workspace_id: str, journey_id: str, version: int) -> Journey:
        key = (workspace_id, journey_id, version)
        cached = self._versions.get(key)
        if cached is None:
            row = cur.execute(
                "SELECT definition FROM journey_versions WHERE workspace_id = ? AND"
                " journey_id = ? AND version = ?",
                [workspace_id, journey_id, version],
            ).fetchone()
            cached = self._versions[key] = parse(orjson.loads(row[0]))
        return cached

    def _forget(self, workspace_id: str) -> None:
        with self._lock:
            self._live.pop(workspace_id, None)
            self._generation += 1


def event_journeys(live: list[LiveJourney]) -> dict[str, list[LiveJourney]]:
    by_event: dict[str, list[LiveJourney]] = {}
    for item in live:
        trigger = item.definition.entry.trigger
        if isinstance(trigger, EventTrigger):
            by_event.setdefault(trigger.event, []).append(item)
    return by_event


def _insert_version(conn: Any, workspace_id: str, journey_id: str, version: int,
                    doc: dict[str, Any], now: datetime) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO journey_versions VALUES (?, ?, ?, ?, ?)",
        [workspace_id, journey_id, version, orjson.dumps(doc).decode(), now],
    )


def _current_version(conn: Any, workspace_id: str, journey_id: str) -> int:
    row = conn.execute(
        "SELECT version FROM journeys WHERE workspace_id = ? AND id = ?", [workspace_id, journey_id]
    ).fetchone()
    if row is None:
        raise ApiError(404, "not_found", "no such journey")
    return int(row[0])
