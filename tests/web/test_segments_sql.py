"""The SQL editor in Chromium: the sandbox's refusals shown with their reason, a SELECT with a
@param checked, previewed and saved."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

SEARCHERS = 56  # see test_segments_builder.py


ESCAPES = {
    "copy": "COPY (SELECT contact_id FROM contacts) TO '/tmp/out.csv'",
    "read-csv": "SELECT column0 AS contact_id FROM read_csv('/etc/passwd')",
}


def sandbox_reasons(live: LiveServer, sql: str) -> list[str]:
    """Why the server's SQL checker refuses ``sql``."""
    with live.api() as api:
        resp = api.post("/api/v1/segments/sql/check", json={"sql": sql, "params": {}})
        resp.raise_for_status()
    verdict = resp.json()
    assert not verdict["ok"]
    return [e["reason"] for e in verdict["errors"]]


def write_sql(page: Page, sql: str) -> None:
    page.get_by_label("SQL", exact=True).fill(sql)
    page.get_by_role("button", name="Check").click()


def test_the_sql_editor_rejects_copy_and_runs_a_parameterized_select(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/segments")
    page.get_by_role("link", name="New SQL segment").click()
    expect(page).to_have_url(re.compile(r"/segments/sql/new$"))

    for name, escape in ESCAPES.items():
        reasons = sandbox_reasons(live_server, escape)
        assert reasons
        write_sql(page, escape)
        rejected = page.get_by_test_id("sql-errors")
        for reason in reasons:
            expect(rejected).to_contain_text(reason)
        expect(page.get_by_role("button", name="Save segment")).to_be_disabled()
        screenshot(page, f"sql-editor-rejects-{name}")

    # Parameters are found in the query, not in its strings or comments.
    page.get_by_label("SQL", exact=True).fill(
        "SELECT contact_id FROM orders -- at least @n?\n"
        "WHERE total > @min AND coupon <> '@code' AND currency = @currency"
    )
    params = page.get_by_test_id("params").locator("tbody tr td:first-child")
    expect(params).to_have_text(["@min", "@currency"])

    # A SELECT with a parameter: the editor finds @event and offers an input for it.
    sql = "SELECT contact_id FROM events WHERE event = @event GROUP BY contact_id"
    page.get_by_label("SQL", exact=True).fill(sql)
    page.get_by_label("Type of @event").select_option("text")
    page.get_by_label("Value of @event").fill("Products Searched")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("sql-ok")).to_contain_text("events")  # the views it reads
    expect(page.get_by_test_id("preview-count")).to_have_text(str(SEARCHERS))
    screenshot(page, "sql-editor-ok")

    page.get_by_label("Segment name").fill("Searchers by SQL")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/segments/seg_[^/]+$"))
    expect(page.get_by_test_id("segment-name")).to_contain_text("SQL")
    expect(page.get_by_test_id("segment-about")).to_contain_text("@event")

    # Edit: the saved query and its parameter's value come back; a new name is saved.
    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(r"/segments/seg_[^/]+/sql$"))
    expect(page.get_by_label("SQL", exact=True)).to_have_value(sql)
    expect(page.get_by_label("Value of @event")).to_have_value("Products Searched")
    page.get_by_label("Segment name").fill("Searchers (SQL)")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("preview-count")).to_have_text(str(SEARCHERS))
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_test_id("segment-name")).to_contain_text("Searchers (SQL)")
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("segment-size")).to_have_text(str(SEARCHERS))
