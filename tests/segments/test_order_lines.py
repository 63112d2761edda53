"""Purchase filters on ``name`` / ``category`` / ``brand`` read ``_order_lines`` on DuckDB:
the documented ``order_items`` value is ``COALESCE(line's own, product's)``, and the compiler
also tests the line's own value (``own IS NULL OR <the test>``) so the scan drops lines early.
Members must be those of the documented view, whichever side supplies the value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlglot

from retenta.app import Container, build_container
from retenta.segments.compiler import compile_segment
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.segments.test_equivalence_data import (
    CATEGORIES,
    NOW,
    SKUS,
    duckdb_members,
    load_duckdb,
    make_dataset,
    read_view,
)

# Products name the category (last of the path), brand and name a line may lack; SKU-8 has
# no product, so a line of it without its own value has none at all.
PRODUCTS = {
    sku: (f"Product {sku}", ["All", CATEGORIES[(n + 1) % 4]], ["Zeta", "Acme"][n % 2])
    for n, sku in enumerate(SKUS[:-1])
}


def _blank(items: list[dict[str, Any]]) -> None:
    """A third of the lines lack their category, another third their brand and name."""
    for n, item in enumerate(items):
        if n % 3 == 0:
            item["category"] = None
        elif n % 3 == 1:
            item["brand"] = item["name"] = None


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str]]:
    base = tmp_path_factory.mktemp("order-lines")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset()
    _blank(data.items)
    load_duckdb(container, ws, data)
    rows = [(ws, sku, name, path, brand, NOW, NOW) for sku, (name, path, brand) in PRODUCTS.items()]
    container.db.write(
        lambda conn: conn.executemany(
            "INSERT INTO products (workspace_id, sku, name, category_path, brand, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    )
    yield container, ws
    container.close()


def _lines(store: tuple[Container, str]) -> list[dict[str, Any]]:
    return read_view(
        *store, "SELECT contact_id, name, category, brand, price, quantity FROM order_items"
    )


TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda v, x: v is not None and v == x,
    "not_equals": lambda v, x: v is None or v != x,
    "contains": lambda v, x: v is not None and x in v,
    "not_contains": lambda v, x: v is None or x not in v,
    "starts_with": lambda v, x: v is not None and v.startswith(x),
    "ends_with": lambda v, x: v is not None and v.endswith(x),
    "in": lambda v, x: v is not None and v in x,
    "not_in": lambda v, x: v is None or v not in x,
    "exists": lambda v, _: v is not None,
    "not_exists": lambda v, _: v is None,
}
VALUES = {"category": ["Shoes", "Hats"], "brand": "Acme", "name": "Item SKU-3"}
CASES = [
    (prop, op, (VALUES[prop] if op in {"in", "not_in"} else VALUES[prop][0])
     if prop == "category" else (VALUES[prop] if op not in {"in", "not_in"} else [VALUES[prop]]))
    for prop in ("category", "brand", "name")
    for op in TESTS
]  # fmt: skip


def _expected(
    lines: list[dict[str, Any]], prop: str, op: str, value: Any, total: float
) -> set[int]:
    spent: dict[int, float] = {}
    for line in lines:
        if TESTS[op](line[prop], value):
            cid = int(line["contact_id"])
            spent[cid] = spent.get(cid, 0.0) + float(line["price"]) * int(line["quantity"])
    return {cid for cid, money in spent.items() if money > total}


@pytest.mark.parametrize(("prop", "op", "value"), CASES)
@pytest.mark.parametrize("total", [0, 150])
def test_purchase_filters_see_the_products_values(
    store: tuple[Container, str], prop: str, op: str, value: Any, total: float
) -> None:
    container, ws = store
    flt: dict[str, Any] = {"property": prop, "op": op}
    if op not in {"exists", "not_exists"}:
        flt["value"] = value
    leaf = {
        "type": "purchase",
        "where": [flt],
        "aggregate": {"fn": "sum", "property": "revenue"},
        "compare": {"op": "gt", "value": total},
    }
    compiled = compile_segment({"root": leaf}, workspace_id=ws, now=NOW)
    assert "_order_lines" in compiled.sql
    assert "_line_" in compiled.sql
    expected = _expected(_lines(store), prop, op, value, total)
    assert duckdb_members(container, compiled.sql) == expected
    negated = compile_segment(
        {"root": {"type": "not", "condition": leaf}}, workspace_id=ws, now=NOW
    )
    with container.db.read() as cur:
        everyone = {int(r[0]) for r in cur.execute(
            "SELECT id FROM contacts WHERE workspace_id = ? AND merged_into IS NULL"
            " AND erased_at IS NULL", [ws]).fetchall()}  # fmt: skip
    assert duckdb_members(container, negated.sql) == everyone - expected


def test_the_products_decide_some_lines(store: tuple[Container, str]) -> None:
    """The data makes the own-value test matter: lines without their own value take the
    product's, which the filters above test (and SKU-8's take none)."""
    container, ws = store
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT count(*) FILTER (WHERE i.category IS NULL AND p.category_path[-1] = 'Shoes'),"
            " count(*) FILTER (WHERE i.brand IS NULL AND p.brand = 'Acme'),"
            " count(*) FILTER (WHERE i.name IS NULL AND p.sku IS NULL)"
            " FROM order_items AS i LEFT JOIN products AS p"
            " ON p.workspace_id = i.workspace_id AND p.sku = i.sku WHERE i.workspace_id = ?",
            [ws],
        ).fetchone()
    assert row is not None
    assert min(row) > 0, row


def _in_unions(sql: str) -> list[bool]:
    """For every union read by an IN test: whether it drops duplicates."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    return [
        bool(u.args.get("distinct"))
        for node in tree.find_all(sqlglot.exp.In)
        if node.args.get("query") is not None
        for u in node.args["query"].find_all(sqlglot.exp.Union)
    ]


def test_a_union_read_by_in_may_keep_duplicates_but_the_members_may_not(
    store: tuple[Container, str],
) -> None:
    """``IN (A UNION ALL B)`` (``algebra._as_bag``) is the same test as with ``UNION``; a
    union that is itself the members (an OR at the top) still drops duplicates."""
    container, ws = store
    shoes = {
        "type": "purchase",
        "where": [{"property": "category", "op": "contains", "value": "Shoes"}],
    }
    returned = {
        "type": "order",
        "where": [{"property": "status", "op": "equals", "value": "returned"}],
    }
    acme = {"type": "purchase", "where": [{"property": "brand", "op": "equals", "value": "Acme"}]}
    either = {"type": "any", "conditions": [shoes, returned]}
    roots = {
        "top": either,
        "in": {"type": "all", "conditions": [acme, either]},
        "not in": {"type": "all", "conditions": [acme, {"type": "not", "condition": either}]},
        "acme": acme,
    }
    sets = {}
    for name, root in roots.items():
        sql = compile_segment({"root": root}, workspace_id=ws, now=NOW).sql
        with container.db.read() as cur:
            rows = [int(r[0]) for r in cur.execute(sql).fetchall()]
        assert len(rows) == len(set(rows)), name  # members are distinct
        sets[name] = set(rows)
        if name in {"in", "not in"}:
            assert _in_unions(sql) == [False], name
    assert " UNION SELECT" in compile_segment({"root": either}, workspace_id=ws, now=NOW).sql
    assert sets["in"] == sets["acme"] & sets["top"]
    assert sets["not in"] == sets["acme"] - sets["top"]
    assert sets["in"]
    assert sets["not in"]
