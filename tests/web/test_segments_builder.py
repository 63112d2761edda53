"""The segment builder, list and segment page, in Chromium against the real segments API.

The seeded crowd (tests/web/seed.py) is 56 shoppers with ``@example.com`` emails who each sent
one "Products Searched" event; nobody else sends that event, so the TAD condition below has
exactly 56 members whatever other browser tests add to the shared server.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.seed import send

pytestmark = pytest.mark.browser

SEARCHERS = 56


def cond(page: Page, path: str) -> Locator:
    return page.get_by_test_id(f"cond-{path}")


def preview_count(page: Page) -> Locator:
    return page.get_by_test_id("preview-count")


def api_count(live: LiveServer, definition: dict[str, object]) -> int:
    """The server's own count for a definition (what the UI must show)."""
    with live.api() as api:
        resp = api.post(
            "/api/v1/segments/preview", json={"kind": "rules", "definition": definition}
        )
        resp.raise_for_status()
        return int(resp.json()["count"])


EMAIL_CONDITION = {
    "type": "attribute",
    "field": "email",
    "value_type": "text",
    "op": "ends_with",
    "value": "example.com",
}


def add_condition(page: Page, group_path: str, label: str) -> None:
    group = cond(page, group_path)
    group.get_by_role("button", name="+ Condition").first.click()
    page.get_by_role("menuitem", name=re.compile(label)).click()


def test_build_preview_validate_save_and_open_a_segment(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/segments")
    page.get_by_role("link", name="New segment").click()
    expect(page).to_have_url(re.compile(r"/segments/new$"))

    # An attribute condition: every contact with an example.com email.
    first = cond(page, "root.conditions[0]")
    first.get_by_label("Field").fill("email")
    first.get_by_label("Operator").select_option("ends_with")
    first.get_by_label("Value", exact=True).fill("example.com")
    by_email = api_count(live_server, {"version": 1, "root": EMAIL_CONDITION})
    assert by_email > SEARCHERS
    expect(preview_count(page)).to_have_text(f"{by_email:,}")
    expect(page.get_by_test_id("preview-elapsed")).to_contain_text("ms")

    # AND a TAD condition: searched at least once in the last 7 days → the count drops to 56.
    add_condition(page, "root", "Event")
    second = cond(page, "root.conditions[1]")
    second.get_by_label("Event", exact=True).fill("Products Searched")
    second.get_by_label("Comparison").select_option("gte")
    second.get_by_label("Compared value").fill("1")
    second.get_by_label("Window amount").fill("7")
    expect(preview_count(page)).to_have_text(str(SEARCHERS))
    sample = page.get_by_test_id("preview-sample")
    expect(sample.locator("> li").first).to_contain_text("example.com")
    expect(sample.locator(".reasons li.ok").first).to_be_visible()  # why each one is in
    screenshot(page, "segment-builder")

    # A window of 0 days is invalid: the error sits on the event condition, not the attribute.
    second.get_by_label("Window amount").fill("0")
    errors = page.get_by_test_id("errors-root.conditions[1]")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("window.amount")
    expect(second).to_have_class(re.compile(r"cond-invalid"))
    expect(page.get_by_test_id("errors-root.conditions[0]")).to_have_count(0)
    expect(page.get_by_test_id("preview-invalid")).to_be_visible()
    screenshot(page, "segment-builder-error")
    second.get_by_label("Window amount").fill("7")
    expect(errors).to_have_count(0)
    expect(preview_count(page)).to_have_text(str(SEARCHERS))

    # The JSON view shows the same definition.
    page.get_by_role("tab", name="JSON").click()
    expect(page.get_by_test_id("definition-json")).to_contain_text('"Products Searched"')
    page.get_by_role("tab", name="Visual").click()

    # Save, land on the segment's page, see its members (two pages of them).
    page.get_by_label("Segment name").fill("Recent searchers")
    page.get_by_label("Tags").fill("browser-test, search")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/segments/seg_[^/]+$"))
    expect(page.get_by_test_id("segment-name")).to_contain_text("Recent searchers")
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("refresh-result")).to_contain_text(f"{SEARCHERS} members")
    expect(page.get_by_test_id("segment-size")).to_have_text(str(SEARCHERS))
    rows = page.get_by_test_id("members-table").locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(page.get_by_test_id("members-shown")).to_have_text(f"50 of {SEARCHERS}")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(SEARCHERS)
    expect(page.get_by_test_id("members-shown")).to_have_text(f"{SEARCHERS} of {SEARCHERS}")
    expect(page.get_by_test_id("segment-events")).to_contain_text("entered")
    expect(page.get_by_test_id("revisions")).to_contain_text("created")
    screenshot(page, "segment-page")

    # Export: a CSV of the members, one line each after the header.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    lines = Path(download.value.path()).read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == SEARCHERS + 1
    assert any("shopper0@example.com" in line for line in lines)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export Parquet").click()
    assert Path(download.value.path()).read_bytes()[:4] == b"PAR1"

    # Explain shows the compiled SQL for both engines.
    page.get_by_role("tab", name="DuckDB SQL").click()
    expect(page.get_by_test_id("explain-sql")).to_contain_text("SELECT")
    page.get_by_role("tab", name="ClickHouse SQL").click()
    expect(page.get_by_test_id("explain-sql")).to_contain_text("SELECT")

    # Duplicate opens the builder on a copy of the definition.
    page.get_by_role("link", name="Duplicate").click()
    expect(page.get_by_label("Segment name")).to_have_value("Copy of Recent searchers")
    expect(preview_count(page)).to_have_text(str(SEARCHERS))
    page.go_back()

    # A member links to the contact's 360° page.
    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+$"))
    expect(page.get_by_test_id("contact-page")).to_be_visible()

    # The list shows it with its size and tags.
    page.goto("/segments")
    row = page.get_by_test_id("segments-table").locator("tr", has_text="Recent searchers")
    expect(row).to_contain_text("browser-test")
    expect(row.get_by_test_id("segment-size")).to_have_text(str(SEARCHERS))
    screenshot(page, "segments-list")
    page.get_by_role("button", name="Name").click()
    names = page.get_by_test_id("segments-table").locator("tbody td:first-child a")
    expect(names.first).to_be_visible()
    listed = names.all_inner_texts()
    assert listed == sorted(listed, key=str.lower)


def test_a_saved_segment_can_be_edited_and_referenced(
    admin_page: Page, live_server: LiveServer
) -> None:
    """Another segment includes the saved one by reference; the builder lists it by name."""
    with live_server.api() as api:
        resp = api.post(
            "/api/v1/segments",
            json={
                "name": "Example.com emails",
                "kind": "rules",
                "definition": {"version": 1, "root": EMAIL_CONDITION},
            },
        )
        resp.raise_for_status()
        base = resp.json()
    page = admin_page
    page.goto("/segments/new")
    first = cond(page, "root.conditions[0]")
    first.get_by_role("button", name="Remove condition").click()
    add_condition(page, "root", "Other segment")
    ref = cond(page, "root.conditions[0]")
    ref.get_by_label("Segment").select_option(label="Example.com emails")
    expected = api_count(live_server, {"version": 1, "root": EMAIL_CONDITION})
    expect(preview_count(page)).to_have_text(f"{expected:,}")
    ref.get_by_label("Membership").select_option("exclude")
    exclusion = {"type": "segment", "segment_id": base["id"], "member": False}
    expect(preview_count(page)).to_have_text(
        f"{api_count(live_server, {'version': 1, 'root': exclusion}):,}"
    )
    page.get_by_label("Segment name").fill("Not example.com")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/segments/seg_[^/]+$"))

    # The base segment says where it is used, and refuses to be deleted while it is.
    page.goto(f"/segments/{base['id']}")
    expect(page.get_by_test_id("where-used")).to_contain_text("Not example.com")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Not example.com")
    dialog.get_by_role("button", name="Cancel").click()

    page.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(rf"/segments/{base['id']}/edit$"))
    expect(cond(page, "root").get_by_label("Field")).to_have_value("email")
    # Its root is one condition: combining it with another wraps both in an AND group.
    page.get_by_role("button", name="+ AND condition").click()
    expect(cond(page, "root")).to_have_attribute("data-type", "all")
    expect(cond(page, "root.conditions[0]").get_by_label("Field")).to_have_value("email")
    added = cond(page, "root.conditions[1]")
    added.get_by_label("Field").fill("email")
    added.get_by_label("Operator").select_option("starts_with")
    added.get_by_label("Value", exact=True).fill("shopper1")
    expect(preview_count(page)).to_have_text("11")  # shopper1, shopper10 … shopper19
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(rf"/segments/{base['id']}$"))
    expect(page.get_by_test_id("revisions")).to_contain_text("updated")


def test_analysts_count_but_do_not_change_segments(page: Page, live_server: LiveServer) -> None:
    page = logged_in(page, live_server, "analyst")
    page.goto("/segments")
    expect(page.get_by_role("heading", name="Segments")).to_be_visible()
    expect(page.get_by_role("link", name="New segment")).to_have_count(0)
    page.goto("/segments/new")
    cond(page, "root.conditions[0]").get_by_label("Field").fill("email")
    cond(page, "root.conditions[0]").get_by_label("Operator").select_option("exists")
    expect(preview_count(page)).not_to_have_text("0")
    expect(page.get_by_role("button", name="Save segment")).to_have_count(0)


def test_the_flow_report_shows_who_entered_between_two_days(
    admin_page: Page, live_server: LiveServer
) -> None:
    searched = {
        "type": "event",
        "event": "Products Searched",
        "window": {"kind": "last", "amount": 7, "unit": "days"},
    }
    with live_server.api() as api:
        resp = api.post(
            "/api/v1/segments",
            json={
                "name": "Searched this week",
                "kind": "rules",
                "definition": {"version": 1, "root": searched},
            },
        )
        resp.raise_for_status()
        seg = resp.json()
        api.post(f"/api/v1/segments/{seg['id']}/refresh").raise_for_status()
    today = datetime.now(UTC).date()
    page = admin_page
    page.goto("/segments/flow")
    page.get_by_role("group", name="Segments to compare").get_by_text("Searched this week").click()
    page.get_by_label("From", exact=True).fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show flow").click()
    expect(page).to_have_url(re.compile(rf"ids={seg['id']}"))
    matrix = page.get_by_test_id("flow-matrix")
    # Nobody was a member yesterday; all 56 were today: they all came from "in none".
    none_row = matrix.locator("tbody tr", has_text="in none")
    expect(none_row.locator("td").first).to_have_text(str(SEARCHERS))
    expect(page.get_by_test_id("flow-sankey").get_by_role("img")).to_be_visible()
    screenshot(page, "segment-flow")


def test_a_parameter_gets_an_input_and_its_value_drives_the_count(admin_page: Page) -> None:
    page = admin_page
    page.goto("/segments/new")
    cond(page, "root.conditions[0]").get_by_role("button", name="Remove condition").click()
    add_condition(page, "root", "Event")
    event = cond(page, "root.conditions[0]")
    event.get_by_label("Event", exact=True).fill("Products Searched")
    event.get_by_label("Compared value").fill("@times")
    # Declared with no value yet: the count waits, and the condition says why.
    expect(page.get_by_test_id("params")).to_contain_text("@times")
    expect(page.get_by_test_id("errors-root.conditions[0]")).to_contain_text("@times")
    page.get_by_label("Value of @times").fill("2")
    expect(preview_count(page)).to_have_text("0")  # each shopper searched once
    page.get_by_label("Value of @times").fill("1")
    expect(preview_count(page)).to_have_text(str(SEARCHERS))
    page.get_by_role("tab", name="JSON").click()
    json_view = page.get_by_test_id("definition-json")
    expect(json_view).to_contain_text('"@times"')
    expect(json_view).to_contain_text('"default": 1')


def test_a_real_time_segment_page_moves_when_an_event_arrives(
    admin_page: Page, live_server: LiveServer
) -> None:
    wished = {"type": "event", "event": "Wishlist Added"}
    with live_server.api() as api:
        resp = api.post(
            "/api/v1/segments",
            json={
                "name": "Wishlisters",
                "kind": "rules",
                "realtime": True,
                "definition": {"version": 1, "root": wished},
            },
        )
        resp.raise_for_status()
        seg = resp.json()
        api.post(f"/api/v1/segments/{seg['id']}/refresh").raise_for_status()
    page = admin_page
    page.goto(f"/segments/{seg['id']}")
    expect(page.get_by_test_id("live")).to_be_visible()
    expect(page.get_by_test_id("segment-size")).to_have_text("0")
    event = {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "userId": "cust-2007",
        "event": "Wishlist Added",
        "properties": {"sku": "sku-9"},
        "timestamp": datetime.now(UTC).isoformat(),
    }
    send(live_server.url, live_server.ws, [event])
    # No reload: the page refreshes a real-time segment's size and entries by itself.
    expect(page.get_by_test_id("segment-size")).to_have_text("1")
    expect(page.get_by_test_id("segment-events")).to_contain_text("Shopper7")
    expect(page.get_by_test_id("segment-events")).to_contain_text("entered")
