"""The RFM page in Chromium: the R × F grid and the named cells show the report's counts; the
scoring settings save and the grid follows; a cell opens the builder with its count."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser


def rfm_report(live: LiveServer) -> dict[str, Any]:
    with live.api() as api:
        resp = api.get("/api/v1/rfm/report")
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]


def expect_grid_matches(page: Page, report: dict[str, Any]) -> None:
    """Every R × F cell and every named cell on screen shows the report's count."""
    per_cell: dict[tuple[int, int], int] = {}
    for g in report["grid"]:
        per_cell[(g["r"], g["f"])] = per_cell.get((g["r"], g["f"]), 0) + g["count"]
    grid = page.get_by_test_id("rfm-grid")
    for r in range(1, 6):
        for f in range(1, 6):
            shown = grid.get_by_test_id(f"rfm-{r}-{f}").get_by_test_id("rfm-count")
            expect(shown).to_have_text(f"{per_cell.get((r, f), 0):,}")
    cells = page.get_by_test_id("rfm-cells")
    for cell in report["cells"]:
        expect(cells.get_by_test_id(f"rfm-cell-{cell['name']}")).to_contain_text(
            f"{cell['count']:,}"
        )


def test_the_rfm_grid_shows_the_reports_counts(admin_page: Page, live_server: LiveServer) -> None:
    report = rfm_report(live_server)
    assert sum(g["count"] for g in report["grid"]) >= 1  # Anna's order makes her a buyer
    page = admin_page
    page.goto("/segments/rfm")
    expect_grid_matches(page, report)
    screenshot(page, "rfm")

    # Scoring by fixed thresholds instead of quantiles: saved, and the grid follows.
    config = page.get_by_test_id("rfm-config")
    config.get_by_label("method").select_option("thresholds")
    config.get_by_role("button", name="Save and recompute").click()
    expect(config).to_contain_text("Saved")
    after = rfm_report(live_server)
    assert after["config"]["method"] == "thresholds"
    expect_grid_matches(page, after)

    # A named cell links to a new segment with that RFM condition, counted by the builder.
    busiest = max(after["cells"], key=lambda c: c["count"])
    page.get_by_test_id(f"rfm-cell-{busiest['name']}").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/segments/new\?rfm="))
    expect(page.get_by_test_id("preview-count")).to_have_text(f"{busiest['count']:,}")
