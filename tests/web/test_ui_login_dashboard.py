"""Log-in and the live dashboard, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, log_in, screenshot
from tests.web.seed import PASSWORD, live_events, send

pytestmark = pytest.mark.browser


def test_a_visitor_is_sent_to_login_and_back_to_the_page_they_wanted(
    page: Page, live_server: LiveServer
) -> None:
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsettings$"))
    screenshot(page, "login")
    page.get_by_label("Email").fill(live_server.users["admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()


def test_a_wrong_password_shows_a_clear_message_and_no_session(
    page: Page, live_server: LiveServer
) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(live_server.users["marketer"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    screenshot(page, "login-failed")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_log_out_ends_the_session(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server.users["analyst"])
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/contacts")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def _stat(page: Page, name: str) -> int:
    return int(page.get_by_test_id(f"stat-{name}-value").inner_text().replace(",", ""))


def test_the_dashboard_shows_live_numbers_and_moves_by_itself(
    page: Page, live_server: LiveServer
) -> None:
    log_in(page, live_server.users["analyst"])
    expect(page.get_by_test_id("stat-events-value")).not_to_have_text("0")
    before = _stat(page, "events")
    assert before >= 20  # the seeded batches
    assert _stat(page, "contacts") > 0
    for name in ("events", "contacts", "merges", "imports"):
        expect(page.get_by_test_id(f"chart-{name}").locator("canvas")).to_have_count(1)
    screenshot(page, "dashboard")
    send(live_server.url, live_server.ws, live_events(7))
    # No reload: the page polls the stats endpoint every few seconds on its own.
    expect(page.get_by_test_id("stat-events-value")).to_have_text(f"{before + 7:,}", timeout=20_000)
    expect(page.get_by_test_id("updated-at")).to_contain_text("updated")
