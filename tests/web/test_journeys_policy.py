"""The contact policy page in Chromium: caps, quiet hours, fatigue and the default timezone
saved and read back; a refused field shown where it is; the held-back log filled by the real
policy gate; a marketer may look but not change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from retenta.policy.gate import PolicyGate
from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import get

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Send:
    send_id: str
    contact_id: int
    category: str


@pytest.fixture
def clean_policy(live_server: LiveServer) -> Iterator[None]:
    """The session's server is shared: leave no rule behind to hold other tests' sends."""
    with live_server.api() as api:
        api.put("/api/v1/policy", json={}).raise_for_status()
    yield
    with live_server.api() as api:
        api.put("/api/v1/policy", json={}).raise_for_status()


def test_an_admin_sets_the_contact_policy_and_sees_what_it_held_back(
    page: Page, live_server: LiveServer, clean_policy: None
) -> None:
    page = logged_in(page, live_server, "admin")
    page.goto("/policy")
    form = page.get_by_role("form", name="Contact policy")
    expect(form).to_contain_text("No caps.")
    form.get_by_role("button", name="Add a cap").click()
    form.get_by_label("Cap 1 channel").select_option("sms")
    form.get_by_label("Cap 1 max").fill("1")
    form.get_by_label("Cap 1 window").select_option("day")
    form.get_by_label("Cap 1 action").select_option("drop")
    form.get_by_label("Quiet hours on").check()
    form.get_by_label("Quiet hours start").fill("22:00")
    form.get_by_label("Quiet hours end").fill("08:00")
    form.get_by_role("button", name="Add a fatigue rule").click()
    form.get_by_label("Fatigue 1 unopened").fill("4")
    form.get_by_label("Default timezone").fill("Europe/Kyiv")
    priorities = form.get_by_test_id("policy-priorities")
    priorities.get_by_label("Priority trigger").fill("220")
    priorities.get_by_role("button", name="Add an override").click()
    priorities.get_by_label("Override 1 id").fill("cmp_flash_sale")
    priorities.get_by_label("Override 1 priority").fill("260")
    preemption = form.get_by_test_id("policy-preemption")
    expect(preemption.get_by_label("Pre-emption on")).to_be_checked()
    preemption.get_by_label("Due within amount").fill("30")
    preemption.get_by_label("Pre-empted action").select_option("drop")
    form.get_by_test_id("policy-preferences").get_by_label("weekly max").fill("2")
    form.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_have_text("Policy saved.")

    stored = get(live_server, "/api/v1/policy")
    assert stored["caps"] == [{"channel": "sms", "max": 1, "per": {"amount": 7, "unit": "days"},
                               "window": "day", "categories": ["trigger", "promo"],
                               "action": "drop"}]  # fmt: skip
    assert stored["quiet_hours"]["start"].startswith("22:00")
    assert stored["quiet_hours"]["end"].startswith("08:00")
    assert stored["fatigue"] == [{"channel": "email", "unopened": 4, "categories": ["promo"]}]
    assert stored["default_timezone"] == "Europe/Kyiv"
    assert stored["priorities"]["trigger"] == 220
    assert stored["priorities"]["overrides"] == {"cmp_flash_sale": 260}
    assert stored["preemption"] == {"enabled": True, "horizon": {"amount": 30, "unit": "minutes"},
                                    "action": "drop"}  # fmt: skip
    assert stored["preferences"]["frequencies"]["weekly"]["max"] == 2

    # A refused value is named at its field, and nothing is saved.
    form.get_by_label("Cap 1 max").fill("-1")
    form.get_by_role("button", name="Save policy").click()
    cap_error = form.get_by_test_id("policy-cap").locator("xpath=..").get_by_role("alert")
    expect(cap_error).to_contain_text("caps.0.max")
    assert get(live_server, "/api/v1/policy")["caps"][0]["max"] == 1

    # The real gate, on the server's database, holds the second SMS of the day and logs why.
    gate = PolicyGate(live_server.container.db)
    noon_in_kyiv = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    # Decided highest priority first: the trigger takes the day's one slot from the promo.
    sends = [Send("snd_policy_ui_2", 424242, "promo"), Send("snd_policy_ui_1", 424242, "trigger")]
    allowed, held = gate.split(live_server.ws.id, "sms", sends, {424242: None}, noon_in_kyiv)
    assert [s.send_id for s in allowed] == ["snd_policy_ui_1"]
    assert [s.send_id for s, _ in held] == ["snd_policy_ui_2"]

    page.reload()
    log = page.get_by_test_id("policy-held")
    row = log.locator("tbody tr").filter(has_text="#424242")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("drop")
    expect(row).to_contain_text("sms")
    expect(row.get_by_test_id("displaced-by")).to_have_text("pre-empted by snd_policy_ui_1")
    expect(row.get_by_role("link", name="#424242")).to_have_attribute("href", "/contacts/424242")
    log.get_by_label("Contact id").fill("1")
    expect(log).to_contain_text("Nothing held back.")
    screenshot(page, "policy")

    # Read back into the form after a reload.
    form = page.get_by_role("form", name="Contact policy")
    expect(form.get_by_label("Cap 1 max")).to_have_value("1")
    expect(form.get_by_label("Quiet hours start")).to_have_value("22:00")
    expect(form.get_by_label("Default timezone")).to_have_value("Europe/Kyiv")
    expect(form.get_by_label("Override 1 id")).to_have_value("cmp_flash_sale")
    expect(form.get_by_label("Pre-empted action")).to_have_value("drop")


def test_a_marketer_sees_the_policy_but_cannot_change_it(
    page: Page, live_server: LiveServer, clean_policy: None
) -> None:
    page = logged_in(page, live_server, "marketer")
    page.goto("/policy")
    form = page.get_by_role("form", name="Contact policy")
    expect(form.get_by_role("button", name="Add a cap")).to_be_disabled()
    expect(form).to_contain_text("Only admins change the policy.")
    expect(form.get_by_role("button", name="Save policy")).to_have_count(0)
