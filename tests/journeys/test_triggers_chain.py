"""History triggers fed by the real writers: a consent through the contacts API, a tag through
the lists API, a goal reached by another journey's goal node, a click on that journey's own
send appended as the tracking store appends it — each starts its journey's run once, the
trigger's details in its context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.service import for_container
from retenta.messaging.events import MessageEvent, SendContext, append
from tests.conftest import Workspace
from tests.journeys.test_runs import journey, track
from tests.journeys.test_sources import simple


def contexts(container: Container, journey_id: str) -> list[dict[str, Any]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, context->>'event', context->>'run_id', context->>'name',"
            " context->>'channel' FROM journey_runs WHERE journey_id = ? ORDER BY entered_at",
            [journey_id],
        ).fetchall()
    names = ("contact_id", "event", "run_id", "name", "channel")
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_real_writers_start_each_journey_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    welcome = journey(client, ws, simple({"type": "subscription", "channel": "email",
                                          "on": "subscribed"}, "m_welcome"))  # fmt: skip
    vip = journey(client, ws, simple({"type": "list", "kind": "tag", "name": "vip"}, "m_vip"))
    goal_node = {"id": "done", "type": "goal", "name": "Activated"}
    onboarding = journey(client, ws, {
        "name": "Onboarding", "entry": {"trigger": {"type": "event", "event": "Signed Up"}},
        "start": "done", "nodes": [goal_node]})  # fmt: skip
    follow_up = journey(client, ws, simple({"type": "goal", "journey_id": onboarding}, "m_next"))
    clicked = journey(client, ws, simple({"type": "message", "on": "clicked",
                                          "journey_id": follow_up}, "m_thanks"))  # fmt: skip
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)  # every source starts reading here

    track(client, ws, "Signed Up")  # creates the contact (userId u1) and starts onboarding
    with container.db.read() as cur:
        (person,) = cur.execute("SELECT contact_id FROM journey_runs WHERE journey_id = ?",
                                [onboarding]).fetchone()  # fmt: skip
    body = {"channel": "email", "status": "subscribed", "source": "form"}
    consent = client.post(f"/api/v1/contacts/{person}/consents", headers=ws.api_headers,
                          json=body)  # fmt: skip
    assert consent.status_code == 200, consent.text
    tag = client.post(f"/api/v1/contacts/{person}/lists", headers=ws.api_headers,
                      json={"kind": "tag", "name": "vip"})  # fmt: skip
    assert tag.status_code == 201, tag.text
    for seconds in (1, 2, 3, 4):  # onboarding converts, then its goal is read
        runner.tick(datetime.now(UTC) + timedelta(seconds=seconds))

    with container.db.read() as cur:
        send_id, message_id = cur.execute("SELECT send_id, message_id FROM sends WHERE"
                                          " campaign_id = ?", [follow_up]).fetchone()  # fmt: skip
    send = SendContext(ws.id, person, send_id, "email", follow_up, message_id)
    click = [MessageEvent(send, "clicked", datetime.now(UTC) + timedelta(seconds=s))
             for s in (5, 6)]  # two clicks, one entry  # fmt: skip
    container.db.write(lambda conn: append(conn, click))
    for seconds in (7, 8):
        runner.tick(datetime.now(UTC) + timedelta(seconds=seconds))
    assert contexts(container, clicked) == [
        {"contact_id": person, "event": "message_clicked", "run_id": None, "name": None,
         "channel": "email"}]  # fmt: skip

    [signed_up] = contexts(container, onboarding)
    with container.db.read() as cur:
        onboarding_run = cur.execute("SELECT run_id FROM journey_goals WHERE journey_id = ?",
                                     [onboarding]).fetchone()  # fmt: skip
    assert onboarding_run is not None
    assert contexts(container, welcome) == [
        {"contact_id": person, "event": "subscribed", "run_id": None, "name": None,
         "channel": "email"}]  # fmt: skip
    assert contexts(container, vip) == [
        {"contact_id": person, "event": "tag_joined", "run_id": None, "name": "vip",
         "channel": None}]  # fmt: skip
    assert contexts(container, follow_up) == [
        {"contact_id": person, "event": "goal_reached", "run_id": onboarding_run[0],
         "name": None, "channel": None}]  # fmt: skip
    assert signed_up["event"] == "Signed Up"
