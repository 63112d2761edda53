"""The delivery log, in Chromium: a real send (send API → dispatcher → local SMTP server)
shown per message and on the contact's page with its status timeline; a test send."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import (
    SmtpSink,
    create_message,
    email_only,
    put_email_channel,
    unique,
)
from tests.web.seed import ANNA

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def send_and_wait(live: LiveServer, body: dict[str, Any], timeout_s: float = 30) -> dict[str, Any]:
    """POST /api/v1/messages/send, then poll the send until its status is final."""
    with live.api() as api:
        resp = api.post(
            "/api/v1/messages/send", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert resp.status_code == 202, resp.text
        send_id = resp.json()["send_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            send = api.get(f"/api/v1/sends/{send_id}").json()
            if send["status"] not in ("queued", "sending"):
                return dict(send)
            time.sleep(0.2)
    raise AssertionError(f"send {send_id} still {send['status']} after {timeout_s} s")


def test_a_send_shows_in_the_message_log_and_on_the_contact_with_its_timeline(
    page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    put_email_channel(live_server, "transactional", sink.port, category="transactional")
    message = create_message(
        live_server, name=unique("Order confirmation"), category="transactional",
        channels=email_only("Order {{ data.order_id }} is in", "Thanks {{ contact.first_name }}"),
    )  # fmt: skip
    body = {"message_id": message["id"], "contact": {"email": ANNA["email"]}, "channel": "email",
            "data": {"order_id": "A-17"}}  # fmt: skip
    send = send_and_wait(live_server, body)
    assert send["status"] == "sent", send
    assert len(sink.received_by(ANNA["email"])) >= 1

    logged_in(page, live_server, "analyst")
    page.goto(f"/messages/{message['id']}")
    page.get_by_role("tab", name="Delivery log").click()
    rows = page.get_by_test_id("send-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("sent")
    expect(rows.first).to_contain_text("email")
    rows.first.locator("td").first.click()
    timeline = page.get_by_test_id("send-timeline")
    expect(timeline).to_contain_text(send["send_id"])
    expect(timeline.get_by_test_id("send-event").filter(has_text="sent")).to_have_count(1)
    screenshot(page, "messaging-delivery-log")

    # The contact's page: the Deliveries tab lists the same send, linked to its message.
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("contact-page")).to_be_visible()
    page.get_by_role("tab", name="Deliveries").click()
    mine = page.get_by_test_id("send-row").filter(has_text=message["id"])
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("sent")
    mine.locator("td").first.click()
    expect(page.get_by_test_id("send-timeline")).to_contain_text(send["send_id"])
    # And the workspace-wide log filters by message.
    page.goto(f"/messages/log?message_id={message['id']}")
    expect(page.get_by_test_id("send-row")).to_have_count(1)


def test_a_suppressed_contact_shows_as_suppressed_and_gets_nothing(
    page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    put_email_channel(live_server, "transactional", sink.port, category="transactional")
    address = f"blocked-{uuid.uuid4().hex[:6]}@example.com"
    with live_server.api() as api:
        resp = api.post("/api/v1/contacts", json={"identifiers": {"email": address}})
        assert resp.status_code in (200, 201), resp.text
        api.post("/api/v1/suppressions", json={"address": address, "reason": "complaint"})
    message = create_message(
        live_server, name=unique("Receipt"), category="transactional",
        channels=email_only("Receipt", "Thanks"),
    )  # fmt: skip
    send = send_and_wait(
        live_server,
        {"message_id": message["id"], "contact": {"email": address}, "channel": "email"},
    )
    assert send["status"] == "suppressed", send
    assert sink.received_by(address) == []
    logged_in(page, live_server, "analyst")
    page.goto(f"/messages/{message['id']}?tab=log")
    row = page.get_by_test_id("send-row")
    expect(row).to_contain_text("suppressed")
    page.get_by_label("Send status").select_option("sent")  # the server filters by status
    expect(page.get_by_text("No sends yet.")).to_be_visible()
    page.get_by_label("Send status").select_option("suppressed")
    expect(row).to_have_count(1)


def test_a_test_send_reaches_the_addresses_marked_as_a_test(
    page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    put_email_channel(live_server, "test", sink.port)
    message = create_message(
        live_server, name=unique("Launch"), category="promo",
        channels=email_only("Launch day", "It is here"),
    )  # fmt: skip
    logged_in(page, live_server, "marketer")
    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Test addresses").fill("qa@shop.example,\nboss@shop.example")
    page.get_by_role("button", name="Send test").click()
    result = page.get_by_test_id("test-send-result")
    expect(result).to_contain_text("qa@shop.example: sent")
    expect(result).to_contain_text("boss@shop.example: sent")
    received = sink.received_by("qa@shop.example")
    assert received, "the test send did not reach the SMTP server"
    assert b"[Test] Launch day" in received[-1].original_content
    # A test is never recorded on a contact: the message's log stays empty.
    page.get_by_role("tab", name="Delivery log").click()
    expect(page.get_by_text("No sends yet.")).to_be_visible()
