"""The message editor, in Chromium, against the real content API: compose from blocks and
inline sections, languages, preview as a contact, template errors in the code view, SMS length."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import (
    create_message,
    email_only,
    footer_block,
    get,
    header_block,
    section,
    unique,
)
from tests.web.seed import ANNA

pytestmark = pytest.mark.browser


def preview_frame_text(page: Page) -> str:
    frame = page.frame_locator("[data-testid=preview-html]")
    return frame.locator("body").inner_text()


def test_a_marketer_composes_a_message_from_blocks_and_inline_sections(
    page: Page, live_server: LiveServer
) -> None:
    header, footer = header_block(live_server), footer_block(live_server)
    name = unique("Spring sale")
    logged_in(page, live_server, "marketer")
    page.goto("/messages/new")
    page.get_by_label("Message name").fill(name)
    page.get_by_label("Subject").fill("Spring for {{ contact.first_name | default('you') }}")
    page.get_by_label("Preheader").fill("Ten days only")
    page.get_by_label("Section 1 MJML").fill(
        section("Hello {{ contact.first_name }}, spring is here")
    )
    page.get_by_label("Block to add").select_option(header["id"])
    page.get_by_role("button", name="+ Add block").click()
    page.get_by_label("Block to add").select_option(footer["id"])
    page.get_by_role("button", name="+ Add block").click()
    # The header goes first: move it up once; its parameter is set for this message.
    page.get_by_role("button", name="Move section 2 up").click()
    page.get_by_label("Parameter title").fill('"Spring collection"')
    page.get_by_role("button", name="Create message").click()
    expect(page).to_have_url(re.compile(r"/messages/msg_[0-9a-f]+$"))
    message_id = page.url.rsplit("/", 1)[1]

    stored = get(live_server, f"/api/v1/messages/{message_id}")
    body = stored["channels"]["email"]["body"]
    assert [p.get("block") for p in body] == [header["id"], None, footer["id"]]
    assert body[0]["params"] == {"title": "Spring collection"}
    assert stored["channels"]["email"]["preheader"] == {"en": "Ten days only"}

    # Preview as nobody, then as Anna found by her email.
    expect(page.get_by_test_id("preview-subject")).to_have_text("Spring for you")
    page.get_by_label("Preview as contact").fill(ANNA["email"])
    page.get_by_role("button", name="Use").click()
    expect(page.get_by_test_id("preview-contact")).to_contain_text("#")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Spring for Anna")
    frame = page.frame_locator("[data-testid=preview-html]")
    expect(frame.locator("body")).to_contain_text("Spring collection · Shop header")
    expect(frame.locator("body")).to_contain_text("Hello Anna, spring is here")
    expect(frame.locator("body")).to_contain_text("Shop footer v1")
    text = preview_frame_text(page)
    assert text.index("Shop header") < text.index("Hello Anna") < text.index("Shop footer")
    page.get_by_role("tab", name="Plain text").click()
    expect(page.get_by_test_id("preview-plain")).to_contain_text("Hello Anna")
    screenshot(page, "messaging-editor")
    # The list shows it.
    page.goto("/messages")
    row = page.get_by_test_id("message-row").filter(has_text=name)
    expect(row).to_contain_text("promo")
    expect(row).to_contain_text("email")
    expect(row).to_contain_text("en")


def test_languages_have_their_own_subject_and_sections_and_the_preview_picks_one(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Welcome"), category="trigger", default_language="en",
        channels=email_only("Welcome", "Hi there"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("New language").fill("uk")
    page.get_by_role("button", name="+ Language").click()
    expect(page.get_by_role("tab", name="uk", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    page.get_by_label("Subject").fill("Ласкаво просимо")
    page.get_by_role("button", name="Write it in uk").click()
    page.get_by_label("Section 1 MJML").fill(section("Привіт"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("revision 2")).to_be_visible()
    stored = get(live_server, f"/api/v1/messages/{message['id']}")
    assert stored["channels"]["email"]["subject"] == {"en": "Welcome", "uk": "Ласкаво просимо"}
    assert stored["channels"]["email"]["body"][0]["mjml"]["uk"] == section("Привіт")

    page.get_by_label("Preview language").select_option("uk")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Ласкаво просимо")
    expect(page.get_by_test_id("preview-language")).to_have_text("uk")
    expect(page.frame_locator("[data-testid=preview-html]").locator("body")).to_contain_text(
        "Привіт"
    )
    page.get_by_label("Preview language").select_option("en")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Welcome")
    # The English tab still holds the English text.
    page.get_by_role("tab", name="en ★").click()
    expect(page.get_by_label("Subject")).to_have_value("Welcome")


def test_a_template_error_is_refused_with_its_line_and_shown_in_the_code_view(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Broken"), category="promo",
        channels=email_only("Hi", "fine"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    broken = (
        "<mj-section><mj-column>\n<mj-text>\n"
        "{{ contact.first_name | no_such_filter }}\n"
        "</mj-text>\n</mj-column></mj-section>"
    )
    page.get_by_label("Section 1 MJML").fill(broken)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("save-error")).to_contain_text("Not saved")
    part = page.get_by_test_id("body-part").first
    expect(part).to_contain_text("line 3")
    expect(part).to_contain_text("no_such_filter")
    page.get_by_role("tab", name="Code").click()
    bad = page.get_by_test_id("code-part").first.locator("li.bad")
    expect(bad).to_have_count(1)
    expect(bad).to_have_attribute("data-line", "3")
    screenshot(page, "messaging-code-errors")
    assert get(live_server, f"/api/v1/messages/{message['id']}")["revision"] == 1  # not saved


def test_sms_content_counts_gsm7_and_ucs2_segments_as_you_type(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Order shipped"), category="transactional",
        channels=email_only("Shipped", "On its way"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Add a channel").select_option("sms")
    text = page.get_by_label("Text", exact=True)
    count = page.get_by_test_id("sms-count")
    text.fill("a" * 160)
    expect(count).to_contain_text("GSM-7 · 160 characters · 1 segment")
    text.fill("a" * 161)
    expect(count).to_contain_text("GSM-7 · 161 characters · 2 segments")
    text.fill("a" * 69 + "€")  # the euro sign takes two septets
    expect(count).to_contain_text("GSM-7 · 71 characters · 1 segment")
    text.fill("Ваше замовлення відправлено")  # one Cyrillic letter switches to UCS-2
    expect(count).to_contain_text("UCS-2 · 27 UCS-2 units · 1 segment")
    text.fill("Я" + "a" * 70)
    expect(count).to_contain_text("UCS-2 · 71 UCS-2 units · 2 segments")
    text.fill("Your order {{ data.order_id }} is on its way")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("revision 2")).to_be_visible()
    stored = get(live_server, f"/api/v1/messages/{message['id']}")
    assert stored["channels"]["sms"]["text"] == {
        "en": "Your order {{ data.order_id }} is on its way"
    }
    expect(page.get_by_test_id("preview-text")).to_contain_text("Your order")


def test_an_analyst_reads_a_message_but_cannot_change_it(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Read only"), category="promo",
        channels=email_only("Hi", "x"),
    )  # fmt: skip
    logged_in(page, live_server, "analyst")
    page.goto(f"/messages/{message['id']}")
    expect(page.get_by_label("Subject")).to_have_value("Hi")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="+ Inline section")).to_have_count(0)


def test_template_errors_show_while_typing_before_any_save(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Typing"), category="promo", channels=email_only("Hi", "fine")
    )
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Subject").fill("Hi {{ contact.first_name")
    expect(page.get_by_test_id("subject-error")).to_be_visible()
    page.get_by_label("Subject").fill("Hi {{ contact.first_name }}")
    expect(page.get_by_test_id("subject-error")).to_have_count(0)
    source = "<mj-section><mj-column>\n<mj-text>\n{% if %}\n</mj-text>\n</mj-column></mj-section>"
    page.get_by_label("Section 1 MJML").fill(source)
    expect(page.get_by_test_id("live-errors")).to_contain_text("line 3")
    page.get_by_role("tab", name="Code").click()
    expect(page.get_by_test_id("code-part").first.locator("li.bad")).to_have_attribute(
        "data-line", "3"
    )
    assert get(live_server, f"/api/v1/messages/{message['id']}")["revision"] == 1


def test_push_and_in_app_content_is_written_per_language_and_previewed(
    page: Page, live_server: LiveServer
) -> None:
    message = create_message(
        live_server, name=unique("Back in stock"), category="trigger",
        channels=email_only("Back", "It is back"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Add a channel").select_option("push")
    expect(page.get_by_test_id("preview")).to_contain_text(
        "Save the message to preview this channel"
    )
    page.get_by_label("Title").fill("{{ contact.first_name | default('Hi') }}, it is back")
    page.get_by_label("Body").fill("The wool scarf is in stock again")
    page.get_by_label("Open URL").fill("https://shop.example/p/sku-7")
    page.get_by_label("Add a channel").select_option("inapp")
    page.get_by_label("Body").fill("Scarf restocked")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("revision 2")).to_be_visible()
    stored = get(live_server, f"/api/v1/messages/{message['id']}")["channels"]
    assert stored["push"]["title"] == {"en": "{{ contact.first_name | default('Hi') }}, it is back"}
    assert stored["push"]["url"] == {"en": "https://shop.example/p/sku-7"}
    assert stored["inapp"]["body"] == {"en": "Scarf restocked"}
    page.get_by_role("tab", name="Mobile push").click()
    page.get_by_label("Preview as contact").fill(ANNA["email"])
    page.get_by_role("button", name="Use").click()
    preview = page.get_by_test_id("preview-text")
    expect(preview).to_contain_text("Anna, it is back")
    expect(preview).to_contain_text("https://shop.example/p/sku-7")


def test_a_message_is_deleted_from_the_list(page: Page, live_server: LiveServer) -> None:
    name = unique("Obsolete")
    message = create_message(
        live_server, name=name, category="promo", channels=email_only("Old", "old")
    )
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/messages$"))
    expect(page.get_by_test_id("messages-table")).not_to_contain_text(name)
    with live_server.api() as api:
        assert api.get(f"/api/v1/messages/{message['id']}").status_code == 404


def test_the_preview_contact_is_picked_among_several_matches_and_ctrl_s_saves(
    page: Page, live_server: LiveServer
) -> None:
    tag = unique("twin").split()[1]
    with live_server.api() as api:
        for first in ("Ola", "Ivo"):
            body = {
                "identifiers": {"email": f"{tag}.{first.lower()}@twins.example"},
                "attributes": {"first_name": first},
            }
            assert api.post("/api/v1/contacts", json=body).status_code in (200, 201)
    message = create_message(
        live_server, name=unique("Twins"), category="promo",
        channels=email_only("Hi {{ contact.first_name }}", "x"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Preview as contact").fill(f"{tag}.ivo@twins.example")
    page.get_by_role("button", name="Use").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hi Ivo")  # one match: used
    # Both match the prefix: the page lists them and the user picks one.
    page.get_by_label("Preview as contact").fill(tag)
    page.get_by_role("button", name="Use").click()
    choices = page.get_by_test_id("contact-choices").get_by_role("button")
    expect(choices).to_have_count(2)
    choices.filter(has_text="ola").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hi Ola")
    expect(page.get_by_test_id("contact-choices")).to_have_count(0)
    page.get_by_label("Subject").fill("Hello {{ contact.first_name }}")
    page.keyboard.press("Control+s")
    expect(page.get_by_text("revision 2")).to_be_visible()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Ola")
