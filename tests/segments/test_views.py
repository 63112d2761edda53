"""The logical views on DuckDB: merges followed, erasures excluded, workspaces isolated."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments import views
from tests.conftest import make_workspace
from tests.segments.test_views_seed import DEAD_A, LIVE_A, seed_workspaces

CONTACT_VIEWS = [n for n in views.VIEW_COLUMNS if n != "products"]


@pytest.fixture
def seeded(container: Container) -> tuple[str, str]:
    return seed_workspaces(container)


def run(container: Container, sql: str, ws: str) -> list[dict[str, Any]]:
    query = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(query, sqlglot.exp.Query)
    with container.db.read() as cur:
        tables = views.load_data_tables(cur, ws)
        built = views.with_views(query, ws, "duckdb", data_tables=tables).sql("duckdb")
        res = cur.execute(built)
        cols = [d[0] for d in res.description]
        return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]


@pytest.mark.parametrize("name", [*CONTACT_VIEWS, "data_loyalty"])
def test_every_contact_id_is_a_live_contact(
    container: Container, seeded: tuple[str, str], name: str
) -> None:
    rows = run(container, f"SELECT * FROM {name}", seeded[0])
    assert rows, name
    assert {r["contact_id"] for r in rows} <= LIVE_A
    assert not {r["contact_id"] for r in rows} & DEAD_A


def test_view_columns_are_the_contract(container: Container, seeded: tuple[str, str]) -> None:
    for name, columns in views.VIEW_COLUMNS.items():
        with container.db.read() as cur:
            sql = views.with_views(
                sqlglot.parse_one(f"SELECT * FROM {name} LIMIT 0"), seeded[0]
            ).sql("duckdb")
            got = tuple(d[0] for d in cur.execute(sql).description)
        assert got == columns, name


def test_merge_chain_rows_belong_to_the_winner(
    container: Container, seeded: tuple[str, str]
) -> None:
    events = run(container, "SELECT message_id, contact_id FROM events ORDER BY 1", seeded[0])
    assert events == [
        {"message_id": "e1", "contact_id": 1},
        {"message_id": "e2", "contact_id": 1},  # 2 → 3 → 1
        {"message_id": "e3", "contact_id": 1},  # 3 → 1, from events_l1
        {"message_id": "e4", "contact_id": 1},  # events_recent
    ]
    orders = run(container, "SELECT order_id, contact_id FROM orders ORDER BY 1", seeded[0])
    assert [(o["order_id"], o["contact_id"]) for o in orders] == [
        ("o1", 1), ("o2", 1), ("o3", 1), ("o4", 1)
    ]  # fmt: skip


def test_contacts_are_the_live_ones_with_their_newest_identifiers(
    container: Container, seeded: tuple[str, str]
) -> None:
    rows = run(container, "SELECT * FROM contacts ORDER BY contact_id", seeded[0])
    assert [r["contact_id"] for r in rows] == [1, 5]
    one = rows[0]
    assert (one["email"], one["phone"], one["external_id"]) == (
        "olena@a.ua", "+380671112233", "crm-3"
    )  # fmt: skip
    assert one["language"] == "uk"
    assert '"Kyiv"' in one["attributes"]
    light = run(container, "SELECT contact_id, language FROM contacts ORDER BY 1", seeded[0])
    assert [r["contact_id"] for r in light] == [1, 5]


def test_consents_are_the_current_state_across_the_family(
    container: Container, seeded: tuple[str, str]
) -> None:
    rows = run(
        container, "SELECT contact_id, channel, status FROM consents ORDER BY channel", seeded[0]
    )
    assert rows == [
        {"contact_id": 1, "channel": "email", "status": "unsubscribed"},
        {"contact_id": 1, "channel": "sms", "status": "subscribed"},
    ]


def test_a_consent_tie_goes_to_the_later_row(container: Container, seeded: tuple[str, str]) -> None:
    a = seeded[0]
    at = run(container, "SELECT changed_at FROM consents WHERE channel = 'sms'", a)[0]
    for status, source in (("unsubscribed", "import"), ("subscribed", "form")):
        container.db.write(
            lambda c, st=status, so=source: c.execute(
                "INSERT INTO consents VALUES (?, 5, 'sms', '*', ?, ?, ?)",
                [a, st, so, at["changed_at"]],
            )
        )
    rows = run(container, "SELECT status, source FROM consents WHERE contact_id = 5", a)
    assert rows == [{"status": "subscribed", "source": "form"}]


def test_order_items_carry_the_order_and_the_product_category(
    container: Container, seeded: tuple[str, str]
) -> None:
    rows = run(
        container,
        "SELECT order_id, line_no, category, brand, price, status FROM order_items ORDER BY 1, 2",
        seeded[0],
    )
    assert rows == [
        {"order_id": "o1", "line_no": 1, "category": "Shoes", "brand": "Fleet", "price": 30.0,
         "status": "paid"},
        {"order_id": "o1", "line_no": 2, "category": "Bags", "brand": "Acme", "price": 60.0,
         "status": "paid"},
        {"order_id": "o2", "line_no": 1, "category": "Shoes", "brand": "Fleet", "price": 50.0,
         "status": "shipped"},
    ]  # fmt: skip


def test_data_tables_are_typed_from_their_definition(
    container: Container, seeded: tuple[str, str]
) -> None:
    rows = run(container, "SELECT card, points, since, contact_id FROM data_loyalty", seeded[0])
    assert len(rows) == 1
    assert (rows[0]["card"], rows[0]["points"], rows[0]["contact_id"]) == ("c-1", 120, 1)
    assert rows[0]["since"].isoformat().startswith("2026-01-02T03:04:05")


def test_workspaces_see_only_their_rows(container: Container, seeded: tuple[str, str]) -> None:
    for name in [*views.VIEW_COLUMNS, "data_loyalty"]:
        rows_b = run(container, f"SELECT * FROM {name}", seeded[1])
        if "contact_id" in (rows_b[0] if rows_b else {}):
            assert {r["contact_id"] for r in rows_b} == {101}, name
    products_b = run(container, "SELECT sku, name FROM products", seeded[1])
    assert products_b == [{"sku": "sku-1", "name": "Cap"}]
    empty = container.tenancy.create_workspace(name="Empty")
    for name in views.VIEW_COLUMNS:
        assert run(container, f"SELECT * FROM {name}", empty) == [], name


def test_traits_agree_with_the_profile_api(
    container: Container, client: TestClient, seeded: tuple[str, str]
) -> None:
    a, _ = seeded
    key = container.tenancy.issue_key(workspace_id=a, kind="api").secret
    traits = run(container, "SELECT * FROM contact_traits ORDER BY contact_id", a)
    assert [t["contact_id"] for t in traits] == [1, 5]
    for row in traits:
        got = client.get(
            f"/api/v1/contacts/{row['contact_id']}", headers={"Authorization": f"Bearer {key}"}
        )
        assert got.status_code == 200, got.text
        api = got.json()["traits"]
        assert api["orders"] == row["orders"]
        assert api["revenue"] == row["revenue"]
        assert api["average_order_value"] == row["average_order_value"]
        assert api["favourite_category"] == row["favourite_category"]
        for key_name in ("first_order_at", "last_order_at", "last_activity_at"):
            want = row[key_name].isoformat().replace("+00:00", "Z") if row[key_name] else None
            assert (api[key_name] or None) in (want, want and want.replace("Z", "+00:00")), key_name
    # o1 net of returns 90, o2 50, o4 returned without lines 0; o3 cancelled
    assert (traits[0]["orders"], traits[0]["revenue"]) == (3, 140.0)


def test_a_traits_column_read_alone_equals_the_whole_view(
    container: Container, seeded: tuple[str, str]
) -> None:
    """Each column computes only its own part (pruning) and must not change its values."""
    a, _ = seeded
    whole = run(container, "SELECT * FROM contact_traits ORDER BY contact_id", a)
    assert any(r["revenue"] for r in whole)
    assert any(r["favourite_category"] for r in whole)
    assert any(r["last_activity_at"] for r in whole)
    for column in views.VIEW_COLUMNS["contact_traits"][1:]:
        alone = run(container, f"SELECT contact_id, {column} FROM contact_traits", a)
        got = {r["contact_id"]: r[column] for r in alone}
        assert got == {r["contact_id"]: r[column] for r in whole}, column


def test_with_views_prepends_only_the_views_read() -> None:
    query = sqlglot.parse_one("WITH mine AS (SELECT 1) SELECT contact_id FROM orders, mine")
    built = views.with_views(query, "ws_1")  # type: ignore[arg-type]
    names = [
        cte.alias for cte in built.find_all(sqlglot.exp.CTE) if cte.parent is built.args["with_"]
    ]
    assert names == [views.LIVE_MAP, "orders", "mine"]
    assert "'ws_1'" in built.sql("duckdb")
    ch = views.with_views(query, "ws_1", "clickhouse")  # type: ignore[arg-type]
    assert "orders_all" in ch.sql("clickhouse")
    assert views.LIVE_MAP not in ch.sql("clickhouse")


def test_the_workspace_id_is_a_literal_never_sql() -> None:
    query = sqlglot.parse_one("SELECT sku FROM products")
    built = views.with_views(query, "x' OR 1=1 --")  # type: ignore[arg-type]
    assert "'x'' OR 1=1 --'" in built.sql("duckdb")


def test_unknown_views_are_named() -> None:
    with pytest.raises(views.ViewError, match="unknown view 'secrets'"):
        views.with_views(sqlglot.parse_one("SELECT * FROM secrets"), "w")  # type: ignore[arg-type]


def test_a_fresh_workspace_fixture_sees_nothing(container: Container) -> None:
    ws = make_workspace(container)
    assert run(container, "SELECT count(*) AS n FROM events", ws.id) == [{"n": 0}]


@pytest.mark.parametrize("name", [*CONTACT_VIEWS, "data_loyalty"])
def test_candidates_restrict_each_view_to_those_contacts_and_their_merged_rows(
    container: Container, seeded: tuple[str, str], name: str
) -> None:
    a, _ = seeded
    sql = f"WITH _cand AS (SELECT 1 AS contact_id) SELECT * FROM {name}"
    query = sqlglot.parse_one(sql)
    with container.db.read() as cur:
        tables = views.load_data_tables(cur, a)
        restricted = views.with_views(query, a, data_tables=tables, candidates="_cand")  # type: ignore[arg-type]
        got = cur.execute(restricted.sql("duckdb")).fetchall()
    want = [r for r in run(container, f"SELECT * FROM {name}", a) if r["contact_id"] == 1]
    assert sorted(map(repr, got)) == sorted(repr(tuple(r.values())) for r in want)
    assert "_candidate_ids" in restricted.sql("duckdb")
