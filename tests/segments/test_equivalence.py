"""Generated definitions: DuckDB membership == the Python reference == chdb (ClickHouse SQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.app import Container, build_container
from retenta.segments.compiler import compile_segment
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.segments.reference import Dataset, Reference
from tests.segments.test_equivalence_data import (
    CAMPAIGNS,
    CATEGORIES,
    CITIES,
    EVENTS,
    NOW,
    SKUS,
    TAGS,
    chdb_members,
    duckdb_members,
    load_chdb,
    load_duckdb,
    load_traits,
    make_dataset,
)

SEGMENTS: dict[str, dict[str, Any]] = {
    "seg_buyers": {"root": {"type": "order", "compare": {"op": "gte", "value": 2}}},
    "seg_kyiv": {
        "root": {
            "type": "any",
            "conditions": [
                {"type": "attribute", "field": "city", "op": "equals", "value": "Kyiv"},
                {"type": "segment", "segment_id": "seg_buyers", "member": False},
            ],
        }
    },
}


class Store(tuple[Container, str, Dataset, Any]):
    """(container, workspace id, rows, chdb session), with a short repr for hypothesis."""

    def __repr__(self) -> str:
        return "<store>"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from chdb import session as chdb_session

    base = tmp_path_factory.mktemp("equivalence")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset()
    load_duckdb(container, ws, data)
    load_traits(container, ws, data)
    sess = chdb_session.Session(str(base / "chdb"))
    load_chdb(container, ws, sess, base / "parquet")
    yield Store((container, ws, data, sess))
    sess.close()
    container.close()


# ---- strategies -----------------------------------------------------------------------------

WINDOWS = st.one_of(
    st.just({"kind": "ever"}),
    st.builds(
        lambda n, u: {"kind": "last", "amount": n, "unit": u},
        st.sampled_from([1, 7, 30, 90, 400]),
        st.sampled_from(["days", "weeks", "hours"]),
    ),
    st.builds(
        lambda n: {"kind": "last", "amount": n, "unit": "months"}, st.sampled_from([1, 3, 13])
    ),
    st.just({"kind": "between", "from": "2026-03-01", "to": "2026-09-15T12:00:00Z"}),
    st.builds(lambda m: {"kind": "calendar", "month": m}, st.integers(1, 12)),
    st.just({"kind": "calendar", "month": 9, "year": 2026}),
    st.builds(
        lambda u: {"kind": "this", "unit": u}, st.sampled_from(["day", "week", "month", "year"])
    ),
    st.just({"kind": "since_first_order"}),
)

COUNTS = st.builds(
    lambda op, v: {"op": op, "value": v},
    st.sampled_from(["gte", "gt", "lt", "lte", "equals", "not_equals"]),
    st.integers(0, 4),
)
MONEY = st.builds(
    lambda op, v: {"op": op, "value": v},
    st.sampled_from(["gte", "gt", "lt", "lte"]),
    st.sampled_from([0, 100.25, 480.75, 1500.25]),
)


def _attribute(field: str, value_type: str, op: str, value: Any = None) -> dict[str, Any]:
    out = {"type": "attribute", "field": field, "value_type": value_type, "op": op}
    return out if value is None else {**out, "value": value}


ATTRIBUTES = st.one_of(
    st.builds(
        lambda op, v: _attribute("city", "text", op, v),
        st.sampled_from(
            ["equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with"]
        ),
        st.sampled_from(["Kyiv", "iv", "Lviv", "Odesa"]),
    ),
    st.builds(
        lambda op, v: _attribute("city", "text", op, v),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(CITIES), min_size=1, max_size=3),
    ),
    st.builds(lambda op: _attribute("city", "text", op), st.sampled_from(["exists", "not_exists"])),
    st.builds(
        lambda op, v: _attribute("age", "number", op, v),
        st.sampled_from(["equals", "not_equals", "gt", "gte", "lt", "lte"]),
        st.sampled_from([17, 33.5, 40]),
    ),
    st.just(_attribute("age", "number", "between", [18, 45])),
    st.builds(
        lambda op, v: _attribute("birthday", "date", op, v),
        st.sampled_from(["anniversary_in_next", "in_last"]),
        st.sampled_from([0, 7, 30, 400]),
    ),
    st.builds(
        lambda op, v: _attribute("birthday", "date", op, v),
        st.sampled_from(["before", "after", "equals"]),
        st.sampled_from(["1980-06-15", "1992-02-29"]),
    ),
    st.builds(
        lambda op, v: _attribute("last_visit", "date", op, v),
        st.sampled_from(["in_last", "in_next"]),
        st.sampled_from([3, 30]),
    ),
    st.builds(
        lambda op: _attribute("vip", "boolean", op),
        st.sampled_from(["is_true", "is_false", "exists"]),
    ),
    st.builds(
        lambda op, v: _attribute("tags", "list", op, v),
        st.sampled_from(["has_any", "has_all"]),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: _attribute("tags", "list", op, v),
        st.sampled_from(["contains", "not_contains"]),
        st.sampled_from(TAGS),
    ),
    st.just(_attribute("tags", "list", "is_empty")),
    st.builds(
        lambda v: _attribute("email", "text", "ends_with", v),
        st.sampled_from(["gmail.com", "@shop.ua"]),
    ),
    st.builds(lambda v: _attribute("language", "text", "equals", v), st.sampled_from(["uk", "en"])),
    st.builds(lambda v: _attribute("created_at", "date", "in_last", v), st.sampled_from([30, 200])),
)

EVENT_FILTERS = st.lists(
    st.one_of(
        st.builds(
            lambda op, v: {"property": "category", "op": op, "value": v},
            st.sampled_from(["equals", "not_equals", "starts_with"]),
            st.sampled_from(CATEGORIES),
        ),
        st.builds(
            lambda op, v: {"property": "price", "op": op, "value": v},
            st.sampled_from(["gt", "lte"]),
            st.sampled_from([200, 499.5]),
        ),
        st.just({"property": "price", "op": "exists"}),
    ),
    max_size=2,
)

EVENT_AGGREGATES = st.one_of(
    st.tuples(st.just({"fn": "count"}), COUNTS),
    st.tuples(st.just({"fn": "count_distinct", "property": "product_id"}), COUNTS),
    st.tuples(
        st.sampled_from([{"fn": f, "property": "price"} for f in ("sum", "avg", "min", "max")]),
        MONEY,
    ),
    st.tuples(st.sampled_from([{"fn": f, "property": "price"} for f in ("first", "last")]), MONEY),
    st.tuples(
        st.sampled_from([{"fn": f, "property": "category"} for f in ("first", "last")]),
        st.builds(
            lambda op, v: {"op": op, "value": v},
            st.sampled_from(["equals", "not_equals"]),
            st.sampled_from(CATEGORIES),
        ),
    ),
)


@st.composite
def event_leaf(draw: st.DrawFn) -> dict[str, Any]:
    agg, cmp = draw(EVENT_AGGREGATES)
    leaf = {
        "type": "event",
        "event": draw(st.sampled_from(EVENTS)),
        "where": draw(EVENT_FILTERS),
        "window": draw(WINDOWS),
        "aggregate": agg,
        "compare": cmp,
    }
    if draw(st.integers(0, 3)) == 0:
        leaf["per"] = "product_id"
        unless = draw(
            st.sampled_from(
                [
                    None,
                    {"source": "purchase", "property": "sku"},
                    {
                        "source": "event",
                        "event": "Order Completed",
                        "property": "product_id",
                        "window": {"kind": "ever"},
                    },
                ]
            )
        )
        if unless is not None:
            leaf["unless"] = unless
    return leaf


ORDER_LEAVES = st.builds(
    lambda where, window, agg_cmp: {
        "type": "order",
        "where": where,
        "window": window,
        "aggregate": agg_cmp[0],
        "compare": agg_cmp[1],
    },
    st.lists(
        st.one_of(
            st.builds(
                lambda v: {"property": "status", "op": "in", "value": v},
                st.lists(st.sampled_from(["paid", "shipped", "returned"]), min_size=1, max_size=2),
            ),
            st.builds(
                lambda v: {"property": "total", "op": "gt", "value": v},
                st.sampled_from([100, 1000]),
            ),
            st.just({"property": "coupon", "op": "exists"}),
            st.just({"property": "revenue", "op": "not_exists"}),
        ),
        max_size=2,
    ),
    WINDOWS,
    st.one_of(
        st.tuples(st.just({"fn": "count"}), COUNTS),
        st.tuples(
            st.sampled_from([{"fn": f, "property": "total"} for f in ("sum", "avg", "max")]), MONEY
        ),
        st.tuples(st.just({"fn": "sum", "property": "revenue"}), MONEY),
    ),
)

PURCHASE_LEAVES = st.builds(
    lambda where, window, agg_cmp, per: {
        "type": "purchase",
        "where": where,
        "window": window,
        "aggregate": agg_cmp[0],
        "compare": agg_cmp[1],
        **per,
    },
    st.lists(
        st.one_of(
            st.builds(
                lambda v: {"property": "category", "op": "equals", "value": v},
                st.sampled_from(CATEGORIES),
            ),
            st.builds(
                lambda v: {"property": "brand", "op": "not_equals", "value": v},
                st.sampled_from(["Acme"]),
            ),
            st.builds(
                lambda v: {"property": "sku", "op": "in", "value": v},
                st.lists(st.sampled_from(SKUS), min_size=1, max_size=3),
            ),
        ),
        max_size=2,
    ),
    WINDOWS,
    st.one_of(
        st.tuples(st.just({"fn": "count"}), COUNTS),
        st.tuples(
            st.sampled_from([{"fn": "sum", "property": p} for p in ("quantity", "revenue")]), MONEY
        ),
        st.tuples(st.just({"fn": "count_distinct", "property": "order_id"}), COUNTS),
    ),
    st.sampled_from([{}, {}, {"per": "sku"}]),
)

MESSAGE_LEAVES = st.builds(
    lambda status, which, window, machine, cmp: {
        "type": "message",
        "status": status,
        **which,
        "window": window,
        "include_machine": machine,
        "compare": cmp,
    },
    st.sampled_from(["opened", "clicked", "delivered", "bounced"]),
    st.one_of(
        st.just({}),
        st.builds(lambda t: {"tag": t}, st.sampled_from(TAGS)),
        st.builds(lambda c: {"campaign_id": c}, st.sampled_from(CAMPAIGNS)),
        st.just({"channel": "sms"}),
        st.just({"message_id": "msg-1"}),
    ),
    WINDOWS,
    st.booleans(),
    COUNTS,
)

OTHER_LEAVES = st.one_of(
    st.builds(
        lambda ch, topic, status: {
            "type": "consent",
            "channel": ch,
            "topic": topic,
            "status": status,
        },
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["*", "news"]),
        st.sampled_from(["subscribed", "unsubscribed"]),
    ),
    st.builds(
        lambda op, v: {"type": "trait", "trait": "orders", "op": op, "value": v},
        st.sampled_from(["gte", "lt", "equals"]),
        st.integers(0, 3),
    ),
    st.builds(
        lambda v: {"type": "trait", "trait": "revenue", "op": "gt", "value": v},
        st.sampled_from([0, 500.5]),
    ),
    st.builds(
        lambda v: {"type": "trait", "trait": "last_order_at", "op": "in_last", "value": v},
        st.sampled_from([30, 180]),
    ),
    st.builds(
        lambda v: {"type": "trait", "trait": "favourite_category", "op": "equals", "value": v},
        st.sampled_from(CATEGORIES),
    ),
    st.builds(
        lambda s, m: {"type": "segment", "segment_id": s, "member": m},
        st.sampled_from(sorted(SEGMENTS)),
        st.booleans(),
    ),
)

LEAVES = st.one_of(
    ATTRIBUTES, event_leaf(), ORDER_LEAVES, PURCHASE_LEAVES, MESSAGE_LEAVES, OTHER_LEAVES
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(
            lambda cs: {"type": "all", "conditions": cs}, st.lists(inner, min_size=1, max_size=3)
        ),
        st.builds(
            lambda cs: {"type": "any", "conditions": cs}, st.lists(inner, min_size=1, max_size=3)
        ),
        st.builds(lambda c: {"type": "not", "condition": c}, inner),
    ),
    max_leaves=5,
)


# ---- the property ---------------------------------------------------------------------------


def _members(
    store: Store, root: dict[str, Any], reference: bool = True
) -> tuple[set[int], set[int], set[int]]:
    container, ws, data, sess = store
    definition = {"root": root}
    compiled = {
        d: compile_segment(
            definition, workspace_id=ws, dialect=d, now=NOW, resolve_segment=SEGMENTS.__getitem__
        )
        for d in ("duckdb", "clickhouse")
    }
    expected = set()
    if reference:
        expected = Reference(data, NOW, SEGMENTS.__getitem__).members(definition)
    return (
        expected,
        duckdb_members(container, compiled["duckdb"].sql),
        chdb_members(sess, compiled["clickhouse"].sql),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=CONDITIONS)
def test_generated_definitions_agree_everywhere(store: Store, root: dict[str, Any]) -> None:
    expected, on_duckdb, on_clickhouse = _members(store, root)
    assert on_duckdb == expected, "DuckDB differs from the reference"
    assert on_clickhouse == expected, "ClickHouse differs from the reference"
    container, ws = store[0], store[1]
    other = compile_segment(
        {"root": root}, workspace_id=ws, now=NOW, shape="setops",
        resolve_segment=SEGMENTS.__getitem__,
    )  # fmt: skip
    assert duckdb_members(container, other.sql) == expected, "the setops shape differs"


@pytest.mark.parametrize(
    "root",
    [
        {"type": "order", "compare": {"op": "lt", "value": 2}},
        {
            "type": "not",
            "condition": {
                "type": "event",
                "event": "Email Opened",
                "window": {"kind": "last", "amount": 30},
            },
        },
        {
            "type": "any",
            "conditions": [
                {"type": "not", "condition": {"type": "consent", "channel": "email"}},
                {"type": "attribute", "field": "vip", "value_type": "boolean", "op": "is_true"},
            ],
        },
        {"type": "segment", "segment_id": "seg_kyiv"},
    ],
)
def test_complements_and_references_agree(store: Store, root: dict[str, Any]) -> None:
    expected, on_duckdb, on_clickhouse = _members(store, root)
    assert 0 < len(expected) < len(store[2].contacts)  # neither nobody nor everybody
    assert on_duckdb == expected
    assert on_clickhouse == expected


def test_the_dataset_exercises_every_source(store: Store) -> None:
    data = store[2]
    assert len(data.events) > 500
    assert len(data.orders) > 40
    assert len(data.messages) > 100
    assert len(data.traits) == len(data.contacts)


@pytest.mark.parametrize(
    "root",
    [
        {"type": "rfm", "cells": ["champions", "at_risk", "lost"]},
        {"type": "rfm", "r": [4, 5], "f": [2, 5]},
        {"type": "not", "condition": {"type": "rfm", "m": [1, 2]}},
    ],
)
def test_rfm_conditions_read_the_rfm_scores(store: Store, root: dict[str, Any]) -> None:
    from retenta.segments.rfm import rfm_query
    from retenta.segments.views import with_views

    container, ws, data, _ = store
    scores = with_views(rfm_query(None, "duckdb", NOW), ws, "duckdb").sql("duckdb")
    with container.db.read() as cur:
        rows = cur.execute(f"SELECT contact_id, r, f, m, cell FROM ({scores})").fetchall()
    leaf = root.get("condition", root)
    ranges = {axis: leaf.get(axis) for axis in "rfm"}
    fits = {
        cid
        for cid, *score, cell in rows
        if (not leaf.get("cells") or cell in leaf["cells"])
        and all(
            rng is None or rng[0] <= s <= rng[1]
            for s, rng in zip(score, ranges.values(), strict=True)
        )
    }
    expected = fits if root["type"] == "rfm" else {c["contact_id"] for c in data.contacts} - fits
    _, on_duckdb, on_clickhouse = _members(store, root, reference=False)
    assert 0 < len(expected) < len(data.contacts)
    assert on_duckdb == expected
    assert on_clickhouse == expected
