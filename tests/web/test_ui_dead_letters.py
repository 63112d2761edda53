"""The dead letters room, in Chromium: a refused event is shown with its reason, fixed in
place and replayed (then stored), or discarded; an analyst only reads."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, expect

from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from tests.web.conftest import LiveServer, logged_in, screenshot

pytestmark = pytest.mark.browser


def refused_track(live: LiveServer, user_id: str) -> None:
    """A ``/v1/track`` without its event name: a 400 naming ``event``, and a dead letter."""
    resp = httpx.post(f"{live.url}/v1/track", auth=live.ws.write_auth, timeout=10,
                      json={"userId": user_id, "properties": {"plan": "pro"}})  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert "event" in resp.text


def letter_status(live: LiveServer, user_id: str) -> str:
    with live.api() as api:
        items = api.get("/api/v1/dead-letters", params={"status": "all", "limit": 500}).json()
    (found,) = [i for i in items["items"] if i["payload"].get("userId") == user_id]
    return str(found["status"])


def test_a_refused_event_is_fixed_in_place_and_replayed(
    page: Page, live_server: LiveServer
) -> None:
    user_id = f"dl-{secrets.token_hex(4)}"
    refused_track(live_server, user_id)
    page = logged_in(page, live_server, "marketer")
    page.goto("/")  # the dashboard says letters wait, and leads to them
    waiting = page.get_by_test_id("dead-letters-waiting")
    expect(waiting).to_contain_text("for a decision")
    expect(page.get_by_test_id("stat-events")).to_contain_text("refused")
    waiting.get_by_role("link", name="Dead letters").click()
    expect(page).to_have_url(re.compile(r"/dead-letters$"))
    row = page.get_by_test_id("dead-letter").filter(has_text=user_id)
    expect(row).to_contain_text("track")
    expect(row).to_contain_text("event:")  # the field, then the reason
    expect(row).to_contain_text("pending")
    row.click()
    view = page.get_by_test_id("dead-letter-view")
    expect(view.get_by_test_id("dead-letter-reasons")).to_contain_text("event")
    payload = json.loads(view.get_by_label("Payload").input_value())
    assert payload["userId"] == user_id
    assert "event" not in payload
    screenshot(page, "dead-letter")

    # Still invalid: refused with the field named, and the letter stays pending.
    view.get_by_label("Payload").fill(json.dumps({**payload, "event": ""}))
    view.get_by_role("button", name="Replay the fixed event").click()
    expect(view.get_by_role("alert")).to_contain_text("event")
    assert letter_status(live_server, user_id) == "pending"

    view.get_by_label("Payload").fill(json.dumps({**payload, "event": "Plan Chosen"}, indent=2))
    view.get_by_role("button", name="Replay the fixed event").click()
    expect(page.get_by_role("status")).to_contain_text("replayed")
    expect(page.get_by_role("status")).to_contain_text("stored")
    expect(page.get_by_test_id("dead-letter").filter(has_text=user_id)).to_have_count(0)
    assert letter_status(live_server, user_id) == "replayed"
    with live_server.api() as api:
        contact = api.get("/api/v1/contacts/lookup", params={"external_id": user_id}).json()
        events = api.get(f"/api/v1/contacts/{contact['id']}/events").json()["items"]
    assert [e["event"] for e in events] == ["Plan Chosen"]

    page.get_by_label("Show letters").select_option("replayed")
    expect(page.get_by_test_id("dead-letter").filter(has_text=user_id)).to_contain_text("replayed")


def test_a_letter_is_discarded_and_an_analyst_only_reads(
    page: Page, live_server: LiveServer
) -> None:
    kept, dropped = f"dl-{secrets.token_hex(4)}", f"dl-{secrets.token_hex(4)}"
    refused_track(live_server, kept)
    refused_track(live_server, dropped)

    analyst = logged_in(page, live_server, "analyst")
    analyst.goto("/dead-letters")
    analyst.get_by_test_id("dead-letter").filter(has_text=kept).click()
    view = analyst.get_by_test_id("dead-letter-view")
    expect(view.get_by_label("Payload")).to_have_attribute("readonly", "")
    expect(view.get_by_role("button", name="Replay")).to_have_count(0)
    expect(view.get_by_role("button", name="Discard")).to_have_count(0)
    expect(analyst.get_by_role("button", name="Replay all pending")).to_have_count(0)

    page.context.clear_cookies()
    marketer = logged_in(page, live_server, "marketer")
    marketer.goto("/dead-letters")
    marketer.get_by_test_id("dead-letter").filter(has_text=dropped).click()
    marketer.get_by_test_id("dead-letter-view").get_by_role("button", name="Discard").click()
    expect(marketer.get_by_role("status")).to_contain_text("discarded")
    expect(marketer.get_by_test_id("dead-letter").filter(has_text=dropped)).to_have_count(0)
    expect(marketer.get_by_test_id("dead-letter").filter(has_text=kept)).to_have_count(1)
    assert letter_status(live_server, dropped) == "discarded"
    assert letter_status(live_server, kept) == "pending"


def test_pending_letters_are_replayed_in_bulk_once_the_server_takes_them(
    page: Page, live_server: LiveServer
) -> None:
    """A letter an older server refused (written as it kept it) is stored by "Replay all
    pending"; the letters still refused stay pending."""
    user_id = f"dl-{secrets.token_hex(4)}"
    refused_track(live_server, f"{user_id}-still")
    payload = {"userId": user_id, "event": "Bulk Replayed", "messageId": f"{user_id}-m"}
    letter = DeadLetter(live_server.ws.id, datetime.now(UTC), "track", payload,
                        [{"field": "event", "reason": "refused by an older server"}])  # fmt: skip
    live_server.container.db.write(lambda c: insert_dead_letters(c, [letter]))

    page = logged_in(page, live_server, "marketer")
    page.goto("/dead-letters")
    expect(page.get_by_test_id("dead-letter").filter(has_text=user_id)).to_have_count(2)
    page.get_by_role("button", name="Replay all pending").click()
    page.get_by_role("dialog").get_by_role("button", name="Replay them").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Replayed 1 letter; \d+ still"))
    expect(page.get_by_test_id("dead-letter").filter(has_text=f"{user_id}-still")).to_have_count(1)
    assert letter_status(live_server, user_id) == "replayed"
    assert letter_status(live_server, f"{user_id}-still") == "pending"
    with live_server.api() as api:
        contact = api.get("/api/v1/contacts/lookup", params={"external_id": user_id}).json()
        events = api.get(f"/api/v1/contacts/{contact['id']}/events").json()["items"]
    assert [e["event"] for e in events] == ["Bulk Replayed"]
