"""Running SQL templates: right members, this workspace only, time/row limits, read-only."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments import sqlsegments
from retenta.segments.sqlcheck import SqlCheckError
from tests.conftest import Workspace
from tests.segments.test_views_seed import seed_workspaces


@pytest.fixture
def seeded(container: Container) -> tuple[str, str]:
    return seed_workspaces(container)


def members(container: Container, ws: str, sql: str, **params: object) -> list[int]:
    with container.db.read() as cur:
        return sorted(sqlsegments.run(cur, ws, sql, params).contact_ids)


def test_a_template_with_parameters_returns_the_live_contacts(
    container: Container, seeded: tuple[str, str]
) -> None:
    a, b = seeded
    sql = """
        SELECT contact_id FROM orders WHERE total >= @min AND status <> 'cancelled'
        UNION SELECT contact_id FROM contacts WHERE language = @lang
    """
    assert members(container, a, sql, min=60, lang="en") == [1, 5]  # 1 via merged 2 → 3 → 1
    assert members(container, a, sql, min=1000, lang="fr") == []
    assert members(container, b, sql, min=60, lang="en") == [101]


def test_templates_read_events_traits_consents_messages_and_data_tables(
    container: Container, seeded: tuple[str, str]
) -> None:
    a, _ = seeded
    assert members(
        container, a,
        "SELECT contact_id FROM events WHERE event = @e AND properties ->> 'category' = @c",
        e="Product Viewed", c="Bags",
    ) == [1]  # fmt: skip
    assert members(container, a, "SELECT contact_id FROM contact_traits WHERE orders = 0") == [5]
    assert members(
        container, a, "SELECT contact_id FROM consents WHERE status = 'unsubscribed'"
    ) == [1]
    assert (
        members(
            container,
            a,
            "SELECT contact_id FROM message_events WHERE status = 'opened' AND NOT machine",
        )
        == []
    )  # the only open in A is a machine open, the other one an erased contact's
    assert members(
        container, a, "SELECT contact_id FROM data_loyalty WHERE points > @p", p=100
    ) == [1]


def test_only_this_workspaces_rows_are_visible(
    container: Container, seeded: tuple[str, str]
) -> None:
    a, b = seeded
    everything = "SELECT contact_id FROM events UNION SELECT contact_id FROM identities"
    assert members(container, a, everything) == [1, 5]
    assert members(container, b, everything) == [101]
    with container.db.read() as cur, pytest.raises(SqlCheckError, match="qualified name"):
        sqlsegments.run(cur, a, "SELECT contact_id FROM main.events")


def test_the_time_limit_interrupts_a_slow_cross_join(
    container: Container, seeded: tuple[str, str]
) -> None:
    slow = (
        "SELECT a.range AS contact_id FROM range(1000000) AS a CROSS JOIN range(1000000) AS b"
        " WHERE a.range * b.range = -1"
    )
    started = time.perf_counter()
    with container.db.read() as cur, pytest.raises(sqlsegments.SqlRunError, match="time limit"):
        sqlsegments.run(cur, seeded[0], slow, time_limit_s=0.5)
    assert time.perf_counter() - started < 5
    assert members(container, seeded[0], "SELECT contact_id FROM contacts") == [1, 5]


def test_the_row_limit_refuses_a_partial_answer(
    container: Container, seeded: tuple[str, str]
) -> None:
    with container.db.read() as cur, pytest.raises(sqlsegments.SqlRunError, match="row limit"):
        sqlsegments.run(cur, seeded[0], "SELECT contact_id FROM contacts", row_limit=1)


def test_the_query_runs_in_a_read_only_transaction(container: Container) -> None:
    with container.db.read() as cur, pytest.raises(sqlsegments.SqlRunError, match="read-only"):
        sqlsegments._run_bounded(cur, "INSERT INTO message_ids VALUES ('w', 'm', 0)", 5)
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM message_ids").fetchone() == (0,)


def test_a_star_without_contact_id_is_reported_when_it_runs(
    container: Container, seeded: tuple[str, str]
) -> None:
    with container.db.read() as cur, pytest.raises(sqlsegments.SqlRunError, match="contact_id"):
        sqlsegments.run(cur, seeded[0], "SELECT * FROM products")


def test_the_check_report_has_the_endpoint_shape(
    container: Container, seeded: tuple[str, str]
) -> None:
    with container.db.read() as cur:
        ok = sqlsegments.check_report(cur, seeded[0], "SELECT contact_id FROM data_loyalty")
        bad = sqlsegments.check_report(cur, seeded[0], "SELECT contact_id FROM\n read_csv('x')")
    assert ok == {"ok": True, "errors": [], "views_used": ["data_loyalty"]}
    assert bad["ok"] is False
    assert bad["errors"][0]["position"] == {"line": 2, "column": 2}


def test_the_check_endpoint(client: TestClient, ws: Workspace) -> None:
    ok = client.post(
        "/api/v1/segments/sql/check", headers=ws.api_headers,
        json={"sql": "SELECT contact_id FROM orders WHERE total > @min", "params": {"min": 5}},
    )  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "errors": [], "views_used": ["orders"]}
    bad = client.post(
        "/api/v1/segments/sql/check", headers=ws.api_headers,
        json={"sql": "SELECT contact_id FROM orders; DROP TABLE contacts"},
    )  # fmt: skip
    assert bad.json()["ok"] is False
    assert bad.json()["errors"][0]["reason"].startswith("exactly one statement")
    assert client.post("/api/v1/segments/sql/check", json={"sql": "x"}).status_code == 401
    missing = client.post("/api/v1/segments/sql/check", headers=ws.api_headers, json={})
    assert missing.status_code == 422
