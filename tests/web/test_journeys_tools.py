"""The journey editor's tools in Chromium: a live journey edited with its waiting run moved
to the new version (and the old version viewed read-only in the history), a dry run listing
who would have entered from the seeded past events, and a journey made from a ready
scenario in the gallery."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import create_message, email_only, get, unique
from tests.web.seed import ANNA, OLENA_ID
from tests.web.test_journeys_canvas import connect, drop

pytestmark = pytest.mark.browser


def live_journey_with_a_waiting_run(live: LiveServer) -> str:
    """An API-triggered journey, live, with Anna's run waiting at ``hold``."""
    doc = {"name": unique("Migrates"), "entry": {"trigger": {"type": "api"}}, "start": "hold",
           "nodes": [{"id": "hold", "type": "wait_event", "event": "Never Sent",
                      "timeout": {"amount": 1, "unit": "days"}, "then": "bye", "else": "bye"},
                     {"id": "bye", "type": "exit"}]}  # fmt: skip
    with live.api() as api:
        journey = api.post("/api/v1/journeys", json=doc).json()
        api.post(f"/api/v1/journeys/{journey['id']}/activate").raise_for_status()
        started = api.post(f"/api/v1/journeys/{journey['id']}/runs", json={"email": ANNA["email"]},
                           headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        assert started.json()["started"] is True, started.text
    return str(journey["id"])


def test_a_live_edit_moves_the_waiting_run_and_the_old_version_stays_readable(
    page: Page, live_server: LiveServer
) -> None:
    journey_id = live_journey_with_a_waiting_run(live_server)
    page = logged_in(page, live_server, "marketer")
    page.goto(f"/journeys/{journey_id}")
    expect(page.get_by_test_id("count-hold-waiting")).to_have_text("1", timeout=20_000)

    # Replace the wait for an event with a 2-hour wait.
    page.get_by_test_id("node-hold").click()
    page.get_by_test_id("node-panel").get_by_role("button", name="Delete node").click()
    drop(page, "wait", 40, 200)
    page.get_by_test_id("node-panel").get_by_label("Wait for amount").fill("2")
    connect(page, "entry", "start", "wait_1")
    connect(page, "wait_1", "next", "bye")
    page.get_by_role("button", name="Save new version").click()

    dialog = page.get_by_role("dialog", name="Save a live journey")
    expect(dialog.get_by_test_id("runs-in-flight")).to_contain_text("1 run is in flight")
    dialog.get_by_label("Move runs to the new version").check()
    dialog.get_by_label("Move runs at hold to").select_option("wait_1")
    dialog.get_by_role("button", name="Save new version").click()
    saved = "Saved as version 2. 1 run moved to it; 0 stayed."
    expect(page.get_by_role("status")).to_have_text(saved)
    expect(page.get_by_test_id("journey-version")).to_have_text("version 2")

    runs = get(live_server, f"/api/v1/journeys/{journey_id}/runs")["items"]
    assert [(r["version"], r["node_id"], r["state"]) for r in runs] == [(2, "wait_1", "active")]
    expect(page.get_by_test_id("count-wait_1-waiting")).to_have_text("1", timeout=20_000)

    # The history lists both versions; version 1 opens read-only with its own steps.
    page.get_by_role("button", name="History").click()
    rows = page.get_by_test_id("version-row")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="v2").get_by_test_id("version-runs")).to_have_text("1")
    expect(rows.filter(has_text="v1").get_by_test_id("version-runs")).to_have_text("0")
    v2 = rows.filter(has_text="v2")
    expect(v2.get_by_test_id("version-migration")).to_contain_text("1 run moved")
    rows.filter(has_text="v1").get_by_role("button", name="View").click()
    expect(page.get_by_test_id("viewing-version")).to_contain_text("Viewing version 1")
    expect(page.get_by_test_id("node-hold")).to_be_visible()
    expect(page.get_by_test_id("node-wait_1")).to_have_count(0)
    expect(page.get_by_label("Node palette")).to_have_count(0)
    page.get_by_test_id("node-hold").click()
    expect(page.get_by_test_id("node-panel").get_by_label("Event name")).to_be_disabled()
    screenshot(page, "journey-version-1")
    page.get_by_role("button", name="Back to the current version").click()
    expect(page.get_by_test_id("node-wait_1")).to_be_visible()
    expect(page.get_by_test_id("node-hold")).to_have_count(0)
    # Restoring version 1 loads its steps into the editor, unsaved.
    page.get_by_role("button", name="History").click()
    rows.filter(has_text="v1").get_by_role("button", name="View").click()
    page.get_by_role("button", name="Restore this version").click()
    expect(page.get_by_role("status")).to_contain_text("Version 1 restored into the editor")
    expect(page.get_by_test_id("node-hold")).to_be_visible()
    expect(page.get_by_test_id("node-wait_1")).to_have_count(0)
    expect(page.get_by_label("Node palette")).to_be_visible()
    assert get(live_server, f"/api/v1/journeys/{journey_id}")["version"] == 2


def test_a_dry_run_lists_who_would_have_entered_and_their_path(
    page: Page, live_server: LiveServer
) -> None:
    """The seeded store has Anna's "Order Completed" and Olena's "Signed In" minutes ago: a
    saved journey on the first, dry-run over the last week, lists Anna with the path she would
    have taken; the same journey edited (unsaved) to start on the second lists Olena; once
    that is saved, version 1 viewed in the history still lists Anna."""
    message = create_message(live_server, name=unique("Thanks"), category="trigger",
                             channels=email_only("Thanks", "Thank you"))  # fmt: skip
    doc = {"name": unique("Thank buyers"),
           "entry": {"trigger": {"type": "event", "event": "Order Completed"}},
           "start": "thanks",
           "nodes": [{"id": "thanks", "type": "send", "message_id": message["id"], "next": "bye"},
                     {"id": "bye", "type": "exit"}]}  # fmt: skip
    with live_server.api() as api:
        journey = api.post("/api/v1/journeys", json=doc).json()
        anna = api.get("/api/v1/contacts/lookup", params={"email": ANNA["email"]}).json()
        # By the userId her "Signed In" came with: test_ui_contacts, when it runs first on the
        # same live server, unmerges her email back onto her anonymous contact.
        olena = api.get("/api/v1/contacts/lookup", params={"external_id": OLENA_ID}).json()
    page = logged_in(page, live_server, "marketer")
    page.goto(f"/journeys/{journey['id']}")
    page.get_by_role("button", name="Dry run").click()
    panel = page.get_by_test_id("dry-run-panel")
    panel.get_by_role("button", name="Run dry run").click()
    result = panel.get_by_test_id("dry-run-result")
    expect(result).to_be_visible()
    her = result.get_by_test_id("dry-run-contact").filter(has_text=f"#{anna['id']}")
    expect(her).to_have_count(1)
    expect(her).to_contain_text("thanks")
    expect(her).to_contain_text("bye")
    expect(her.get_by_role("link", name=f"#{anna['id']}")).to_have_attribute(
        "href", f"/contacts/{anna['id']}"
    )
    entered = int(result.get_by_test_id("dry-run-entered").inner_text())
    assert entered >= 1
    expect(page.get_by_test_id("dry-entry")).to_have_text(f"dry run: {entered} entered")
    screenshot(page, "journey-dry-run")

    # An unsaved edit is dry-run as the canvas's draft.
    page.get_by_test_id("node-entry").click()
    page.get_by_test_id("entry-panel").get_by_label("Event name").fill("Signed In")
    page.get_by_role("button", name="Dry run").click()
    panel.get_by_role("button", name="Run dry run").click()
    contacts = panel.get_by_test_id("dry-run-result").get_by_test_id("dry-run-contact")
    expect(contacts.filter(has_text=f"#{olena['id']}")).to_have_count(1)
    expect(contacts.filter(has_text=f"#{anna['id']}")).to_have_count(0)

    # Saved as version 2, version 1 (viewed in the history) is still dry-run as it was.
    page.get_by_role("button", name="Save new version").click()
    expect(page.get_by_test_id("journey-version")).to_have_text("version 2")
    page.get_by_role("button", name="History").click()
    first = page.get_by_test_id("version-row").filter(has_text="v1")
    first.get_by_role("button", name="View").click()
    page.get_by_role("button", name="Dry run").click()
    expect(panel.get_by_role("heading")).to_have_text("Dry run of version 1")
    panel.get_by_role("button", name="Run dry run").click()
    contacts = panel.get_by_test_id("dry-run-result").get_by_test_id("dry-run-contact")
    expect(contacts.filter(has_text=f"#{anna['id']}")).to_have_count(1)
    expect(contacts.filter(has_text=f"#{olena['id']}")).to_have_count(0)


def test_a_ready_scenario_is_created_from_the_gallery(page: Page, live_server: LiveServer) -> None:
    page = logged_in(page, live_server, "marketer")
    page.goto("/journeys")
    page.get_by_role("link", name="Create from a ready scenario").click()
    expect(page).to_have_url(re.compile(r"/journeys/templates$"))
    cards = page.get_by_test_id("template-card")
    expect(cards).to_have_count(14)
    cards.filter(has_text="Abandoned cart").get_by_role("button", name="Use Abandoned cart").click()
    form = page.get_by_role("form", name="Scenario parameters")
    name = unique("Cart rescue")
    form.get_by_label("New journey name").fill(name)
    form.get_by_label("First reminder after (hours)").fill("0")
    form.get_by_role("button", name="Create journey").click()
    # A refused parameter is named at its field; nothing is created.
    expect(form.get_by_role("alert")).to_contain_text("params.delay_hours")
    form.get_by_label("First reminder after (hours)").fill("3")
    form.get_by_label("Starts on").select_option("Checkout Started")
    # The preview draws what these parameters make, before anything is created.
    preview = form.get_by_test_id("journey-preview")
    expect(preview.get_by_test_id("node-entry")).to_contain_text("Checkout Started")
    expect(preview).to_contain_text("up to 3 hours")
    form.get_by_role("button", name="Create journey").click()

    expect(page).to_have_url(re.compile(r"/journeys/jny_[^/]+$"))
    expect(page.get_by_role("status")).to_contain_text("prebuilt")
    expect(page.get_by_test_id("journey-status")).to_have_text("draft")
    expect(page.get_by_test_id("node-entry")).to_contain_text("Checkout Started")
    journey_id = page.url.rstrip("/").rsplit("/", 1)[1]
    stored = get(live_server, f"/api/v1/journeys/{journey_id}")
    assert stored["name"] == name
    assert stored["definition"]["entry"]["trigger"]["event"] == "Checkout Started"
    waits = [n for n in stored["definition"]["nodes"] if n["type"] in ("wait", "wait_event")]
    assert {"amount": 3, "unit": "hours"} in [n.get("duration") or n.get("timeout") for n in waits]
    screenshot(page, "journey-from-scenario")
