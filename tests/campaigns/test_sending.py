"""Sending: local time across timezones, a crash between enqueue chunks, pause and cancel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    API,
    create,
    recipients,
    runner,
    schedule,
    seed_contacts,
    segment,
    sends,
    set_global_control,
    setup_sending,
)
from tests.conftest import Workspace

from retenta.app import Container
from retenta.campaigns.runner import CampaignRunner
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.messaging.services import for_container as messaging


def test_local_time_lands_at_ten_in_each_timezone(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    kyiv = set(seed_contacts(container, ws, 5, timezone="Europe/Kyiv"))
    york = set(seed_contacts(container, ws, 5, timezone="America/New_York"))
    nowhere = set(seed_contacts(container, ws, 2, timezone="Not/AZone"))  # → the fallback
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    local = {"type": "local", "time": "10:00", "date": day.isoformat(),
             "fallback_timezone": "Asia/Tokyo"}  # fmt: skip
    campaign = create(client, ws, segment_id=seg, message_id="msg_a", schedule=local)
    at = schedule(client, ws, campaign)["scheduled_at"]
    assert datetime.fromisoformat(at) == datetime.combine(day, time(10), ZoneInfo("Etc/GMT-14"))
    start = datetime.fromisoformat(at)
    tick = runner(container).tick
    tick(start)  # snapshot: nobody is due yet
    assert sends(container, campaign) == []
    kyiv_ten = datetime.combine(day, time(10), ZoneInfo("Europe/Kyiv"))
    tick(kyiv_ten - timedelta(seconds=30))  # within the lookahead: Kyiv (and Tokyo) queued
    assert {s[1] for s in sends(container, campaign)} == kyiv | nowhere
    tick(datetime.combine(day, time(10), ZoneInfo("America/New_York")))
    got = sends(container, campaign)
    assert {s[1] for s in got} == kyiv | york | nowhere
    for _send_id, contact, _message, due, _status in got:
        zone = ("Europe/Kyiv" if contact in kyiv else
                "America/New_York" if contact in york else "Asia/Tokyo")  # fmt: skip
        assert due.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime.combine(
            day, time(10)
        )
    assert client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["status"] == "sent"


class DyingLedger(SendLedger):
    """Commits the second chunk to the ledger, then 'the process dies' before the mark."""

    def __init__(self, real: SendLedger) -> None:
        super().__init__(real.db, real.retry)
        self.calls = 0

    def enqueue(self, sends: Sequence[NewSend]) -> list[str]:
        out = super().enqueue(sends)
        self.calls += 1
        if self.calls == 2:
            raise SystemExit("killed between the enqueue and the mark")
        return out


def test_a_crash_between_chunks_resumes_with_each_contact_queued_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ids = seed_contacts(container, ws, 10)
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a")
    schedule(client, ws, campaign)
    ledger = messaging(container).ledger
    dying = CampaignRunner(container.db, DyingLedger(ledger), chunk=3)
    now = datetime.now(UTC) + timedelta(seconds=1)
    with pytest.raises(SystemExit):
        dying.tick(now)
    assert len(sends(container, campaign)) == 6  # two chunks in the ledger, one marked
    marked = [c for c, r in recipients(container, campaign).items() if r[3] is not None]
    assert len(marked) == 3
    CampaignRunner(container.db, ledger, chunk=3).tick(now)  # the restart
    got = sends(container, campaign)
    assert Counter(s[1] for s in got) == Counter(ids)  # everybody exactly once
    with container.db.read() as cur:
        queued = cur.execute(
            "SELECT count(*), count(DISTINCT send_id) FROM message_events"
            " WHERE campaign_id = ? AND status = 'queued'",
            [campaign],
        ).fetchall()
    assert queued == [(10, 10)]  # one `queued` event per send: nothing was added twice
    assert all(r[3] is not None for r in recipients(container, campaign).values())


def test_pause_resume_cancel(client: TestClient, container: Container, ws: Workspace) -> None:
    seed_contacts(container, ws, 20)
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a", throttle={"per_second": 1})
    schedule(client, ws, campaign)
    run = runner(container)
    run.lookahead_s = 4
    now = datetime.now(UTC) + timedelta(seconds=1)
    run.tick(now)
    assert len(sends(container, campaign)) == 5  # due within 4 s at 1/s: 0..4 s
    post = lambda action: client.post(f"{API}/{campaign}/{action}", headers=ws.api_headers)  # noqa: E731
    assert post("pause").json()["status"] == "paused"
    run.tick(now + timedelta(seconds=10))
    assert len(sends(container, campaign)) == 5  # paused: nothing more is queued
    assert post("pause").status_code == 409  # already paused
    assert post("resume").json()["status"] == "sending"
    run.tick(now + timedelta(seconds=10))
    assert len(sends(container, campaign)) == 15
    assert post("cancel").json()["status"] == "cancelled"
    run.tick(now + timedelta(minutes=5))
    assert len(sends(container, campaign)) == 15
    assert post("resume").json()["error"]["field"] == "status"


def test_local_moment_on_a_dst_change() -> None:
    from retenta.campaigns.assign import local_moment

    start = datetime(2026, 3, 28, tzinfo=UTC)  # Kyiv moves to summer time on 29 March
    before = local_moment(start, time(10), date(2026, 3, 28), "Europe/Kyiv")
    after = local_moment(start, time(10), date(2026, 3, 29), "Europe/Kyiv")
    assert (before.hour, after.hour) == (8, 7)  # 10:00 local both days, +02 then +03


def test_contacts_without_a_timezone_use_the_workspace_default(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    lisbon = set(seed_contacts(container, ws, 3, timezone="Europe/Lisbon"))
    unknown = set(seed_contacts(container, ws, 3))
    container.db.write(lambda conn: conn.execute(
        "UPDATE workspaces SET settings = json_object('timezone', 'Asia/Kolkata') WHERE id = ?",
        [ws.id]).fetchall())  # fmt: skip
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a",
                      schedule={"type": "local", "time": "09:30"})  # fmt: skip
    schedule(client, ws, campaign)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    got = recipients(container, campaign)
    assert {c: r[4] for c, r in got.items()} == {
        **{c: "Europe/Lisbon" for c in lisbon}, **{c: "Asia/Kolkata" for c in unknown}}  # fmt: skip
    for contact, (_grp, _variant, due, _queued, zone) in got.items():
        local = due.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (9, 30), contact
        assert due - datetime.now(UTC) < timedelta(days=1)  # the next 09:30, not a later one
