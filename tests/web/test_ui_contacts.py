"""Contacts list and the 360° page, in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.seed import ANNA, OLENA, OLENA_ID, _msg, send

pytestmark = pytest.mark.browser


def search(page: Page, text: str) -> None:
    page.goto("/contacts")
    page.get_by_label("Search contacts").fill(text)
    page.get_by_role("button", name="Search").click()


def contact_id(live: LiveServer, **identifier: str) -> int:
    with live.api() as api:
        resp = api.get("/api/v1/contacts/lookup", params=identifier)
        resp.raise_for_status()
        return int(resp.json()["id"])


def test_the_list_pages_with_a_cursor(admin_page: Page) -> None:
    page = admin_page
    page.goto("/contacts")
    rows = page.get_by_test_id("contacts-table").locator("tbody tr")
    expect(rows).to_have_count(50)
    screenshot(page, "contacts")
    page.get_by_role("button", name="Load more").click()
    expect(rows).not_to_have_count(50)
    assert rows.count() > 50
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)  # the last page
    names = rows.locator("td:first-child").all_inner_texts()
    assert len(names) == len(set(names))  # the second page continues, it does not repeat


def test_search_finds_a_contact_by_email_and_by_phone_in_any_format(admin_page: Page) -> None:
    page = admin_page
    for text in (ANNA["email"], ANNA["phone"], "050 123 45 67", ANNA["external_id"]):
        search(page, text)
        expect(page).to_have_url(re.compile(r"/contacts\?q="))
        rows = page.get_by_test_id("contacts-table").locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(ANNA["email"])
    search(page, "nobody-at-all@example.com")
    expect(page.get_by_text("No contact matches")).to_be_visible()


def test_the_360_page_shows_identifiers_attributes_consents_traits_timeline_and_orders(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    search(page, ANNA["email"])
    page.get_by_role("link", name="Anna Koval").click()
    expect(page.get_by_test_id("contact-name")).to_have_text("Anna Koval")
    identifiers = page.get_by_test_id("identifiers")
    for value in (ANNA["email"], ANNA["phone"], ANNA["external_id"]):
        expect(identifiers).to_contain_text(value)
    city = page.get_by_test_id("attributes").locator(".kv-row", has_text="City")
    expect(city).to_contain_text("Kyiv")
    assert "Source: api" in (city.get_attribute("title") or "")  # provenance on hover
    consents = page.get_by_test_id("consents-current")
    expect(consents.locator("tr", has_text="promo")).to_contain_text("unsubscribed")
    page.get_by_role("button", name="History (3)").click()
    expect(page.get_by_test_id("consents-history").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("traits")).to_contain_text("98.00")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Order Completed")
    expect(timeline).to_contain_text("Product Viewed")
    expect(page.get_by_test_id("orders")).to_contain_text("ord-5001")
    expect(page.get_by_test_id("cart")).to_contain_text("Wool scarf")
    screenshot(page, "contact-360")


def test_the_timeline_loads_more(admin_page: Page, live_server: LiveServer) -> None:
    page = admin_page
    page.goto(f"/contacts/{contact_id(live_server, email=ANNA['email'])}")
    items = page.get_by_test_id("timeline-item")
    expect(items.first).to_be_visible()
    first_page = items.count()
    if page.get_by_role("button", name="Load more").count():
        page.get_by_role("button", name="Load more").click()
        expect(items).not_to_have_count(first_page)
    expect(page.get_by_test_id("timeline")).to_contain_text("identify")


def test_unmerge_splits_a_merged_contact_back_out(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    winner = contact_id(live_server, external_id=OLENA_ID)
    with live_server.api() as api:
        merges = api.get(f"/api/v1/contacts/{winner}/merges").json()
    loser = next(m["loser_id"] for m in merges if m["winner_id"] == winner)
    page.goto(f"/contacts/{loser}")  # the merged-away id leads to the live contact
    expect(page).to_have_url(re.compile(rf"/contacts/{winner}$"))
    expect(page.get_by_text(f"Merged from #{loser}")).to_be_visible()
    row = page.get_by_test_id("merge-row").filter(has=page.get_by_role("button", name="Unmerge"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"into #{winner}")
    screenshot(page, "contact-merged")
    row.get_by_role("button", name="Unmerge").click()
    page.get_by_role("dialog").get_by_role("button", name="Unmerge").click()
    expect(page.get_by_test_id("merge-row").first).to_contain_text("unmerged")
    expect(page.get_by_role("button", name="Unmerge")).to_have_count(0)
    expect(page.get_by_test_id("identifiers")).not_to_contain_text(OLENA["email"])
    assert contact_id(live_server, email=OLENA["email"]) == loser


def test_a_marketer_records_a_consent_change(page: Page, live_server: LiveServer) -> None:
    logged_in(page, live_server, "marketer")
    page.goto(f"/contacts/{contact_id(live_server, email='shopper3@example.com')}")
    expect(page.get_by_test_id("consents")).to_contain_text("No consent recorded.")
    page.get_by_label("Consent channel").select_option("sms")
    page.get_by_label("Consent topic").fill("promo")
    page.get_by_label("Consent status").select_option("subscribed")
    page.get_by_role("button", name="Record").click()
    row = page.get_by_test_id("consents-current").locator("tr", has_text="promo")
    expect(row).to_contain_text("subscribed")
    expect(row).to_contain_text("ui")
    expect(page.get_by_role("button", name="Erase…")).to_have_count(0)  # admins only


def test_an_admin_exports_a_contact_as_json(admin_page: Page, live_server: LiveServer) -> None:
    page = admin_page
    page.goto(f"/contacts/{contact_id(live_server, email=ANNA['email'])}")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    assert download.value.suggested_filename.endswith(".json")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert ANNA["email"] in json.dumps(exported)


def test_an_admin_can_erase_a_contact_after_typing_the_phrase(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    # A person of this test's own: the seeded crowd is shared by every test on this server.
    email = "erase.me@example.com"
    send(
        live_server.url,
        live_server.ws,
        [_msg("identify", 5, userId="cust-erase", traits={"email": email})],
    )
    victim = contact_id(live_server, email=email)
    page.goto(f"/contacts/{victim}")
    page.get_by_role("button", name="Erase…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Erase permanently")).to_be_disabled()
    dialog.get_by_label("Confirmation phrase").fill("ERASE")
    dialog.get_by_role("button", name="Erase permanently").click()
    expect(page).to_have_url(re.compile(r"/contacts$"))
    with live_server.api() as api:
        assert api.get(f"/api/v1/contacts/{victim}").status_code in (404, 410)


def test_an_analyst_sees_no_admin_or_marketer_actions(page: Page, live_server: LiveServer) -> None:
    logged_in(page, live_server, "analyst")
    page.goto(f"/contacts/{contact_id(live_server, email=ANNA['email'])}")
    expect(page.get_by_test_id("timeline")).to_contain_text("Order Completed")
    expect(page.get_by_role("button", name="Erase…")).to_have_count(0)
    expect(page.get_by_role("button", name="Export JSON")).to_have_count(0)
    expect(page.get_by_role("button", name="Unmerge")).to_have_count(0)
    expect(page.get_by_role("form", name="Change consent")).to_have_count(0)
