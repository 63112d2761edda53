"""Every kind of condition, built with the builder's own controls, makes a definition the server
accepts, and the live count is the server's count of exactly that definition."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.web.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser


def cond(page: Page, path: str) -> Locator:
    return page.get_by_test_id(f"cond-{path}")


def settled(page: Page) -> None:
    """Wait until the live count answers for what is on screen (busy from each change on)."""
    expect(page.get_by_test_id("preview")).to_have_attribute("aria-busy", "false")


def definition_on_screen(page: Page) -> dict[str, Any]:
    page.get_by_role("tab", name="JSON").click()
    text = page.get_by_test_id("definition-json").input_value()
    page.get_by_role("tab", name="Visual").click()
    return json.loads(text)  # type: ignore[no-any-return]


def server_count(live: LiveServer, definition: dict[str, Any]) -> int:
    with live.api() as api:
        resp = api.post(
            "/api/v1/segments/preview", json={"kind": "rules", "definition": definition}
        )
        assert resp.status_code == 200, resp.text
        return int(resp.json()["count"])


def order_lines(c: Locator) -> None:
    c.get_by_role("button", name="+ filter").click()
    c.get_by_label("Property", exact=True).fill("total")
    c.get_by_label("Property operator").select_option("gt")
    c.get_by_label("Property value").fill("50")
    c.get_by_label("Window", exact=True).select_option("this")
    c.get_by_label("Window period").select_option("year")


def purchase_per_sku_unless_bought(c: Locator) -> None:
    c.get_by_label("Per item field").select_option("sku")
    c.get_by_label("Aggregation").select_option("sum")
    c.get_by_label("Aggregated property").fill("quantity")
    c.get_by_label("Comparison").select_option("gte")
    c.get_by_label("Compared value").fill("2")
    c.get_by_label("Window", exact=True).select_option("ever")


def viewed_but_not_bought(c: Locator) -> None:
    c.get_by_label("Event", exact=True).fill("Product Viewed")
    c.get_by_label("Per property").fill("sku")
    c.get_by_label("Window", exact=True).select_option("calendar")
    c.get_by_role("button", name="+ unless…").click()
    c.get_by_label("Unless source").select_option("purchase")
    c.get_by_label("Unless key").fill("sku")
    c.get_by_test_id("unless").get_by_label("Window", exact=True).select_option("since_first_order")


def opened_a_tagged_email(c: Locator) -> None:
    c.get_by_label("Message status").select_option("clicked")
    c.get_by_label("Message filter", exact=True).select_option("tag")
    c.get_by_label("Message filter value").fill("promo")
    c.get_by_label("Window", exact=True).select_option("between")
    c.get_by_label("Window from").fill("2026-01-01")
    c.get_by_label("Window to").fill("2027-01-01")


def subscribed_to_email(c: Locator) -> None:
    c.get_by_label("Consent status").select_option("subscribed")
    c.get_by_label("Consent channel").select_option("email")


def revenue_at_least(c: Locator) -> None:
    c.get_by_label("Trait").select_option("revenue")
    c.get_by_label("Operator").select_option("gte")
    c.get_by_label("Value", exact=True).fill("90")


def recently_active(c: Locator) -> None:
    c.get_by_label("Trait").select_option("last_activity_at")
    c.get_by_label("Operator").select_option("in_last")
    c.get_by_label("Value amount").fill("2")
    c.get_by_label("Unit").select_option("hours")


def champions_or_new(c: Locator) -> None:
    cells = c.get_by_role("group", name="RFM cells")
    cells.get_by_text("champions").click()
    cells.get_by_text("new customers").click()


def created_between(c: Locator) -> None:
    c.get_by_label("Field").fill("created_at")
    c.get_by_label("Value type").select_option("date")
    c.get_by_label("Operator").select_option("between")
    c.get_by_label("Value from").fill("2020-01-01")
    c.get_by_label("Value to").fill("2030-01-01")


CASES: list[tuple[str, Callable[[Locator], None]]] = [
    ("Orders", order_lines),
    ("Bought items", purchase_per_sku_unless_bought),
    ("Event", viewed_but_not_bought),
    ("Message engagement", opened_a_tagged_email),
    ("Consent", subscribed_to_email),
    ("Computed trait", revenue_at_least),
    ("Computed trait", recently_active),
    ("RFM cell", champions_or_new),
    ("Attribute", created_between),
]


def test_every_condition_type_counts_what_the_server_counts(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/segments/new")
    page.get_by_label("Group match").select_option("any")
    cond(page, "root.conditions[0]").get_by_role("button", name="Remove condition").click()
    for i, (menu_item, configure) in enumerate(CASES):
        cond(page, "root").get_by_role("button", name="+ Condition").first.click()
        page.get_by_role("menuitem", name=re.compile(f"^{menu_item}")).click()
        this = cond(page, f"root.conditions[{i}]")
        configure(this)
        settled(page)
        expect(page.locator(".cond-errors")).to_have_count(0)
        definition = definition_on_screen(page)
        assert len(definition["root"]["conditions"]) == i + 1
        expected = server_count(live_server, definition)
        expect(page.get_by_test_id("preview-count")).to_have_text(f"{expected:,}")
    leaf_types = {c["type"] for c in definition["root"]["conditions"]}
    assert leaf_types == {"order", "purchase", "event", "message", "consent", "trait", "rfm",
                          "attribute"}  # fmt: skip
    screenshot(page, "segment-builder-every-condition")

    # NOT around a condition, and a nested group, still count what the server counts.
    cond(page, "root.conditions[4]").get_by_role("button", name="NOT").first.click()
    expect(cond(page, "root.conditions[4]")).to_have_attribute("data-type", "not")
    cond(page, "root").get_by_role("button", name="+ Group").first.click()
    nested = cond(page, f"root.conditions[{len(CASES)}]")
    created_between(cond(page, f"root.conditions[{len(CASES)}].conditions[0]"))
    expect(nested).to_have_attribute("data-type", "all")
    settled(page)
    expect(page.locator(".cond-errors")).to_have_count(0)
    definition = definition_on_screen(page)
    expected = server_count(live_server, definition)
    expect(page.get_by_test_id("preview-count")).to_have_text(f"{expected:,}")
