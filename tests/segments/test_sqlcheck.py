"""The SQL-template sandbox refuses every escape, with the reason (pure: no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retenta.segments.sqlcheck import SqlCheckError, check_sql, coerce_param, rewrite_params
from retenta.segments.views import view_names

VIEWS = view_names({"loyalty": []})


def refused(sql: str, **params: object) -> list[str]:
    with pytest.raises(SqlCheckError) as err:
        check_sql(sql, views=VIEWS, params=params)
    return [e.reason for e in err.value.errors]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE contacts", "found DROP"),
        ("CREATE TABLE x AS SELECT contact_id FROM orders", "found CREATE"),
        ("INSERT INTO orders SELECT * FROM orders", "found INSERT"),
        ("UPDATE contacts SET language = 'x'", "found UPDATE"),
        ("DELETE FROM contacts", "found DELETE"),
        ("COPY orders TO '/tmp/x.csv'", "found COPY"),
        ("COPY (SELECT contact_id FROM orders) TO '/tmp/x.csv'", "found COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "found ATTACH"),
        ("PRAGMA database_list", "found PRAGMA"),
        ("SET threads = 1", "found SET"),
        ("INSTALL httpfs", "found INSTALL"),
        ("LOAD httpfs", "found LOAD"),
        ("CALL pragma_version()", "found CALL"),
        ("DESCRIBE orders", "found DESCRIBE"),
        ("SUMMARIZE orders", "found SUMMARIZE"),
        ("SELECT contact_id INTO copy_of FROM orders", "INTO is not allowed"),
    ],
)
def test_statements_other_than_select_are_refused(sql: str, reason: str) -> None:
    assert any(reason in r for r in refused(sql)), refused(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT contact_id FROM orders; DROP TABLE contacts",
        "SELECT contact_id FROM orders; SELECT contact_id FROM events",
        "SELECT contact_id FROM orders --\n; DROP TABLE contacts",
        "SELECT contact_id FROM orders /* */; /* */ DELETE FROM contacts",
    ],
)
def test_a_second_statement_is_refused_even_behind_comments(sql: str) -> None:
    assert refused(sql)[0].startswith("exactly one statement is allowed; found 2")


def test_comments_are_dropped_from_what_runs() -> None:
    checked = check_sql(
        "SELECT contact_id /* ; DROP TABLE contacts */ FROM orders -- ; DELETE FROM x",
        views=VIEWS,
    )
    assert checked.sql() == "SELECT contact_id FROM orders"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT contact_id FROM main.orders", "qualified name main.orders"),
        ("SELECT contact_id FROM retenta.main.contacts", "qualified name"),
        ("SELECT contact_id FROM all_events", "unknown table 'all_events'"),
        ("SELECT contact_id FROM events_recent", "unknown table 'events_recent'"),
        ("SELECT id AS contact_id FROM api_keys", "unknown table 'api_keys'"),
        ("SELECT contact_id FROM orders_all", "unknown table 'orders_all'"),
        ("SELECT contact_id FROM _live_contacts", "unknown table '_live_contacts'"),
        ("SELECT contact_id FROM information_schema.tables", "qualified name"),
        ("SELECT contact_id FROM '/etc/passwd.csv'", "files cannot be read"),
        ("SELECT contact_id FROM read_csv('/etc/passwd')", "table function READ_CSV()"),
        ("SELECT contact_id FROM read_parquet('x.parquet')", "READ_PARQUET()"),
        ("SELECT contact_id FROM read_json_auto('x.json')", "read_json_auto()"),
        ("SELECT contact_id FROM glob('/*')", "table function glob()"),
        ("SELECT contact_id FROM query('SELECT 1')", "table function query()"),
        ("SELECT contact_id FROM duckdb_settings()", "duckdb_settings()"),
        ("SELECT read_text('/etc/passwd') AS contact_id", "function read_text()"),
        ("SELECT '/etc/passwd'.read_text() AS contact_id", "function read_text()"),
        ("SELECT getenv('HOME') AS contact_id FROM orders", "function getenv()"),
        ("SELECT current_setting('threads') AS contact_id", "function current_setting()"),
        ("SELECT current_database() AS contact_id", "function current_database()"),
        ("SELECT current_schema() AS contact_id", "current_schema()"),
        ("SELECT nextval('contact_id_seq') AS contact_id", "function nextval()"),
        ("SELECT getvariable('x') AS contact_id", "function getvariable()"),
        ("SELECT count(*) AS n FROM orders", "must return a contact_id column"),
        ("WITH orders AS (SELECT 1 AS contact_id) SELECT contact_id FROM orders", "hides"),
        ("SELECT contact_id FROM orders WHERE total > ?", "positional parameters"),
        ("SELECT contact_id FROM orders WHERE total > @min", "@min has no value"),
        ("SELEC contact_id FROM orders", "syntax error"),
        ("", "empty"),
    ],
)
def test_escapes_and_mistakes_are_refused_with_the_reason(sql: str, reason: str) -> None:
    reasons = refused(sql)
    assert any(reason in r for r in reasons), reasons


def test_a_refusal_says_where() -> None:
    with pytest.raises(SqlCheckError) as err:
        check_sql("SELECT contact_id\nFROM orders\nWHERE getenv('X') = ''", views=VIEWS)
    assert err.value.errors[0].position == {"line": 3, "column": 7}


def test_valid_templates_pass_with_typed_parameters() -> None:
    checked = check_sql(
        """
        WITH big AS (SELECT contact_id FROM orders WHERE total >= @min AND placed_at > @since)
        SELECT contact_id FROM big
        UNION SELECT contact_id FROM events WHERE event = @name AND list_contains(@tags, source)
        EXCEPT SELECT contact_id FROM Consents WHERE status = 'unsubscribed'
        """,
        views=VIEWS,
        params={"min": 100, "since": {"type": "datetime", "value": "2026-09-01T00:00:00Z"},
                "name": "Product Viewed", "tags": ["api", "import"]},
    )  # fmt: skip
    sql = checked.sql()
    assert "total >= 100" in sql
    assert "CAST('2026-09-01T00:00:00Z' AS TIMESTAMPTZ)" in sql
    assert "event = 'Product Viewed'" in sql
    assert "['api', 'import']" in sql
    assert checked.views_used == ["consents", "events", "orders"]
    assert set(checked.params_used) == {"min", "since", "name", "tags"}


def test_parameter_values_are_literals_never_sql() -> None:
    checked = check_sql(
        "SELECT contact_id FROM contacts WHERE email = @e", views=VIEWS,
        params={"e": "x' OR 1=1; DROP TABLE contacts; --"},
    )  # fmt: skip
    assert checked.sql() == (
        "SELECT contact_id FROM contacts WHERE email = 'x'' OR 1=1; DROP TABLE contacts; --'"
    )


def test_parameters_are_only_glued_at_signs_outside_strings() -> None:
    text, names = rewrite_params("SELECT '@a' AS x, @b, @ c /* @d */ FROM t")
    assert names == ["b"]
    assert text == "SELECT '@a' AS x, $b, @ c /* @d */ FROM t"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"type": "date", "value": "yesterday"}, "not an ISO date"),
        ({"type": "integer", "value": "many"}, "expected a integer"),
        ({"type": "boolean", "value": "yes"}, "expected true or false"),
        ({"type": "blob", "value": 1}, "type must be one of"),
        (float("nan"), "finite"),
    ],
)
def test_bad_parameter_values_are_refused(spec: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        coerce_param("p", spec)


def test_the_documented_examples_pass_the_check() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "segments-sql.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", doc, flags=re.S)
    params = {"n": 2, "days": 90, "tag": "promo", "min": 100,
              "since": {"type": "datetime", "value": "2026-09-01T00:00:00Z"}}  # fmt: skip
    assert len(blocks) >= 3
    for sql in blocks:
        assert "contact_id" in check_sql(sql, views=VIEWS, params=params).sql()


def test_absurd_nesting_is_refused_not_crashed() -> None:
    deep = "SELECT contact_id FROM orders WHERE " + "(" * 3000 + "1 = 1" + ")" * 3000
    reasons = refused(deep)
    assert reasons == ["the query is nested too deeply"] or reasons[0].startswith("syntax")
