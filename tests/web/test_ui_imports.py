"""The import wizard, in Chromium: upload, map, start, progress, validation report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot

pytestmark = pytest.mark.browser

CSV = (
    b"E-mail,Phone,First name,Customer ID,Loyalty tier\n"
    b"iryna@example.com,+380671112233,Iryna,imp-1,gold\n"
    b"taras@example.com,0931112233,Taras,imp-2,silver\n"
    b"not-an-email,not-a-phone,Broken,,bronze\n"
    b"dmytro@example.com,,Dmytro,imp-4,gold\n"
)


def upload(page: Page, name: str = "customers.csv", body: bytes = CSV) -> None:
    page.goto("/imports")
    page.get_by_label("File to import").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": body}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("mapping-table")).to_be_visible()


def test_a_csv_is_mapped_imported_and_reported(admin_page: Page, live_server: LiveServer) -> None:
    page = admin_page
    upload(page)
    # The server's suggestion pre-fills the dropdowns.
    expect(page.get_by_label("Field for E-mail")).to_have_value("email")
    expect(page.get_by_label("Field for Phone")).to_have_value("phone")
    expect(page.get_by_label("Field for Customer ID")).to_have_value("external_id")
    page.get_by_label("Field for Loyalty tier").select_option("attr.loyalty_tier")
    page.get_by_label("Save mapping as").fill("Web shop customers")
    screenshot(page, "import-mapping")
    page.get_by_role("button", name="Start import").click()
    expect(page).to_have_url(re.compile(r"/imports/[^/]+$"))
    expect(page.get_by_test_id("import-status")).to_have_text("done", timeout=20_000)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("accepted-rows")).to_contain_text("3")
    expect(page.get_by_test_id("rejected-rows")).to_contain_text("1")
    report = page.get_by_test_id("rejects")
    expect(report).to_contain_text("not-an-email")
    # Every reason given is about the one bad line: row 4 (the header is row 1).
    rows = report.get_by_test_id("reject-row").locator("td:first-child").all_inner_texts()
    assert rows
    assert set(rows) == {"4"}
    screenshot(page, "import-done")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    report_csv = Path(download.value.path()).read_text(encoding="utf-8")
    assert report_csv.startswith("row_number,field,reason,raw")
    assert "not-an-email" in report_csv
    newest = page.get_by_test_id("past-imports").locator("tbody tr").first
    expect(newest).to_contain_text("customers.csv")
    expect(newest).to_contain_text("done")
    with live_server.api() as api:
        found = api.get("/api/v1/contacts", params={"q": "taras@example.com"}).json()
        assert [c["external_id"] for c in found["items"]] == ["imp-2"]
        saved = api.get("/api/v1/import-mappings").json()
        assert "Web shop customers" in [m["name"] for m in saved]


def test_a_saved_mapping_can_be_applied_to_a_new_file(
    admin_page: Page, live_server: LiveServer
) -> None:
    mapping = {"E-mail": "email", "Customer ID": "external_id", "Loyalty tier": "attr.tier"}
    with live_server.api() as api:
        body = {"name": "CRM export", "entity": "contacts", "mapping": mapping}
        api.post("/api/v1/import-mappings", json=body).raise_for_status()
    page = admin_page
    upload(page, "crm.csv")
    expect(page.get_by_label("Field for Loyalty tier")).to_have_value("")  # not suggested
    page.get_by_label("Saved mapping").select_option("CRM export")
    expect(page.get_by_label("Field for Loyalty tier")).to_have_value("attr.tier")
    expect(page.get_by_label("Field for Phone")).to_have_value("")  # the saved one skips it


def test_a_file_that_is_not_a_table_gets_a_clear_error(admin_page: Page) -> None:
    page = admin_page
    page.goto("/imports")
    page.get_by_label("File to import").set_input_files(
        files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n..."}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_test_id("mapping-table")).to_have_count(0)


def test_an_analyst_sees_past_imports_but_cannot_start_one(
    page: Page, live_server: LiveServer
) -> None:
    logged_in(page, live_server, "analyst")
    page.goto("/imports")
    expect(page.get_by_test_id("past-imports")).to_be_visible()
    expect(page.get_by_text("Your role can view imports but not start them.")).to_be_visible()
    expect(page.get_by_label("File to import")).to_have_count(0)
