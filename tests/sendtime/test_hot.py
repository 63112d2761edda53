"""Busy workspaces: answers from one batch snapshot, equal to the answers computed alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retenta.app import Container
from retenta.sendtime import best_hours
from retenta.sendtime import hot as hot_module
from retenta.sendtime import store as sendtime_store
from retenta.sendtime.hot import HotAnswers, snapshot
from tests.conftest import Workspace
from tests.sendtime.helpers import add_contact, engage, local, set_workspace_zone

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def store(container: Container, ws: Workspace) -> list[int]:
    """Contacts with habits in several zones, thin ones, one without a zone, a merged pair."""
    set_workspace_zone(container, ws.id, "Europe/Kyiv")
    ids = []
    for i, (zone, hour) in enumerate(
        [
            ("UTC", 8),
            ("Asia/Tokyo", 21),
            ("America/New_York", 6),
            ("Europe/Kyiv", 19),
            (None, 13),
            ("Bad/Zone", 2),
        ]
        * 3
    ):
        cid = add_contact(container, ws.id, zone)
        days = (1, 2, 3, 4) if i % 3 else (1,)
        real = zone if zone in ("UTC", "Asia/Tokyo", "America/New_York") else "Europe/Kyiv"
        engage(container, ws.id, cid, [local(real, d, hour) for d in days])
        ids.append(cid)
    survivor, merged = ids[0], add_contact(container, ws.id, "UTC")
    engage(container, ws.id, merged, [local("UTC", d, 23) for d in (1, 2, 3, 4, 5, 6, 7)])
    container.db.write(lambda conn: conn.execute(
        "UPDATE contacts SET merged_into = ? WHERE id = ?", [survivor, merged]))  # fmt: skip
    return ids


def test_the_snapshot_answers_as_each_contact_alone(container: Container, ws: Workspace) -> None:
    ids = store(container, ws)
    with container.db.read() as cur:
        alone = best_hours(cur, ws.id, ids, now=NOW)
        found = snapshot(cur, ws.id, NOW)
    assert {c: found.get(c) for c in ids} == alone
    assert {a.source for a in alone.values()} == {"contact", "population"}
    assert len(found.ids) == len(ids)  # live contacts only: the merged one is not there


def test_a_busy_workspace_is_answered_from_memory_until_the_step_ends(
    container: Container, ws: Workspace
) -> None:
    ids = store(container, ws)
    builds: list[Any] = []

    def counting(cur: Any, workspace_id: str, now: datetime) -> Any:
        builds.append(now)
        return snapshot(cur, workspace_id, now)

    hot = HotAnswers(threshold=3, step_s=600, build=counting)
    probe = ids[1]  # Tokyo, 21 local
    with container.db.read() as cur:
        assert [hot.best_hour(cur, ws.id, probe, NOW).hour for _ in range(4)] == [21] * 4
    assert len(builds) == 1  # the third call built it, the fourth used it
    engage(container, ws.id, probe, [local("Asia/Tokyo", d, 4) for d in range(5, 20)])
    newcomer = add_contact(container, ws.id, "UTC")
    later = NOW + timedelta(minutes=5)
    with container.db.read() as cur:
        assert hot.best_hour(cur, ws.id, probe, later).hour == 21  # the snapshot's answer
        assert hot.best_hour(cur, ws.id, newcomer, later).source == "population"
        next_step = NOW + timedelta(minutes=10)
        assert hot.best_hour(cur, ws.id, probe, next_step).hour == 4  # quiet again: fresh
    assert len(builds) == 1


def test_the_few_and_the_many_paths_agree(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = store(container, ws)
    with container.db.read() as cur:
        few = best_hours(cur, ws.id, ids, now=NOW)  # up to 64 contacts: list filters
        monkeypatch.setattr(sendtime_store, "FEW", 0)
        many = best_hours(cur, ws.id, ids, now=NOW)  # the join to the asked ids
    assert few == many
    assert any(a.source == "contact" and a.timezone == "Asia/Tokyo" for a in few.values())


def test_a_large_workspace_needs_more_answers_before_a_snapshot(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = store(container, ws)  # 18 live contacts
    monkeypatch.setattr(hot_module, "CONTACTS_PER_CALL", 3)  # → 6 answers needed, not 2
    built: list[datetime] = []

    def counting(cur: Any, workspace_id: str, now: datetime) -> Any:
        built.append(now)
        return snapshot(cur, workspace_id, now)

    hot = HotAnswers(threshold=2, build=counting)
    with container.db.read() as cur:
        for calls in range(1, 8):
            hot.best_hour(cur, ws.id, ids[calls], NOW)
            assert len(built) == (1 if calls >= 6 else 0), calls
