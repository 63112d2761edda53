"""The suppression list, in Chromium: add (email, phone), masked hints, exact search, remove."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot

pytestmark = pytest.mark.browser


def listed_hints(live: LiveServer) -> list[str]:
    with live.api() as api:
        resp = api.get("/api/v1/suppressions", params={"limit": 1000})
        resp.raise_for_status()
        return [row["hint"] for row in resp.json()["items"]]


def add(page: Page, kind: str, value: str, reason: str) -> None:
    form = page.get_by_role("form", name="Add a suppression")
    form.get_by_label("Kind", exact=True).select_option(kind)
    form.get_by_label("Address or phone").fill(value)
    form.get_by_label("Suppression reason").select_option(reason)
    form.get_by_role("button", name="Suppress").click()


def test_a_marketer_adds_an_address_and_a_phone_seen_only_as_masked_hints(
    page: Page, live_server: LiveServer
) -> None:
    logged_in(page, live_server, "marketer")
    page.goto("/messages/suppressions")
    add(page, "email", "  Bounce.Me@Example.org ", "hard_bounce")
    expect(page.get_by_test_id("added-note")).to_contain_text("is suppressed")
    add(page, "phone", "+380 (67) 555-12-34", "complaint")
    table = page.get_by_test_id("suppressions-table")
    email_row = table.locator("tr", has_text="b***e@example.org")
    expect(email_row).to_contain_text("Hard bounce")
    phone_row = table.locator("tr", has_text="+38067******4")
    expect(phone_row).to_contain_text("Complaint")
    expect(table).not_to_contain_text("bounce.me@example.org")  # the list never shows values
    assert "b***e@example.org" in listed_hints(live_server)  # what the page showed is stored
    screenshot(page, "messaging-suppressions")
    # The same address again keeps its first reason and says so.
    add(page, "email", "bounce.me@example.org", "manual")
    expect(page.get_by_test_id("added-note")).to_contain_text("already on the list")
    expect(email_row).to_contain_text("Hard bounce")


def test_a_bad_address_is_refused_with_the_reason(page: Page, live_server: LiveServer) -> None:
    logged_in(page, live_server, "marketer")
    page.goto("/messages/suppressions")
    add(page, "email", "not-an-address", "manual")
    expect(page.get_by_role("alert")).to_contain_text("not an email address")


def test_search_finds_an_exact_address_in_any_case_and_removes_it(
    page: Page, live_server: LiveServer
) -> None:
    with live_server.api() as api:
        for i in range(3):
            body = {"address": f"filler{i}@example.net", "reason": "unsubscribed"}
            assert api.post("/api/v1/suppressions", json=body).status_code == 201
        body = {"address": "find.me@example.com", "reason": "complaint"}
        assert api.post("/api/v1/suppressions", json=body).status_code == 201
    logged_in(page, live_server, "marketer")
    page.goto("/messages/suppressions")
    search = page.get_by_label("Search the suppression list")
    search.fill("nobody.here@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("lookup-result")).to_contain_text("is not on the suppression list")
    search.fill("FIND.ME@example.com ")
    page.get_by_role("button", name="Search").click()
    result = page.get_by_test_id("lookup-result")
    expect(result).to_contain_text("find.me@example.com is suppressed (Complaint")
    result.get_by_role("button", name="Remove it").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(result).to_contain_text("is not on the suppression list")
    assert "f***e@example.com" not in listed_hints(live_server)
    assert "f***0@example.net" in listed_hints(live_server)  # only that one went


def test_text_filters_the_rows_and_the_reason_filter_asks_the_server(
    page: Page, live_server: LiveServer
) -> None:
    with live_server.api() as api:
        for address, reason in (("a1@filter.example", "manual"), ("b2@other.example", "complaint")):
            api.post("/api/v1/suppressions", json={"address": address, "reason": reason})
    logged_in(page, live_server, "analyst")
    page.goto("/messages/suppressions")
    rows = page.get_by_test_id("suppression-row")
    expect(rows.filter(has_text="filter.example")).to_have_count(1)
    page.get_by_label("Search the suppression list").fill("filter.example")
    expect(rows).to_have_count(1)
    page.get_by_label("Search the suppression list").fill("")
    page.get_by_label("Reason").select_option("complaint")
    expect(rows.filter(has_text="other.example")).to_have_count(1)
    expect(rows.filter(has_text="filter.example")).to_have_count(0)
    # An analyst reads the list but cannot change it.
    expect(page.get_by_role("form", name="Add a suppression")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)


def test_the_navigation_leads_to_the_messaging_rooms(admin_page: Page) -> None:
    page = admin_page
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    sub = page.get_by_role("navigation", name="Messaging")
    sub.get_by_role("link", name="Suppression list").click()
    expect(page).to_have_url(re.compile(r"/messages/suppressions$"))
    expect(page.get_by_role("heading", name="Suppression list", exact=True)).to_be_visible()
