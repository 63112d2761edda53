"""Settings, in Chromium: workspace, keys (secret shown once, revoke), users; roles."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, log_in, logged_in, screenshot
from tests.web.seed import PASSWORD

pytestmark = pytest.mark.browser


def test_settings_shows_the_workspace(admin_page: Page, live_server: LiveServer) -> None:
    page = admin_page
    page.goto("/settings")
    expect(page.get_by_test_id("workspace")).to_contain_text(live_server.ws.id)
    expect(page.get_by_test_id("workspace")).to_contain_text("Shop")


def test_an_admin_creates_a_key_sees_the_secret_once_and_revokes_it(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/settings")
    page.get_by_label("Key name").fill("storefront")
    page.get_by_label("Key kind").select_option("api")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret-value").inner_text()
    assert secret.startswith("rta_")
    screenshot(page, "settings-key")
    # The secret works as a Bearer key for the management API...
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{live_server.url}/api/v1/workspace", headers=headers).status_code == 200
    row = page.get_by_test_id("keys-table").locator("tr", has_text="storefront")
    expect(row).to_contain_text("active")
    expect(row).not_to_contain_text(secret)
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("new-secret")).to_have_count(0)
    # ...until it is revoked.
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    assert httpx.get(f"{live_server.url}/api/v1/workspace", headers=headers).status_code == 401


def test_an_admin_adds_a_user_who_can_then_log_in(
    admin_page: Page, live_server: LiveServer, browser_context_args: dict
) -> None:
    page = admin_page
    page.goto("/settings")
    page.get_by_label("New user email").fill("newbie@shop.example")
    page.get_by_label("New user password").fill(PASSWORD)
    page.get_by_label("New user role").select_option("analyst")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("users-table")).to_contain_text("newbie@shop.example")
    page.get_by_role("button", name="Add user").click()  # the form was cleared: nothing sent
    page.get_by_label("New user email").fill("newbie@shop.example")
    page.get_by_label("New user password").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("alert")).to_contain_text("exists")
    page.get_by_role("button", name="Log out").click()
    log_in(page, "newbie@shop.example")
    expect(page.get_by_test_id("user-role")).to_have_text("analyst")


def test_a_short_password_is_refused_with_the_reason(admin_page: Page) -> None:
    page = admin_page
    page.goto("/settings")
    page.get_by_label("New user email").fill("shorty@shop.example")
    page.get_by_label("New user password").evaluate("el => el.removeAttribute('minlength')")
    page.get_by_label("New user password").fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("alert")).to_contain_text("password")


@pytest.mark.parametrize("role", ["analyst", "marketer"])
def test_non_admins_see_no_keys_or_users(page: Page, live_server: LiveServer, role: str) -> None:
    logged_in(page, live_server, role)
    page.goto("/settings")
    expect(page.get_by_test_id("workspace")).to_contain_text("Shop")
    expect(page.get_by_test_id("admin-only-note")).to_be_visible()
    expect(page.get_by_test_id("keys")).to_have_count(0)
    expect(page.get_by_test_id("users")).to_have_count(0)
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    if role == "analyst":
        screenshot(page, "settings-analyst")
