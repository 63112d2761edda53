"""Consent conditions on DuckDB group the ``_consent_rows`` of one channel and topic by contact
(``arg_max(status, _last)``) instead of reading the ``consents`` view, which groups every
(contact, channel, topic) first. Members must be those of the documented view: the latest
change wins, a tie on ``changed_at`` goes to the later row, merged contacts' rows count for
the contact they were merged into, erased contacts' rows count for nobody."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.segments.compiler import compile_segment
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.segments.test_equivalence_data import (
    NOW,
    duckdb_members,
    load_duckdb,
    make_dataset,
    read_view,
)

CHANNELS = ("email", "sms")
TOPICS = ("*", "news")
STATUSES = ("subscribed", "unsubscribed", "pending")


def _history(ws: str, contacts: int) -> list[tuple[Any, ...]]:
    """0-6 changes per (contact, channel, topic); a third share their time with another."""
    rng = random.Random(11)
    rows: list[tuple[Any, ...]] = []
    for cid in range(1, contacts + 1):
        for channel in CHANNELS:
            for topic in TOPICS:
                stamps: list[Any] = []
                for _ in range(rng.randrange(0, 7)):
                    tie = stamps and rng.random() < 0.33
                    at = rng.choice(stamps) if tie else NOW - timedelta(days=rng.randrange(1, 90))
                    stamps.append(at)
                    rows.append((ws, cid, channel, topic, rng.choice(STATUSES), "test", at))
    rng.shuffle(rows)  # insertion order (the rowid) must not follow time
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str]]:
    base = tmp_path_factory.mktemp("consent-rows")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset()
    data.consents = []
    load_duckdb(container, ws, data)
    history = _history(ws, len(data.contacts))

    def work(conn: Any) -> None:
        conn.executemany(
            "INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source,"
            " changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            history,
        )
        conn.execute(  # 2 -> 3 -> 4 merged (a chain), 5 -> 6, 7 erased
            "UPDATE contacts SET merged_into = CASE id WHEN 2 THEN 3 WHEN 3 THEN 4 ELSE 6 END"
            " WHERE workspace_id = ? AND id IN (2, 3, 5)",
            [ws],
        )
        conn.execute(
            "UPDATE contacts SET erased_at = now() WHERE workspace_id = ? AND id = 7", [ws]
        )

    container.db.write(work)
    yield container, ws
    container.close()


CASES = [(c, t, s) for c in CHANNELS for t in TOPICS for s in STATUSES]


@pytest.mark.parametrize(("channel", "topic", "status"), CASES)
def test_consent_conditions_read_the_latest_change(
    store: tuple[Container, str], channel: str, topic: str, status: str
) -> None:
    container, ws = store
    state = read_view(container, ws, "SELECT contact_id, channel, topic, status FROM consents")
    expected = {
        int(r["contact_id"])
        for r in state
        if (r["channel"], r["topic"], r["status"]) == (channel, topic, status)
    }
    leaf = {"type": "consent", "channel": channel, "topic": topic, "status": status}
    compiled = compile_segment({"root": leaf}, workspace_id=ws, now=NOW)
    assert "_consent_rows" in compiled.sql
    assert duckdb_members(container, compiled.sql) == expected
    negated = compile_segment(
        {"root": {"type": "not", "condition": leaf}}, workspace_id=ws, now=NOW
    )
    live = read_view(container, ws, "SELECT contact_id FROM contacts")
    assert duckdb_members(container, negated.sql) == {int(r["contact_id"]) for r in live} - expected


def test_the_history_has_ties_merges_and_several_changes(store: tuple[Container, str]) -> None:
    """The data makes order matter: several changes of one consent, ties on the time."""
    container, ws = store
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*) FILTER (WHERE n > 1), count(*) FILTER (WHERE ties > 0) FROM ("
            " SELECT count(*) AS n, count(*) - count(DISTINCT changed_at) AS ties FROM consents"
            " WHERE workspace_id = ? GROUP BY contact_id, channel, topic)",
            [ws],
        ).fetchone()
    assert row is not None
    assert row[0] > 100
    assert row[1] > 20
    members = read_view(container, ws, "SELECT DISTINCT contact_id FROM consents")
    ids = {int(r["contact_id"]) for r in members}
    assert {2, 3, 5, 7}.isdisjoint(ids)
    assert {4, 6} <= ids
