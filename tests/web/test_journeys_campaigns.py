"""The campaign wizard in Chromium: a campaign to a segment made in the wizard (message,
channel, schedule now, throttle), scheduled, sent by the server's campaign runner, its progress
on the page; an A/B test saved as a draft with its settings; a refused field shown in its
step. In-app is the channel: it needs no provider, so no shared channel setting is left
behind for the other browser tests."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import create_message, get, unique
from tests.web.seed import send

pytestmark = pytest.mark.browser


def inapp(text: str) -> dict:
    return {"inapp": {"title": {"en": "Hello"}, "body": {"en": text}}}


def one_contact_segment(live: LiveServer) -> tuple[dict, int]:
    """A fresh contact with in-app consent and a segment holding only her. The workspace's
    global control group is emptied: at its default 5 % a random contact is held out of every
    promo campaign one run in twenty."""
    email = f"campaign-{uuid.uuid4().hex[:8]}@example.org"
    user = f"camp-{uuid.uuid4().hex[:8]}"
    send(live.url, live.ws, [{"type": "identify", "userId": user, "messageId": str(uuid.uuid4()),
                              "traits": {"email": email}}])  # fmt: skip
    with live.api() as api:
        api.put("/api/v1/campaign-settings", json={"global_control_pct": 0}).raise_for_status()
        contact = api.get("/api/v1/contacts/lookup", params={"email": email})
        contact.raise_for_status()
        contact_id = int(contact.json()["id"])
        for channel in ("inapp", "email"):
            consent = {"channel": channel, "status": "subscribed", "source": "test"}
            api.post(f"/api/v1/contacts/{contact_id}/consents", json=consent).raise_for_status()
        condition = {"type": "attribute", "field": "email", "value_type": "text", "op": "equals",
                     "value": email}  # fmt: skip
        body = {"name": unique("Campaign audience"), "kind": "rules",
                "definition": {"version": 1, "root": condition}}  # fmt: skip
        resp = api.post("/api/v1/segments", json=body)
        resp.raise_for_status()
    return resp.json(), contact_id


def test_a_campaign_made_in_the_wizard_is_sent_and_shows_its_progress(
    page: Page, live_server: LiveServer
) -> None:
    segment, contact_id = one_contact_segment(live_server)
    message = create_message(live_server, name=unique("Sale"), category="promo",
                             channels=inapp("Winter sale"))  # fmt: skip
    page = logged_in(page, live_server, "marketer")
    page.goto("/campaigns")
    page.get_by_role("link", name="New campaign").click()
    form = page.get_by_role("form", name="Campaign")
    name = unique("Winter sale")
    form.get_by_label("Campaign name").fill(name)
    form.get_by_test_id("step-1").get_by_label("Segment", exact=True).select_option(segment["id"])
    form.get_by_test_id("step-2").get_by_label("Message", exact=True).select_option(message["id"])
    channels = form.get_by_test_id("step-3")
    channels.get_by_label("Add a channel").select_option("inapp")
    channels.get_by_role("button", name="Remove email").click()
    form.get_by_text("Limit the sending rate").click()
    form.get_by_label("Sends per second").fill("20")
    form.get_by_role("button", name="Save and schedule").click()

    expect(page).to_have_url(re.compile(r"/campaigns/(?!new$)[^/]+$"))
    campaign_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("campaign-status")).to_have_text("sent", timeout=30_000)
    progress = page.get_by_test_id("campaign-progress")
    expect(progress.get_by_test_id("progress-recipients")).to_contain_text("1")
    expect(progress.get_by_test_id("progress-queued")).to_contain_text("1")
    screenshot(page, "campaign-progress")

    stored = get(live_server, f"/api/v1/campaigns/{campaign_id}")
    assert stored["definition"]["segment_id"] == segment["id"]
    assert stored["definition"]["message_id"] == message["id"]
    assert stored["definition"]["channel"] == "inapp"
    assert stored["definition"]["throttle"]["per_second"] == 20
    assert stored["progress"]["recipients"] == 1
    sends = get(live_server, f"/api/v1/sends?contact_id={contact_id}")["sends"]
    assert [(s["message_id"], s["channel"]) for s in sends] == [(message["id"], "inapp")]

    page.goto("/campaigns")
    expect(page.get_by_test_id("campaign-row").filter(has_text=name)).to_contain_text("sent")


def test_an_ab_test_is_saved_with_its_settings_and_a_refused_field_is_shown(
    page: Page, live_server: LiveServer
) -> None:
    a = create_message(live_server, name=unique("Variant A"), category="promo",
                       channels=inapp("A"))  # fmt: skip
    b = create_message(live_server, name=unique("Variant B"), category="promo",
                       channels=inapp("B"))  # fmt: skip
    page = logged_in(page, live_server, "marketer")
    page.goto("/campaigns/new")
    form = page.get_by_role("form", name="Campaign")
    form.get_by_label("Campaign name").fill(unique("A/B"))

    # No segment chosen: the server names the field, and the wizard shows it in step 1.
    form.get_by_test_id("step-2").get_by_label("Message", exact=True).select_option(a["id"])
    form.get_by_role("button", name="Save draft").click()
    expect(form.get_by_test_id("step-1").get_by_role("alert")).to_contain_text("segment_id")
    expect(page).to_have_url(re.compile(r"/campaigns/new$"))

    form.get_by_test_id("step-1").get_by_label("Send to").select_option("all_consented")
    content = form.get_by_test_id("step-2")
    content.get_by_text("A/B/n test between messages").click()
    content.get_by_label("Variant A", exact=True).select_option(a["id"])
    content.get_by_label("Variant B", exact=True).select_option(b["id"])
    content.get_by_label("Test sample (% of the audience)").fill("30")
    content.get_by_label("Test wait amount").fill("2")
    content.get_by_label("Test metric").select_option("opens")
    schedule = form.get_by_test_id("step-4")
    schedule.get_by_label("Schedule type").select_option("local")
    schedule.get_by_label("Local time").fill("10:00")
    schedule.get_by_label("Fallback timezone").fill("Europe/Kyiv")
    form.get_by_role("button", name="Save draft").click()

    expect(page.get_by_test_id("campaign-status")).to_have_text("draft")
    campaign_id = page.url.rsplit("/", 1)[1]
    doc = get(live_server, f"/api/v1/campaigns/{campaign_id}")["definition"]
    assert doc["variants"] == [a["id"], b["id"]]
    assert doc["ab_test"]["sample_pct"] == 30
    assert doc["ab_test"]["wait"] == {"amount": 2, "unit": "hours"}
    assert doc["ab_test"]["metric"] == "opens"
    assert doc["schedule"]["type"] == "local"
    assert doc["schedule"]["time"].startswith("10:00")
    assert doc["schedule"]["fallback_timezone"] == "Europe/Kyiv"
    expect(page.get_by_text(f"A: {a['id']}, B: {b['id']}")).to_be_visible()

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("cancelled")
    with httpx.Client(base_url=live_server.url, headers=live_server.ws.api_headers) as api:
        assert api.get(f"/api/v1/campaigns/{campaign_id}").json()["status"] == "cancelled"


def test_a_campaign_sends_at_each_contacts_best_time(page: Page, live_server: LiveServer) -> None:
    message = create_message(live_server, name=unique("Best time"), category="promo",
                             channels=inapp("Now is good"))  # fmt: skip
    page = logged_in(page, live_server, "marketer")
    page.goto("/campaigns/new")
    form = page.get_by_role("form", name="Campaign")
    form.get_by_label("Campaign name").fill(unique("Optimal"))
    form.get_by_test_id("step-1").get_by_label("Send to").select_option("all_consented")
    form.get_by_test_id("step-2").get_by_label("Message", exact=True).select_option(message["id"])
    schedule = form.get_by_test_id("step-4")
    schedule.get_by_label("Send time").select_option("optimal")
    # A local schedule fixes the hour itself: the option is not offered there.
    schedule.get_by_label("Schedule type").select_option("local")
    expect(schedule.get_by_label("Send time")).to_have_count(0)
    schedule.get_by_label("Schedule type").select_option("now")
    schedule.get_by_label("Send time").select_option("optimal")
    form.get_by_role("button", name="Save draft").click()

    expect(page.get_by_test_id("campaign-status")).to_have_text("draft")
    expect(page.get_by_text("each contact at their best time")).to_be_visible()
    campaign_id = page.url.rsplit("/", 1)[1]
    doc = get(live_server, f"/api/v1/campaigns/{campaign_id}")["definition"]
    assert (doc["schedule"]["type"], doc["schedule"]["send_time"]) == ("now", "optimal")
