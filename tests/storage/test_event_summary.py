"""The per-contact event summary stays equal to a from-scratch recompute through every move.

Random streams of appends (live ones into L0, bulk ones straight into L2), compaction
steps (flushes, L1 consolidation, L1 → L2 merges, interrupted passes) and erasures; after
each, folding ``event_summary`` must give exactly the figures recomputed from the events
of L1 ∪ L2, and the profile's reading (summary + L0) the figures of every event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.contacts.queries import event_figures
from retenta.storage.duckdb import event_summary
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor
from retenta.storage.duckdb.engine import DuckDatabase
from retenta.storage.duckdb.events import EVENT_SCHEMA, append_events

WS = "ws_a"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CompactionPolicy(
    flush_rows=8, max_flush_rows=12, step_rows=6, l1_max_runs=2, l1_merge_min_rows=20
)
EVENTS = ("Product Viewed", "Product Added", "Order Completed", None)
CATEGORIES = ("Shoes", "Bags", "", None)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDatabase]:
    database = DuckDatabase(Path(tmp_path_factory.mktemp("summary")) / "s.duckdb")
    yield database
    database.close()


def reset(conn: Any) -> None:
    tables = ("events", "events_l1", "events_l1_runs", "events_recent")
    for table in (*tables, "event_summary", "event_compaction"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("UPDATE event_tier_state SET runs = 0")


event_st = st.tuples(
    st.integers(1, 6),  # contact
    st.sampled_from(EVENTS),
    st.sampled_from(CATEGORIES),
    st.integers(0, 10_000),  # seconds after T0
)
op_st = st.one_of(
    st.tuples(st.just("append"), st.lists(event_st, min_size=1, max_size=10)),
    st.tuples(st.just("bulk"), st.lists(event_st, min_size=1, max_size=10)),
    st.tuples(st.just("compact"), st.integers(1, 4)),
    st.tuples(st.just("erase"), st.integers(1, 6)),
)


def table_of(rows: list[tuple[int, str | None, str | None, int]], seq: int) -> pa.Table:
    times = [T0 + timedelta(seconds=s) for _, _, _, s in rows]
    props = [
        orjson.dumps({"category": c} if c is not None else {"sku": "x"}).decode()
        for _, _, c, _ in rows
    ]
    return pa.table(
        {
            "workspace_id": [WS] * len(rows),
            "message_id": [f"m{seq}-{i}" for i in range(len(rows))],
            "contact_id": [c for c, _, _, _ in rows],
            "type": ["track"] * len(rows),
            "event": [e for _, e, _, _ in rows],
            "user_id": [None] * len(rows),
            "anonymous_id": [None] * len(rows),
            "timestamp": times,
            "original_timestamp": times,
            "sent_at": times,
            "received_at": times,
            "properties": props,
            "traits": [None] * len(rows),
            "context": [None] * len(rows),
            "source": ["api"] * len(rows),
        },
        schema=EVENT_SCHEMA,
    )


def apply(conn: Any, op: tuple[str, Any], seq: int) -> None:
    kind, arg = op
    if kind == "append":
        append_events(conn, table_of(arg, seq))
    elif kind == "bulk":
        append_events(conn, table_of(arg, seq), target="events")
    elif kind == "compact":
        compactor = Compactor(POLICY)
        for _ in range(arg):
            compactor.step(conn)
    else:  # erase, as contacts.privacy does: every table with the contact's rows
        for table in ("events", "events_l1", "events_l1_runs", "events_recent", "event_summary"):
            conn.execute(f"DELETE FROM {table} WHERE contact_id = ?", [arg])


def every_event_figures(conn: Any, cid: int) -> tuple[Any, dict[str, float]]:
    """The profile's figures straight from every event of every tier (the old query)."""
    rows = conn.execute(
        "SELECT properties ->> 'category', count(*) FILTER (WHERE event = 'Product Viewed'),"
        " max(timestamp) FROM all_events WHERE workspace_id = ? AND contact_id = ? GROUP BY ALL",
        [WS, cid],
    ).fetchall()
    last = max((r[2] for r in rows), default=None)
    return last, {r[0]: float(r[1]) for r in rows if r[0] is not None and r[1]}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op_st, min_size=1, max_size=14))
def test_summary_equals_a_recompute_from_scratch(db: DuckDatabase, ops: list[Any]) -> None:
    def run(conn: Any) -> None:
        reset(conn)
        for seq, op in enumerate(ops):
            apply(conn, op, seq)
            assert event_summary.folded(conn) == event_summary.figures_from_scratch(conn)
            for cid in range(1, 7):
                last, views = event_figures(conn, WS, [cid])
                assert (last, dict(views)) == every_event_figures(conn, cid)

    db.write(run)


def test_passes_fold_a_contacts_rows_into_one(db: DuckDatabase) -> None:
    def run(conn: Any) -> int:
        reset(conn)
        for seq in range(6):  # six flushes: several rows per contact
            rows = [(c, "Product Viewed", "Shoes", seq * 10 + c) for c in range(1, 5)] * 3
            append_events(conn, table_of(rows, seq))
            Compactor(POLICY).step(conn)
        compactor = Compactor(CompactionPolicy(flush_rows=1, l1_max_runs=1, l1_merge_min_rows=1))
        while compactor.step(conn) is not None:
            pass
        row = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM event_summary GROUP BY contact_id)"
        ).fetchone()
        assert event_summary.folded(conn) == event_summary.figures_from_scratch(conn)
        return int(row[0])

    assert db.write(run) == 1


def test_rebuild_equals_the_kept_summary(db: DuckDatabase) -> None:
    def run(conn: Any) -> None:
        reset(conn)
        rows = [(c, e, cat, c * 7) for c in (1, 2) for e in EVENTS for cat in CATEGORIES]
        append_events(conn, table_of(rows, 1), target="events")
        append_events(conn, table_of(rows[:5], 2))
        Compactor(POLICY).step(conn)
        kept = event_summary.folded(conn)
        event_summary.rebuild(conn)
        assert event_summary.folded(conn) == kept == event_summary.figures_from_scratch(conn)

    db.write(run)
