"""Event conditions read through ``event_facts`` give the same members as through the JSON
events (and as the reference and chdb), and the sync check refuses a copy that lags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from retenta.app import build_container
from retenta.contacts.privacy import delete_person_rows
from retenta.segments.compiler import compile_segment
from retenta.settings import Settings
from retenta.storage.duckdb import event_facts
from tests.conftest import make_workspace
from tests.segments.reference import Reference
from tests.segments.test_equivalence import CONDITIONS, SEGMENTS, Store, event_leaf
from tests.segments.test_equivalence_data import (
    NOW,
    chdb_members,
    duckdb_members,
    load_chdb,
    load_duckdb,
    load_traits,
    make_dataset,
)

# A third of the events sit in the recent tier (L0), which the facts view reads from JSON.
TO_RECENT = "workspace_id = ? AND hash(message_id) % 3 = 0"


def _split_tiers(conn: Any, ws: str) -> None:
    conn.execute(f"INSERT INTO events_recent SELECT * FROM events WHERE {TO_RECENT}", [ws])
    conn.execute(f"DELETE FROM events WHERE {TO_RECENT}", [ws])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from chdb import session as chdb_session

    base = tmp_path_factory.mktemp("equivalence-facts")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset()
    load_duckdb(container, ws, data)
    container.db.write(lambda conn: _split_tiers(conn, ws))
    container.db.write(event_facts.rebuild)
    load_traits(container, ws, data)
    sess = chdb_session.Session(str(base / "chdb"))
    load_chdb(container, ws, sess, base / "parquet")
    yield Store((container, ws, data, sess))
    sess.close()
    container.close()


def _compiled(store: Store, root: dict[str, Any], **kwargs: Any) -> str:
    ws = store[1]
    return compile_segment(
        {"root": root}, workspace_id=ws, now=NOW, resolve_segment=SEGMENTS.__getitem__, **kwargs
    ).sql


def _agree(store: Store, root: dict[str, Any]) -> str:
    container, _, data, sess = store
    with container.db.read() as cur:
        assert event_facts.in_sync(cur)
    facts_sql = _compiled(store, root, event_facts=True)
    expected = Reference(data, NOW, SEGMENTS.__getitem__).members({"root": root})
    assert duckdb_members(container, facts_sql) == expected, "facts path differs"
    assert duckdb_members(container, _compiled(store, root)) == expected, "JSON path differs"
    chdb_sql = _compiled(store, root, dialect="clickhouse", event_facts=True)
    assert "_event_facts" not in chdb_sql
    assert chdb_members(sess, chdb_sql) == expected, "ClickHouse differs"
    return facts_sql


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=event_leaf())
def test_event_conditions_agree_through_the_facts(store: Store, leaf: dict[str, Any]) -> None:
    sql = _agree(store, leaf)
    assert "_event_facts" in sql  # the generated filters only read hot properties


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=CONDITIONS)
def test_generated_definitions_agree_with_facts(store: Store, root: dict[str, Any]) -> None:
    _agree(store, root)


@pytest.mark.parametrize(
    "root",
    [
        {"type": "event", "event": "Product Viewed", "where": [
            {"property": "url", "op": "equals", "value": "/a"}]},
        {"type": "event", "event": "Product Viewed", "per": "url"},
        {"type": "event", "event": "Product Viewed", "aggregate": {"fn": "sum", "property": "qty"},
         "compare": {"op": "gt", "value": 1}},
    ],
)  # fmt: skip
def test_a_condition_on_other_properties_reads_the_events(
    store: Store, root: dict[str, Any]
) -> None:
    sql = _compiled(store, root, event_facts=True)
    assert "_event_facts" not in sql
    assert "events AS" in sql


def test_candidates_never_read_the_facts(store: Store) -> None:
    root = {"type": "event", "event": "Product Viewed", "where": [
        {"property": "category", "op": "starts_with", "value": "Wo"}]}  # fmt: skip
    sql = _compiled(store, root, event_facts=True, candidates="cands")
    assert "_event_facts" not in sql


def test_sync_check_follows_flushes_and_erasure(tmp_path: Any) -> None:
    """A flush the copy does not mirror puts it out of sync; mirrored flushes and erasure
    (which deletes the person's copied rows too) keep it in sync; a rebuild restores it."""
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    try:
        ws = make_workspace(container).id
        data = make_dataset()
        load_duckdb(container, ws, data)

        def synced() -> bool:
            with container.db.read() as cur:
                return event_facts.in_sync(cur)

        assert not synced()  # events loaded straight into L2, copy empty
        assert container.db.write(event_facts.rebuild) == len(data.events)
        assert synced()
        container.db.write(lambda conn: _split_tiers(conn, ws))  # rows leave L2 for L0
        assert not synced()
        container.db.write(event_facts.rebuild)
        assert synced()

        def flush(conn: Any, mirror: bool) -> None:
            (bound,) = conn.execute("SELECT max(rowid) FROM events_recent").fetchone()
            if mirror:
                source = "(SELECT * FROM events_recent WHERE rowid <= ?)"
                event_facts.add_events(conn, source, [bound])
            conn.execute("INSERT INTO events_l1 SELECT * FROM events_recent WHERE rowid <= ?",
                         [bound])  # fmt: skip
            conn.execute("DELETE FROM events_recent WHERE rowid <= ?", [bound])

        container.db.write(lambda conn: flush(conn, mirror=True))
        assert synced()
        with container.db.read() as cur:
            (recent,) = cur.execute("SELECT count(*) FROM events_recent").fetchone()
        assert recent == 0
        victim = data.events[0]["contact_id"]
        container.db.write(lambda conn: delete_person_rows(conn, ws, [victim]))
        assert synced()
        with container.db.read() as cur:
            left = cur.execute(
                "SELECT count(*) FROM event_facts WHERE contact_id = ?", [victim]
            ).fetchone()
        assert left == (0,)
        container.db.write(
            lambda conn: conn.execute(
                "INSERT INTO events_recent SELECT * REPLACE ('new-1' AS message_id)"
                " FROM events_l1 LIMIT 1"
            )
        )
        assert synced()  # the copy covers L1 + L2; L0 is read as is
        container.db.write(lambda conn: flush(conn, mirror=False))
        assert not synced()
    finally:
        container.close()


def test_preview_uses_the_facts_only_in_sync(client: Any, ws: Any, container: Any) -> None:
    """The builder's preview reads the copy when it is in sync, the events otherwise."""
    body = {"kind": "rules", "definition": {"root": {"type": "event", "event": "Viewed",
            "where": [{"property": "category", "op": "equals", "value": "Shoes"}]}}}  # fmt: skip
    resp = client.post("/api/v1/segments/preview", json=body, headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    assert "_event_facts" in resp.json()["sql"]  # an empty store: copy and tiers agree
    container.db.write(
        lambda conn: conn.execute(
            "INSERT INTO event_facts (workspace_id, event, timestamp, contact_id)"
            " VALUES (?, 'Viewed', now(), 1)",
            [ws.id],
        )
    )
    resp = client.post("/api/v1/segments/preview", json=body, headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    assert "_event_facts" not in resp.json()["sql"]
    assert resp.json()["count"] == 0


@pytest.mark.parametrize("name", ["_event_facts", "event_facts"])
def test_user_sql_cannot_read_the_facts(container: Any, ws: Any, name: str) -> None:
    """The copy is the compiler's: a SQL segment naming it is refused like any unknown view."""
    from retenta.segments import sqlsegments
    from retenta.segments.sqlcheck import SqlCheckError

    with container.db.read() as cur, pytest.raises(SqlCheckError, match=name):
        sqlsegments.check(cur, ws.id, f"SELECT contact_id FROM {name}")
