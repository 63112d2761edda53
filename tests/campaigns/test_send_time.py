"""``schedule.send_time: "optimal"``: each recipient at their best local hour within the 24
hours after the start, thin histories at the workspace's hour, throttling still applied."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    API,
    create,
    recipients,
    runner,
    schedule,
    seed_contacts,
    segment,
    set_global_control,
    setup_sending,
)
from tests.conftest import Workspace
from tests.sendtime.helpers import engage

from retenta.app import Container
from retenta.campaigns.definition import parse
from retenta.campaigns.winner import rest_schedule


def habit(zone: str, hour: int, days: int = 4) -> list[datetime]:
    """Opens at ``hour``:20 local on each of the last ``days`` days (before today)."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    return [datetime.combine(today - timedelta(days=d), time(hour, 20), ZoneInfo(zone))
            for d in range(1, days + 1)]  # fmt: skip


def prepared(client: TestClient, container: Container, ws: Workspace) -> str:
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    return seg


def test_each_recipient_at_their_best_local_hour(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    kyiv = seed_contacts(container, ws, 4, timezone="Europe/Kyiv")
    york = seed_contacts(container, ws, 4, timezone="America/New_York")
    thin = seed_contacts(container, ws, 3, timezone="Asia/Tokyo")
    for cid in kyiv:
        engage(container, ws.id, cid, habit("Europe/Kyiv", 19))
    for cid in york:
        engage(container, ws.id, cid, habit("America/New_York", 7))
    for cid in thin:
        engage(container, ws.id, cid, habit("Asia/Tokyo", 23, days=1))  # one open: too few
    seg = prepared(client, container, ws)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a",
                      schedule={"send_time": "optimal"})  # fmt: skip
    assert client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["definition"][
        "schedule"]["send_time"] == "optimal"  # fmt: skip
    schedule(client, ws, campaign)
    start = datetime.now(UTC) + timedelta(seconds=1)
    runner(container).tick(start)
    got = recipients(container, campaign)
    assert set(got) == {*kyiv, *york, *thin}
    # the population: 16 engaged sends at Kyiv's 19 and 16 at New York's 7 (ties: earliest)
    expected = {**dict.fromkeys(kyiv, 19), **dict.fromkeys(york, 7), **dict.fromkeys(thin, 7)}
    for contact, (_grp, _variant, due, _queued, zone) in got.items():
        assert due.astimezone(ZoneInfo(zone)).hour == expected[contact], contact
        assert start <= due < start + timedelta(hours=24), contact
        if due > start:
            assert due.astimezone(ZoneInfo(zone)).minute == 0  # the hour's start


def test_throttling_still_applies(client: TestClient, container: Container, ws: Workspace
                                  ) -> None:  # fmt: skip
    people = seed_contacts(container, ws, 6, timezone="UTC")
    for cid in people:
        engage(container, ws.id, cid, habit("UTC", 5))
    seg = prepared(client, container, ws)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a",
                      schedule={"send_time": "optimal"}, throttle={"per_second": 2})  # fmt: skip
    schedule(client, ws, campaign)
    start = datetime.now(UTC) + timedelta(seconds=1)
    runner(container).tick(start)
    due = sorted(r[2] for r in recipients(container, campaign).values())
    assert len(due) == 6
    assert due[0].astimezone(UTC).hour == 5
    assert all(b - a >= timedelta(seconds=0.5) for a, b in itertools.pairwise(due))
    assert due[-1] - due[0] == timedelta(seconds=2.5)


def test_an_optimal_local_schedule_is_refused(client: TestClient, ws: Workspace) -> None:
    body = {"name": "x", "segment_id": "seg_1", "message_id": "msg_a",
            "schedule": {"type": "local", "time": "10:00", "send_time": "optimal"}}  # fmt: skip
    r = client.post(API, headers=ws.api_headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "schedule.send_time"
    body["schedule"] = {"send_time": "best"}
    r = client.post(API, headers=ws.api_headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "schedule.send_time"


def test_the_rest_of_an_ab_test_gets_the_winner_at_their_best_hour(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    people = seed_contacts(container, ws, 40, timezone="Europe/Kyiv")
    for cid in people:
        engage(container, ws.id, cid, habit("Europe/Kyiv", 19))
    seg = segment(client, ws)
    setup_sending(client, container, ws, "msg_a", "msg_b")
    set_global_control(client, ws, 0)
    campaign_id = create(client, ws, segment_id=seg, variants=["msg_a", "msg_b"],
                         schedule={"send_time": "optimal"},
                         ab_test={"sample_pct": 50, "wait": {"amount": 4, "unit": "hours"},
                                  "metric": "clicks"})  # fmt: skip
    schedule(client, ws, campaign_id)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    rest = sorted(c for c, r in recipients(container, campaign_id).items() if r[0] == "rest")
    assert rest
    doc = client.get(f"{API}/{campaign_id}", headers=ws.api_headers).json()["definition"]
    decided = datetime.now(UTC) + timedelta(hours=4)
    with container.db.read() as cur:
        table = rest_schedule(cur, ws.id, campaign_id, parse(doc), decided)
    assert table.column("contact_id").to_pylist() == rest
    for due in table.column("send_at").to_pylist():
        assert due.astimezone(ZoneInfo("Europe/Kyiv")).hour == 19
        assert decided <= due < decided + timedelta(hours=24)
