"""The block library, in Chromium: create, edit (each save a new version), version history,
used-by, and an edit reaching every message that uses the block."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import create_message, footer_block, get, section, unique

pytestmark = pytest.mark.browser


def test_a_marketer_creates_a_block_with_two_languages(page: Page, live_server: LiveServer) -> None:
    name = unique("Promo banner")
    logged_in(page, live_server, "marketer")
    page.goto("/messages/blocks")
    page.get_by_role("link", name="New block").click()
    page.get_by_label("Block name").fill(name)
    page.get_by_label("Kind").select_option("promo_code")
    page.get_by_label("MJML (en)").fill(section("Your code: {{ promo_code }}"))
    page.get_by_label("New email language").fill("uk")
    page.get_by_role("button", name="+ Language").first.click()
    page.get_by_label("MJML (uk)").fill(section("Ваш код: {{ promo_code }}"))
    page.get_by_role("button", name="Create block").click()
    expect(page).to_have_url(re.compile(r"/messages/blocks/blk_[0-9a-f]{16}$"))
    expect(page.get_by_test_id("block-version")).to_have_text("version 1")
    block = get(live_server, f"/api/v1/blocks/{page.url.rsplit('/', 1)[1]}")
    assert block["kind"] == "promo_code"
    assert block["email"] == {
        "en": section("Your code: {{ promo_code }}"),
        "uk": section("Ваш код: {{ promo_code }}"),
    }
    page.get_by_role("link", name="Block library", exact=True).click()
    expect(page.get_by_test_id("block-row").filter(has_text=name)).to_contain_text("en, uk")


def test_an_edit_makes_a_new_version_that_messages_using_the_block_render(
    page: Page, live_server: LiveServer
) -> None:
    footer = footer_block(live_server)
    channels = {
        "email": {
            "subject": {"en": "News"},
            "body": [{"mjml": {"en": section("Body")}}, {"block": footer["id"]}],
        }
    }
    message = create_message(
        live_server, name=unique("Newsletter"), category="promo", channels=channels
    )
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/blocks/{footer['id']}")
    used = page.get_by_test_id("used-by")
    expect(used.get_by_role("link", name=message["name"])).to_be_visible()
    expect(used).to_contain_text("email")
    source = page.get_by_label("MJML (en)")
    source.fill(source.input_value().replace("Shop footer v1", "Shop footer v2"))
    page.get_by_role("button", name="Save as new version").click()
    expect(page.get_by_test_id("block-version")).to_have_text("version 2")
    rows = page.get_by_test_id("block-version-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("v2")
    expect(rows.first).to_contain_text("latest")
    rows.nth(1).locator("summary").click()
    expect(rows.nth(1)).to_contain_text("Shop footer v1")  # the old version stays readable
    screenshot(page, "messaging-block")
    assert [
        v["version"] for v in get(live_server, f"/api/v1/blocks/{footer['id']}/versions")["items"]
    ] == [2, 1]
    # The message that uses it renders the new version without being edited.
    used.get_by_role("link", name=message["name"]).click()
    frame = page.frame_locator("[data-testid=preview-html]")
    expect(frame.locator("body")).to_contain_text("Shop footer v2")
    # Version 1 restored: it becomes version 3, and the message renders it again.
    page.goto(f"/messages/blocks/{footer['id']}")
    rows = page.get_by_test_id("block-version-row")
    rows.nth(1).locator("summary").click()
    rows.nth(1).get_by_role("button", name="Restore as version 3").click()
    expect(page.get_by_test_id("block-version")).to_have_text("version 3")
    latest = get(live_server, f"/api/v1/blocks/{footer['id']}")
    assert latest["version"] == 3
    assert "Shop footer v1" in latest["email"]["en"]
    page.goto(f"/messages/{message['id']}")
    expect(frame.locator("body")).to_contain_text("Shop footer v1")


def test_a_block_with_a_template_error_is_refused_with_the_line(
    page: Page, live_server: LiveServer
) -> None:
    logged_in(page, live_server, "marketer")
    page.goto("/messages/blocks/new")
    page.get_by_label("Block name").fill(unique("Broken"))
    page.get_by_label("MJML (en)").fill(
        "<mj-section><mj-column>\n<mj-text>{% if %}</mj-text>\n</mj-column></mj-section>"
    )
    page.get_by_role("button", name="Create block").click()
    expect(page.get_by_test_id("save-error")).to_contain_text("Not saved")
    expect(page.get_by_test_id("block-code-errors").locator("li.bad")).to_have_attribute(
        "data-line", "2"
    )
    expect(page).to_have_url(re.compile(r"/messages/blocks/new$"))


def test_a_block_in_use_cannot_be_deleted(page: Page, live_server: LiveServer) -> None:
    footer = footer_block(live_server)
    channels = {"email": {"subject": {"en": "x"}, "body": [{"block": footer["id"]}]}}
    create_message(live_server, name=unique("Uses footer"), category="promo", channels=channels)
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/blocks/{footer['id']}")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("is used by")
