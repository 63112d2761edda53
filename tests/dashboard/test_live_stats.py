from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.dashboard.service import live_stats
from tests.conftest import Workspace

NOW = datetime(2026, 3, 1, 12, 30, 20, tzinfo=UTC)


def _event(c: duckdb.DuckDBPyConnection, ws: str, mid: str, at: datetime, table: str) -> None:
    c.execute(
        f"INSERT INTO {table} (workspace_id, message_id, contact_id, type, event, timestamp,"
        " received_at, source) VALUES (?, ?, 1, 'track', 'Viewed', ?, ?, 'api')",
        [ws, mid, at, at],
    )


def _contact(c: duckdb.DuckDBPyConnection, ws: str, cid: int, at: datetime, **extra: Any) -> None:
    c.execute(
        "INSERT INTO contacts (workspace_id, id, created_at, updated_at, merged_into)"
        " VALUES (?, ?, ?, ?, ?)",
        [ws, cid, at, at, extra.get("merged_into")],
    )


def seed(container: Container, ws: str, other: str) -> None:
    def work(c: duckdb.DuckDBPyConnection) -> None:
        minute = timedelta(minutes=1)
        _event(c, ws, "e1", NOW - timedelta(seconds=5), "events_recent")  # current minute
        _event(c, ws, "e2", NOW - timedelta(seconds=10), "events_recent")
        _event(c, ws, "e3", NOW - 2 * minute, "events")  # compacted tier counts too
        _event(c, ws, "e4", NOW - 61 * minute, "events_recent")  # outside the window
        _event(c, other, "x1", NOW, "events_recent")  # other workspace
        _contact(c, ws, 1, NOW - 3 * minute)
        _contact(c, ws, 2, NOW - 3 * minute, merged_into=1)
        _contact(c, ws, 3, NOW - 90 * minute)
        _contact(c, other, 4, NOW)
        c.execute(
            "INSERT INTO merges (workspace_id, merged_at, winner_id, loser_id, rule, inputs,"
            " snapshot) VALUES (?, ?, 1, 2, 'email', '{}', '{}'),"
            " (?, ?, 4, 5, 'email', '{}', '{}')",
            [ws, NOW - minute, other, NOW],
        )
        c.execute(
            "INSERT INTO import_jobs (id, workspace_id, entity, file_name, file_sha256,"
            " stored_path, mapping, status, accepted_rows, rejected_rows, created_at)"
            " VALUES ('j1', ?, 'contacts', 'a.csv', 'h', 'p', '{}', 'done', 7, 2, ?),"
            " ('j2', ?, 'contacts', 'b.csv', 'h', 'p', '{}', 'running', 1, 0, ?)",
            [ws, NOW - minute, other, NOW],
        )
        c.execute(
            "INSERT INTO dead_letters (workspace_id, received_at, endpoint, payload, errors,"
            " status) VALUES (?, ?, 'track', '{}', '[]', 'pending'),"
            " (?, ?, 'track', '{}', '[]', 'replayed'), (?, ?, 'batch', '{}', '[]', 'pending'),"
            " (?, ?, 'track', '{}', '[]', 'pending')",
            [ws, NOW - minute, ws, NOW - minute, ws, NOW - 90 * minute, other, NOW],
        )

    container.db.write(work)


def test_counts_per_minute_in_window(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    seed(container, ws.id, other_ws.id)
    stats = live_stats(container.db, workspace_id=ws.id, minutes=60, now=NOW)
    assert len(stats["buckets"]) == 60
    assert stats["buckets"][-1] == "2026-03-01T12:30:00Z"
    assert stats["since"] == "2026-03-01T11:31:00Z"
    assert stats["series"]["events"][-1] == 2
    assert stats["series"]["events"][-3] == 1
    assert stats["totals"] == {"events": 3, "contacts": 2, "merges": 1, "imports": 1}
    assert stats["series"]["contacts"][-4] == 2
    assert stats["series"]["merges"][-2] == 1
    assert stats["contacts_total"] == 2  # the merged-away contact is not counted
    assert stats["imports"] == {"accepted_rows": 7, "rejected_rows": 2, "running": 0}
    # two refused in the window; pending ones of any age still wait for a decision
    assert stats["dead_letters"] == {"refused": 2, "pending": 2}


def test_window_length_is_respected(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    seed(container, ws.id, other_ws.id)
    stats = live_stats(container.db, workspace_id=ws.id, minutes=2, now=NOW)
    assert stats["series"]["events"] == [0, 2]
    assert stats["totals"]["events"] == 2
    wide = live_stats(container.db, workspace_id=ws.id, minutes=120, now=NOW)
    assert wide["totals"]["events"] == 4
    assert wide["totals"]["contacts"] == 3


def test_endpoint_is_isolated_by_workspace(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    now = datetime.now(UTC)
    container.db.write(lambda c: _event(c, ws.id, "mine", now, "events_recent"))
    container.db.write(lambda c: _event(c, other_ws.id, "theirs1", now, "events_recent"))
    container.db.write(lambda c: _event(c, other_ws.id, "theirs2", now, "events_recent"))
    mine = client.get("/api/v1/stats/live?minutes=5", headers=ws.api_headers)
    theirs = client.get("/api/v1/stats/live", headers=other_ws.api_headers)
    assert mine.status_code == 200
    assert mine.json()["totals"]["events"] == 1
    assert len(mine.json()["series"]["events"]) == 5
    assert theirs.json()["totals"]["events"] == 2
    assert len(theirs.json()["buckets"]) == 60


def test_endpoint_validates_minutes_and_needs_credentials(
    client: TestClient, ws: Workspace
) -> None:
    bad = client.get("/api/v1/stats/live?minutes=0", headers=ws.api_headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "minutes"
    too_long = client.get("/api/v1/stats/live?minutes=100000", headers=ws.api_headers)
    assert too_long.status_code == 422
    assert client.get("/api/v1/stats/live").status_code == 401
