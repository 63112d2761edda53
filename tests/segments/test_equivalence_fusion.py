"""Fused leaves (one scan per view and group) give the members of the unfused shape, the
Python reference and chdb, for groups made of leaves over one view, negated or not."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.segments.compiler import compile_segment
from tests.segments.test_equivalence import (
    MESSAGE_LEAVES,
    ORDER_LEAVES,
    SEGMENTS,
    Store,
    _members,
    event_leaf,
    store,
)
from tests.segments.test_equivalence_data import NOW, duckdb_members

__all__ = ["store"]  # the module-scoped fixture, shared


def _maybe_not(leaf: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(leaf, leaf.map(lambda c: {"type": "not", "condition": c}))


def _same_view(leaf: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, cs: {"type": kind, "conditions": cs},
        st.sampled_from(["all", "any"]),
        st.lists(_maybe_not(leaf), min_size=2, max_size=4),
    )


GROUPS = st.one_of(_same_view(event_leaf()), _same_view(ORDER_LEAVES), _same_view(MESSAGE_LEAVES))
NESTED = st.builds(
    lambda kind, a, b: {"type": kind, "conditions": [a, b]},
    st.sampled_from(["all", "any"]),
    GROUPS,
    _maybe_not(GROUPS),
)


def _fused_sql(store: Store, root: dict[str, Any], fuse: bool) -> str:
    return compile_segment(
        {"root": root}, workspace_id=store[1], now=NOW, fuse_leaves=fuse,
        resolve_segment=SEGMENTS.__getitem__,
    ).sql  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=st.one_of(GROUPS, NESTED))
def test_fused_groups_agree_everywhere(store: Store, root: dict[str, Any]) -> None:
    expected, on_duckdb, on_clickhouse = _members(store, root)
    assert on_duckdb == expected, "DuckDB (fused) differs from the reference"
    assert on_clickhouse == expected, "ClickHouse (fused) differs from the reference"
    assert duckdb_members(store[0], _fused_sql(store, root, fuse=False)) == expected


def test_two_event_leaves_of_a_group_read_the_events_once(store: Store) -> None:
    root = {
        "type": "all",
        "conditions": [
            {"type": "event", "event": "Product Viewed", "compare": {"op": "gte", "value": 2}},
            {"type": "not", "condition": {"type": "event", "event": "Order Completed"}},
        ],
    }
    fused, unfused = _fused_sql(store, root, True), _fused_sql(store, root, False)
    assert fused.count("FROM events AS t") == 1
    assert unfused.count("FROM events AS t") == 2
    expected, on_duckdb, on_clickhouse = _members(store, root)
    assert 0 < len(expected) < len(store[2].contacts)
    assert on_duckdb == on_clickhouse == expected


def test_event_leaves_of_different_groups_share_one_scan_on_duckdb(store: Store) -> None:
    root = {
        "type": "all",
        "conditions": [
            {"type": "event", "event": "Product Viewed", "compare": {"op": "gte", "value": 2}},
            {
                "type": "any",
                "conditions": [
                    {"type": "not", "condition": {"type": "event", "event": "Order Completed"}},
                    {"type": "message", "status": "opened"},
                ],
            },
        ],
    }
    fused = _fused_sql(store, root, True)
    assert fused.count("FROM events AS t") == 1
    assert "_flags_events AS MATERIALIZED" in fused
    expected, on_duckdb, on_clickhouse = _members(store, root)
    assert 0 < len(expected) < len(store[2].contacts)
    assert on_duckdb == on_clickhouse == expected
    assert duckdb_members(store[0], _fused_sql(store, root, False)) == expected
