"""The compiler on a hand-made store: the issue's must-work examples, reasons, candidates,
references and cycles, params, and values that try to escape their literal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retenta.app import Container
from retenta.segments.compiler import CompileError, compile_reasons, compile_segment, count_sql
from retenta.segments.definition import DefinitionError
from tests.conftest import Workspace
from tests.segments.reference import Dataset
from tests.segments.test_equivalence_data import duckdb_members, load_duckdb

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday: "this week" began Monday 23rd


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _contact(cid: int, **attributes: Any) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "created_at": ago(400),
        "email": f"c{cid}@x.ua",
        "language": "uk",
        "attributes": attributes,
    }


def _message(cid: int, n: int, status: str, tag: str, at: datetime) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "send_id": f"s{cid}-{n}",
        "channel": "email",
        "campaign_id": tag,
        "message_id": tag,
        "tags": [tag],
        "status": status,
        "at": at,
        "machine": False,
        "properties": {},
    }


def _view(cid: int, n: int, sku: str, days: float) -> dict[str, Any]:
    return {
        "contact_id": cid,
        "message_id": f"v{cid}-{n}",
        "event": "Product Viewed",
        "timestamp": ago(days),
        "properties": {"product_id": sku},
    }


def _order(cid: int, oid: str, total: float, days: float, sku: str = "P9") -> list[dict[str, Any]]:
    order = {
        "contact_id": cid,
        "order_id": oid,
        "status": "paid",
        "channel": "online",
        "total": total,
        "revenue": total,
        "coupon": None,
        "placed_at": ago(days),
    }
    item = {
        "order_id": oid,
        "line_no": 1,
        "sku": sku,
        "name": sku,
        "category": "Shoes",
        "brand": "Acme",
        "quantity": 1,
        "price": total,
        "returned_quantity": 0,
    }
    return [order, item]


def store() -> Dataset:
    data = Dataset()
    data.contacts = [
        _contact(1, birthday="1990-12-01", city="O'Brien"),
        _contact(2, birthday="1990-12-06"),
        _contact(3, birthday="1990-11-28"),
        _contact(4),
        _contact(5),
        _contact(6),
    ]
    sept, aug, octo = (
        datetime(2026, 9, 10, tzinfo=UTC),
        datetime(2026, 8, 10, tzinfo=UTC),
        datetime(2026, 10, 3, tzinfo=UTC),
    )
    data.messages = [
        _message(1, 1, "opened", "blog-update", sept),  # in
        _message(2, 1, "opened", "blog-update", sept),
        _message(2, 2, "delivered", "promo", sept),
        _message(3, 1, "opened", "blog-update", octo),  # wrong month
        _message(4, 1, "opened", "blog-update", sept),
        _message(4, 2, "delivered", "promo", aug),
    ]
    orders = [
        *_order(1, "o1", 1500, 10),
        *_order(1, "o2", 1200, 80),  # two big ones: in
        *_order(2, "o3", 1500, 10),
        *_order(2, "o4", 900, 20),  # one too small
        *_order(3, "o5", 1500, 10),
        *_order(3, "o6", 1500, 100),  # one too old
        *_order(6, "o7", 50, 2, sku="P1"),  # bought the viewed product
        *_order(5, "o8", 50, 2, sku="P2"),  # bought another one
    ]
    data.orders = [r for r in orders if "placed_at" in r]
    data.items = [r for r in orders if "line_no" in r]
    data.events = [
        *(_view(4, n, "P1", 1 + n) for n in range(3)),  # 3 views this week (Mon 23rd on)
        *(_view(6, n, "P1", 1 + n) for n in range(3)),  # …but bought it
        *(_view(5, n, "P1", 1 + n) for n in range(3)),  # bought something else: in
        _view(1, 1, "P1", 1),
        _view(1, 2, "P1", 2),
        _view(1, 3, "P2", 3),  # not the same
        *(_view(2, n, "P1", 6 + n) for n in range(3)),  # last week
    ]
    return data


@pytest.fixture
def ws_store(container: Container, ws: Workspace) -> tuple[Container, str]:
    load_duckdb(container, ws.id, store())
    return container, ws.id


def members(ws_store: tuple[Container, str], root: dict[str, Any], **kw: Any) -> set[int]:
    container, ws = ws_store
    compiled = compile_segment(
        {"root": root, **kw.pop("extra", {})}, workspace_id=ws, now=NOW, **kw
    )
    return duckdb_members(container, compiled.sql)


BLOG_NOT_PROMO = {
    "type": "all",
    "conditions": [
        {
            "type": "message",
            "status": "opened",
            "tag": "blog-update",
            "window": {"kind": "calendar", "month": 9},
        },
        {
            "type": "not",
            "condition": {
                "type": "message",
                "status": "delivered",
                "tag": "promo",
                "window": {"kind": "calendar", "month": 9},
            },
        },
    ],
}
BIG_ORDERS = {
    "type": "order",
    "where": [{"property": "total", "op": "gt", "value": 1000}],
    "window": {"kind": "last", "amount": 90, "unit": "days"},
    "compare": {"op": "gte", "value": 2},
}
VIEWED_NOT_BOUGHT = {
    "type": "event",
    "event": "Product Viewed",
    "per": "product_id",
    "window": {"kind": "this", "unit": "week"},
    "compare": {"op": "gte", "value": 3},
    "unless": {"source": "purchase", "property": "sku"},
}
BIRTHDAY = {
    "type": "attribute",
    "field": "birthday",
    "value_type": "date",
    "op": "anniversary_in_next",
    "value": 7,
}


@pytest.mark.parametrize(
    ("root", "expected"),
    [(BLOG_NOT_PROMO, {1, 4}), (BIG_ORDERS, {1}), (VIEWED_NOT_BOUGHT, {4, 5}), (BIRTHDAY, {1, 3})],
    ids=[
        "blog-not-promo-in-september",
        "two-orders-over-1000",
        "viewed-same-not-bought",
        "birthday",
    ],
)
def test_must_work_examples(
    ws_store: tuple[Container, str], root: dict[str, Any], expected: set[int]
) -> None:
    assert members(ws_store, root) == expected


def test_zero_satisfied_comparisons_include_contacts_without_rows(
    ws_store: tuple[Container, str],
) -> None:
    few = {"type": "order", "compare": {"op": "lt", "value": 2}}
    assert members(ws_store, few) == {4, 5, 6}
    setops = compile_segment({"root": few}, workspace_id="w", now=NOW, shape="setops").sql
    assert "EXCEPT" in setops
    semijoin = compile_segment({"root": few}, workspace_id="w", now=NOW).sql
    assert 'NOT "t"."contact_id" IN (SELECT "t"."contact_id" FROM orders' in semijoin


def test_candidates_restrict_every_scan(ws_store: tuple[Container, str]) -> None:
    container, ws = ws_store
    container.db.write(
        lambda c: c.execute("CREATE TABLE picked AS SELECT 1 AS contact_id UNION ALL SELECT 5")
    )
    root = {
        "type": "any",
        "conditions": [BIG_ORDERS, VIEWED_NOT_BOUGHT, {"type": "not", "condition": BIRTHDAY}],
    }
    compiled = compile_segment({"root": root}, workspace_id=ws, now=NOW, candidates="picked")
    assert duckdb_members(container, compiled.sql) == {1, 5}
    assert compiled.sql.count("_candidates") >= 4  # the CTE and one restriction per scan


def test_reasons_say_which_leaf_matched_and_what_it_saw(ws_store: tuple[Container, str]) -> None:
    container, ws = ws_store
    compiled = compile_reasons(
        {"root": {"type": "all", "conditions": [BIG_ORDERS, BIRTHDAY]}},
        workspace_id=ws,
        now=NOW,
        contact_ids=[1, 2, 999],
    )
    with container.db.read() as cur:
        rows = cur.execute(compiled.sql).fetchall()
    assert rows == [
        (1, "root.conditions[0]", True, "2"),
        (1, "root.conditions[1]", True, "1990-12-01"),
        (2, "root.conditions[0]", False, "1"),
        (2, "root.conditions[1]", False, "1990-12-06"),
    ]


def test_segment_references_inline_and_cycles_are_rejected(ws_store: tuple[Container, str]) -> None:
    library = {
        "big": {"root": BIG_ORDERS},
        "a": {"root": {"type": "segment", "segment_id": "b"}},
        "b": {
            "root": {
                "type": "all",
                "conditions": [BIRTHDAY, {"type": "segment", "segment_id": "a"}],
            }
        },
    }
    resolve = library.__getitem__
    root = {"type": "segment", "segment_id": "big", "member": False}
    assert members(ws_store, root, resolve_segment=resolve) == {2, 3, 4, 5, 6}
    with pytest.raises(CompileError) as info:
        compile_segment(
            {
                "root": {
                    "type": "any",
                    "conditions": [BIRTHDAY, {"type": "segment", "segment_id": "a"}],
                }
            },
            workspace_id="w",
            now=NOW,
            resolve_segment=resolve,
        )
    assert info.value.errors == [
        {
            "path": "root.conditions[1].segment_id",
            "reason": "segments refer to each other: a → b → a",
        }
    ]
    with pytest.raises(CompileError, match="no segment 'zz'"):
        compile_segment(
            {"root": {"type": "segment", "segment_id": "zz"}},
            workspace_id="w",
            now=NOW,
            resolve_segment=resolve,
        )


def test_params_are_bound_at_compile_time(ws_store: tuple[Container, str]) -> None:
    extra = {"params": {"n": {"type": "number", "default": 2}, "over": {"type": "number"}}}
    root = {
        **BIG_ORDERS,
        "where": [{"property": "total", "op": "gt", "value": "@over"}],
        "compare": {"op": "gte", "value": "@n"},
    }
    assert members(ws_store, root, extra=extra, params={"over": 1000}) == {1}
    assert members(ws_store, root, extra=extra, params={"over": 800}) == {1, 2}
    assert members(ws_store, root, extra=extra, params={"over": 800, "n": 1}) == {1, 2, 3}
    with pytest.raises(DefinitionError, match="@over has no value"):
        members(ws_store, root, extra=extra)


def test_values_never_leave_their_literal(ws_store: tuple[Container, str]) -> None:
    sneaky = "x' OR 1=1 --"
    root = {"type": "attribute", "field": "city", "op": "equals", "value": sneaky}
    assert members(ws_store, root) == set()
    assert members(ws_store, {**root, "value": "O'Brien"}) == {1}
    for dialect in ("duckdb", "clickhouse"):
        sql = compile_segment({"root": root}, workspace_id="w", now=NOW, dialect=dialect).sql
        assert "'x'' OR 1=1 --'" in sql or "'x\\' OR 1=1 --'" in sql


def test_count_and_the_clickhouse_text(ws_store: tuple[Container, str]) -> None:
    container, ws = ws_store
    compiled = compile_segment({"root": VIEWED_NOT_BOUGHT}, workspace_id=ws, now=NOW)
    with container.db.read() as cur:
        assert cur.execute(count_sql(compiled)).fetchone() == (2,)
    ch = compile_segment(
        {"root": VIEWED_NOT_BOUGHT}, workspace_id=ws, now=NOW, dialect="clickhouse"
    ).sql
    for part in (
        "JSONExtract(",
        "toDateTime64('2026-11-23 00:00:00.000000', 6, 'UTC')",
        "EXCEPT DISTINCT",
        "events_all",
    ):
        assert part in ch


def test_semijoin_shape_gives_the_same_members(ws_store: tuple[Container, str]) -> None:
    root = {
        "type": "all",
        "conditions": [
            {"type": "not", "condition": BIRTHDAY},
            BIG_ORDERS,
            {"type": "any", "conditions": [BLOG_NOT_PROMO, VIEWED_NOT_BOUGHT]},
        ],
    }
    for shape in ("setops", "semijoin"):
        assert members(ws_store, {"type": "not", "condition": root}, shape=shape) == {
            1,
            2,
            3,
            4,
            5,
            6,
        }
    wide = {"type": "any", "conditions": [BLOG_NOT_PROMO, VIEWED_NOT_BOUGHT, BIG_ORDERS]}
    assert members(ws_store, wide, shape="semijoin") == members(ws_store, wide) == {1, 4, 5}


def test_an_and_group_reads_each_leaf_only_for_the_contacts_before_it(
    ws_store: tuple[Container, str],
) -> None:
    viewed = {"type": "event", "event": "Product Viewed", "compare": {"op": "gte", "value": 1}}
    both = {"type": "all", "conditions": [BIRTHDAY, BIG_ORDERS, viewed]}
    sql = compile_segment({"root": both}, workspace_id="w", now=NOW, fuse_leaves=False).sql
    # The event scan takes the order leaf's contacts, which took the attribute's, each in its
    # own WHERE before its GROUP BY / DISTINCT: one chain, not three sets built in full.
    events_at = sql.index("FROM events AS t")
    orders_at = sql.index("FROM orders AS t", events_at)
    contacts_at = sql.index("FROM contacts AS t", orders_at)
    assert sql.index('"t"."contact_id" IN (SELECT', events_at) < orders_at
    assert sql.index('"t"."contact_id" IN (SELECT', orders_at) < contacts_at
    assert sql.index("GROUP BY", orders_at) > contacts_at  # the filter sits before the grouping
    for k in range(3):  # any order: {1, 3} ∩ {1} ∩ {1, 2, 4, 5, 6}, as the sets intersected
        turned = {"type": "all", "conditions": both["conditions"][k:] + both["conditions"][:k]}
        assert members(ws_store, turned) == members(ws_store, turned, shape="setops") == {1}


def test_order_leaves_are_chained_not_fused_on_duckdb(ws_store: tuple[Container, str]) -> None:
    """DuckDB reads each order leaf on its own (each groups only the chain's contacts);
    ClickHouse keeps one shared scan per group. Members: an order in the last 90 days
    ({1, 2, 3, 5, 6}) and not two over 1,000 ({1})."""
    recent = {"type": "order", "window": {"kind": "last", "amount": 90, "unit": "days"}}
    root = {"type": "all", "conditions": [recent, {"type": "not", "condition": BIG_ORDERS}]}
    duck = compile_segment({"root": root}, workspace_id="w", now=NOW).sql
    assert duck.count("FROM orders AS t") == 2
    assert "_flags_orders" not in duck
    click = compile_segment({"root": root}, workspace_id="w", now=NOW, dialect="clickhouse").sql
    assert click.count("FROM orders AS t") == 1
    assert members(ws_store, root) == members(ws_store, root, fuse_leaves=False)
    assert members(ws_store, recent) - members(ws_store, BIG_ORDERS) == {2, 3, 5, 6}
    assert members(ws_store, root) == {2, 3, 5, 6}


@pytest.mark.parametrize(
    "module",
    [
        "compiler",
        "compiler.algebra",
        "compiler.dialects",
        "compiler.windows",
        "compiler.predicates",
        "compiler.fusion",
    ],
)
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"retenta.segments.{module}"))
    assert result.attempted > 0
    assert result.failed == 0
