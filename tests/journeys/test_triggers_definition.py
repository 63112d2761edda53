"""The new triggers as data: what is accepted, and what is refused with the field and reason
(through the journeys API, as the canvas sends them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.definition import DefinitionError, parse
from retenta.journeys.service import for_container
from tests.conftest import Workspace
from tests.journeys.test_runs import journey
from tests.journeys.test_sources import contact, simple

ACCEPTED = [
    {"type": "schedule", "cron": "0 9 * * 1", "timezone": "contact", "segment_id": "seg_1"},
    {"type": "schedule", "cron": "*/15 8-18 * * MON-FRI", "timezone": "Europe/Kyiv",
     "segment_id": "seg_1"},
    {"type": "date", "attribute": "birthday", "offset": {"amount": 3, "unit": "days"},
     "direction": "before", "at": "09:00", "timezone": "contact", "yearly": True},
    {"type": "date", "attribute": "subscription_ends", "offset": {"amount": 1, "unit": "weeks"},
     "direction": "after", "at": "18:30", "timezone": "America/New_York", "yearly": False},
    {"type": "subscription", "channel": "email", "topic": None, "on": "subscribed"},
    {"type": "subscription", "channel": "sms", "topic": "promo", "on": "unsubscribed"},
    {"type": "list", "kind": "tag", "name": "vip", "on": "left"},
    {"type": "message", "on": "clicked", "message_id": None, "campaign_id": "cmp_1",
     "journey_id": None, "channel": "email"},
    {"type": "goal", "journey_id": "jny_1"},
]  # fmt: skip


@pytest.mark.parametrize("trigger", ACCEPTED, ids=lambda t: str(t["type"]))
def test_accepted(trigger: dict[str, Any]) -> None:
    assert parse(simple(trigger, "m")).entry.trigger.type == trigger["type"]


REFUSED = [
    ({"type": "schedule", "cron": "0 9 * *", "segment_id": "s"}, "entry.trigger.cron",
     "exactly 5 fields"),
    ({"type": "schedule", "cron": "0 0 9 * * 1", "segment_id": "s"},
     "entry.trigger.cron", "exactly 5 fields"),
    ({"type": "schedule", "cron": "0 25 * * *", "segment_id": "s"},
     "entry.trigger.cron", "bad cron expression"),
    ({"type": "schedule", "cron": "0 9 * * 1", "timezone": "Mars/Olympus", "segment_id": "s"},
     "entry.trigger.timezone", "unknown timezone 'Mars/Olympus'"),
    ({"type": "schedule", "cron": "0 9 * * 1"}, "entry.trigger.segment_id", "required"),
    ({"type": "date", "attribute": "birthday", "at": "9:00:30"}, "entry.trigger.at", ""),
    ({"type": "date", "attribute": "birthday", "offset": {"amount": 2, "unit": "hours"}},
     "entry.trigger.offset.unit", "'days' or 'weeks'"),
    ({"type": "date", "attribute": "birth day"}, "entry.trigger.attribute", "pattern"),
    ({"type": "subscription", "channel": "email", "on": "maybe"},
     "entry.trigger.on", "'subscribed' or 'unsubscribed'"),
    ({"type": "list", "kind": "group", "name": "vip"}, "entry.trigger.kind",
     "'list' or 'tag'"),
    ({"type": "message", "on": "read"}, "entry.trigger.on", "'delivered'"),
    ({"type": "goal"}, "entry.trigger.journey_id", "required"),
]  # fmt: skip


@pytest.mark.parametrize(("trigger", "path", "reason"), REFUSED,
                         ids=lambda v: v["type"] if isinstance(v, dict) else "")  # fmt: skip
def test_refused_with_the_field_and_the_reason(trigger: dict[str, Any], path: str,
                                                reason: str) -> None:  # fmt: skip
    with pytest.raises(DefinitionError) as error:
        parse(simple(trigger, "m"))
    [first, *_] = error.value.errors
    assert first["path"] == path
    assert reason.lower() in first["reason"].lower()


def test_the_api_answers_422_naming_the_field(client: TestClient, ws: Workspace) -> None:
    doc = simple({"type": "schedule", "cron": "0 9 * *", "segment_id": "seg_1"}, "m")
    answer = client.post("/api/v1/journeys", headers=ws.api_headers, json=doc)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "entry.trigger.cron"


def test_once_per_period_on_a_list_trigger(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Joining again within the period does not enter again (the rule applies to every
    trigger); a second contact enters on its own."""
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    doc = simple({"type": "list", "name": "vip"}, "m")
    doc["entry"]["rule"] = {"type": "once_per", "period": {"amount": 1, "unit": "days"}}
    vip = journey(client, ws, doc)
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    insert = "INSERT INTO contact_lists VALUES (?, ?, 'list', 'vip', ?, ?, 'api')"
    rows = [[ws.id, ann, now + timedelta(seconds=1), now + timedelta(seconds=2)],
            [ws.id, ann, now + timedelta(seconds=3), None],
            [ws.id, bob, now + timedelta(seconds=3), None]]  # fmt: skip
    container.db.write(lambda conn: [conn.execute(insert, r) for r in rows])
    runner.tick(now + timedelta(seconds=4))
    runner.tick(now + timedelta(seconds=5))
    with container.db.read() as cur:
        entered = cur.execute("SELECT contact_id FROM journey_runs WHERE journey_id = ?"
                              " ORDER BY contact_id", [vip]).fetchall()  # fmt: skip
    assert entered == [(ann,), (bob,)]
