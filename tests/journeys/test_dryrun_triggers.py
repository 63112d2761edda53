"""Dry run beyond track events: a segment trigger with membership as of each moment, a
message trigger read by the live source's reader, a best-hour wait as of the moment, and a
cron schedule in each contact's zone; a cascade under the "never opened" assumption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.campaigns.helpers import seed_contacts, segment
from tests.conftest import Workspace
from tests.journeys.test_dryrun import SINCE, T0, UNTIL, contact_of, track
from tests.sendtime.helpers import add_contact, engage

H = timedelta(hours=1)


def dry_run(client: TestClient, ws: Workspace, definition: dict[str, Any]) -> dict[str, Any]:
    body = {"definition": definition, "since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    r = client.post("/api/v1/journeys/dry-run", headers=ws.api_headers, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def stay(container: Container, ws: Workspace, contact: int, entered: datetime,
         exited: datetime | None) -> None:  # fmt: skip
    """A stay in segment seg_vip, logged as the realtime membership logs it."""
    rows = [("entered", entered)] + ([("exited", exited)] if exited else [])

    def work(conn: Any) -> None:
        conn.execute("INSERT INTO segment_membership VALUES (?, 'seg_vip', ?, ?, ?)",
                     [ws.id, contact, entered, exited])  # fmt: skip
        for kind, at in rows:
            conn.execute("INSERT INTO segment_events VALUES (?, 'seg_vip', ?, ?, ?, 'event')",
                         [ws.id, contact, kind, at])  # fmt: skip

    container.db.write(work)


def test_segment_entries_and_membership_as_of_each_moment(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    stays, leaves, early = (add_contact(container, ws.id, "UTC") for _ in range(3))
    stay(container, ws, stays, T0 + H, None)
    stay(container, ws, leaves, T0 + 2 * H, T0 + 2.5 * H)  # gone before the check
    stay(container, ws, early, T0 - 48 * H, None)  # entered before the window
    doc = {
        "name": "VIP welcome",
        "entry": {"trigger": {"type": "segment", "segment_id": "seg_vip", "on": "entered"}},
        "start": "wait",
        "nodes": [
            {"id": "wait", "type": "wait", "duration": {"amount": 1, "unit": "hours"},
             "next": "still"},
            {"id": "still", "type": "condition",
             "if": {"kind": "segment", "segment_id": "seg_vip"}, "then": "hello", "else": "out"},
            {"id": "hello", "type": "send", "message_id": "msg_vip", "next": "out"},
            {"id": "out", "type": "exit"},
        ],
    }  # fmt: skip
    result = dry_run(client, ws, doc)
    people = {c["contact_id"]: c for c in result["contacts"]}
    assert set(people) == {stays, leaves}
    assert [s["message_id"] for s in people[stays]["sends"]] == ["msg_vip"]
    assert people[leaves]["sends"] == []
    assert result["by_node"] == {"wait": 2, "still": 2, "hello": 1, "out": 2}


def test_a_message_trigger_and_a_best_hour_wait(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    track(client, ws, "ann", "Signed Up", T0 - 30 * 24 * H)
    ann = contact_of(container, ws, "ann")
    before = [T0 - timedelta(days=d) + 11 * H for d in range(2, 8)]  # opens at 19:00 UTC
    engage(container, ws.id, ann, before)  # (T0 is 08:00 UTC)
    after = [T0 + timedelta(days=d) - 2 * H for d in range(1, 6)]  # 06:00, after entering
    engage(container, ws.id, ann, after)
    doc = {
        "name": "Opened: follow up at their hour",
        "entry": {"trigger": {"type": "message", "on": "opened"},
                  "rule": {"type": "once"}},
        "start": "best",
        "nodes": [
            {"id": "best", "type": "wait_until", "at": "best", "next": "follow"},
            {"id": "follow", "type": "send", "message_id": "msg_follow", "next": "done"},
            {"id": "done", "type": "exit"},
        ],
    }  # fmt: skip
    result = dry_run(client, ws, doc)
    assert (result["entered"], result["refused"]) == (1, 4)  # once: later opens turned away
    [run] = result["contacts"]
    assert datetime.fromisoformat(run["entered_at"]) == after[0]
    [send] = run["sends"]
    sent_at = datetime.fromisoformat(send["at"])
    assert (sent_at.astimezone(UTC).hour, sent_at - after[0] < 24 * H) == (19, True)


def test_a_schedule_trigger_enters_the_segment_at_each_occurrence(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    kyiv = set(seed_contacts(container, ws, 3, timezone="Europe/Kyiv"))
    york = set(seed_contacts(container, ws, 2, timezone="America/New_York"))
    seg = segment(client, ws)
    doc = {
        "name": "Monday digest",
        "entry": {"trigger": {"type": "schedule", "cron": "0 9 * * 1", "timezone": "contact",
                              "segment_id": seg},
                  "rule": {"type": "every_time"}},
        "start": "digest",
        "nodes": [{"id": "digest", "type": "send", "message_id": "msg_digest", "next": "done"},
                  {"id": "done", "type": "exit"}],
    }  # fmt: skip
    result = dry_run(client, ws, doc)
    assert result["entered"] == 5  # one Monday in a 7-day window, everybody in the segment
    for run in result["contacts"]:
        zone = "Europe/Kyiv" if run["contact_id"] in kyiv else "America/New_York"
        local = datetime.fromisoformat(run["entered_at"]).astimezone(ZoneInfo(zone))
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
        assert [s["message_id"] for s in run["sends"]] == ["msg_digest"]
    assert {r["contact_id"] for r in result["contacts"]} == kyiv | york


def test_a_cascade_moves_on_as_virtual_messages_are_never_opened(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    r = client.post("/v1/identify", auth=ws.write_auth,
                    json={"userId": "kim", "traits": {"email": "kim@example.com"}})  # fmt: skip
    assert r.status_code == 200, r.text
    track(client, ws, "kim", "Order Completed", T0 + H, total=40)
    doc = {
        "name": "Receipt everywhere",
        "entry": {"trigger": {"type": "event", "event": "Order Completed"}},
        "start": "receipt",
        "nodes": [
            {"id": "receipt", "type": "cascade", "message_id": "msg_receipt",
             "channels": ["push", "email", "inapp"], "move_on": "not_opened",
             "within": {"amount": 1, "unit": "hours"}, "category": "transactional",
             "next": "done"},
            {"id": "done", "type": "exit"},
        ],
    }  # fmt: skip
    [run] = dry_run(client, ws, doc)["contacts"]
    assert [(s["channel"], datetime.fromisoformat(s["at"])) for s in run["sends"]] == [
        ("email", T0 + H), ("inapp", T0 + 2 * H)]  # fmt: skip
    skipped = [p["reason"] for p in run["path"] if p["decision"] == "skipped"]
    assert skipped[0].startswith("push")  # no device: skipped without a send
    assert run["path"][-2]["reason"] == "no channel left for msg_receipt"
    assert run["outcome"] == "finished"
