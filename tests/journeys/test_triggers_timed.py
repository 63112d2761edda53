"""Time-driven triggers through the real runner: a cron schedule in each contact's timezone
(across a DST change), a birthday ± offset (29 February too), entry rules on occurrences."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson
import pyarrow as pa
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.schedule import cron_next, fire_next, world_zones
from retenta.journeys.service import for_container
from retenta.journeys.sources.timed import next_due
from retenta.journeys.triggers import DateTrigger, ScheduleTrigger
from tests.campaigns.helpers import segment
from tests.conftest import Workspace
from tests.journeys.test_runs import journey
from tests.journeys.test_sources import simple


def people(container: Container, ws: Workspace, *specs: tuple[str | None, dict[str, Any]]
           ) -> list[int]:  # fmt: skip
    """Contacts with these (timezone, attributes), written as an import writes them."""
    now = datetime.now(UTC)

    def work(conn: Any) -> list[int]:
        ids = [int(r[0]) for r in conn.execute(
            "SELECT nextval('contact_id_seq') FROM range(?)", [len(specs)]).fetchall()]  # fmt: skip
        conn.register("_people", pa.table({
            "workspace_id": [ws.id] * len(ids), "id": ids, "created_at": [now] * len(ids),
            "updated_at": [now] * len(ids), "timezone": [tz for tz, _ in specs],
            "attributes": [orjson.dumps(attrs).decode() for _, attrs in specs]}))  # fmt: skip
        try:
            conn.execute(
                "INSERT INTO contacts (workspace_id, id, created_at, updated_at, timezone,"
                " attributes) SELECT workspace_id, id, created_at, updated_at, timezone,"
                " attributes::JSON FROM _people"
            )
        finally:
            conn.unregister("_people")
        return ids

    return list(container.db.write(work))


def fired(container: Container, journey_id: str) -> dict[int, list[str]]:
    """Contact -> the UTC moments (ISO, to the minute) its runs were due, in order."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, context->>'timestamp' FROM journey_runs WHERE journey_id = ?"
            " ORDER BY 2",
            [journey_id],
        ).fetchall()
    out: dict[int, list[str]] = defaultdict(list)
    for contact, stamp in rows:
        out[int(contact)].append(datetime.fromisoformat(stamp).astimezone(UTC).strftime(
            "%m-%d %H:%M"))  # fmt: skip
    return dict(out)


def run_clock(container: Container, start: datetime, end: datetime, step: timedelta) -> None:
    runner = for_container(container).runner
    moment = start
    while moment <= end:
        runner.tick(moment)
        moment += step


def every_time(trigger: dict[str, Any], **rule: Any) -> dict[str, Any]:
    """Every occurrence enters (runs started at a simulated time stay active: the runner only
    advances runs due by the wall clock, so concurrent runs are allowed here)."""
    doc = simple(trigger, "m")
    rule = {"type": "every_time", "max_concurrent": 20} | rule
    return doc | {"entry": {"trigger": trigger, "rule": rule}}


def test_schedule_in_each_contacts_timezone_across_a_dst_change(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """9:00 daily in Kyiv (no change that week), New York (DST starts Sunday 8 March 2026:
    14:00 UTC becomes 13:00 UTC) and the workspace's zone for a contact without one."""
    container.db.write(lambda conn: conn.execute(
        "UPDATE workspaces SET settings = '{\"timezone\": \"Europe/Lisbon\"}' WHERE id = ?",
        [ws.id]))  # fmt: skip
    kyiv, york, lisbon, _elsewhere = people(
        container, ws, ("Europe/Kyiv", {"city": "Kyiv"}), ("America/New_York", {"city": "Kyiv"}),
        (None, {"city": "Kyiv"}), ("Europe/Kyiv", {"city": "Lviv"}))  # fmt: skip
    trigger = {"type": "schedule", "cron": "0 9 * * *", "timezone": "contact",
               "segment_id": segment(client, ws, "Kyiv")}  # fmt: skip
    daily = journey(client, ws, every_time(trigger))
    run_clock(container, datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 9, 23, tzinfo=UTC),
              timedelta(hours=3))  # fmt: skip
    assert fired(container, daily) == {
        kyiv: ["03-06 07:00", "03-07 07:00", "03-08 07:00", "03-09 07:00"],
        york: ["03-06 14:00", "03-07 14:00", "03-08 13:00", "03-09 13:00"],
        lisbon: ["03-06 09:00", "03-07 09:00", "03-08 09:00", "03-09 09:00"],
    }


def test_schedule_fires_within_a_second_of_due_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """A fixed zone: Monday 9:00 in Kyiv; ticks before it start nothing, the first tick after
    due starts it (the journey is not read until then, so no read throttle delays it), later
    ticks and a new runner on the same store start nothing more."""
    [person] = people(container, ws, ("America/New_York", {"city": "Kyiv"}))
    trigger = {"type": "schedule", "cron": "0 9 * * 1", "timezone": "Europe/Kyiv",
               "segment_id": segment(client, ws, "Kyiv")}  # fmt: skip
    weekly = journey(client, ws, every_time(trigger))
    due = datetime(2026, 3, 30, 6, tzinfo=UTC)  # Monday 09:00 EEST (DST began the day before)
    runner = for_container(container).runner
    runner.tick(due - timedelta(minutes=5))
    runner.tick(due - timedelta(seconds=1))
    runner.tick(due - timedelta(milliseconds=200))  # not due anywhere yet: nothing is read
    assert fired(container, weekly) == {}
    runner.tick(due + timedelta(milliseconds=150))  # the next 0.1 s tick fires it
    assert fired(container, weekly) == {person: ["03-30 06:00"]}
    runner.tick(due + timedelta(seconds=2))
    for_container(container).runner.tick(due + timedelta(seconds=3))
    assert fired(container, weekly) == {person: ["03-30 06:00"]}


def test_schedule_entry_rules(client: TestClient, container: Container, ws: Workspace) -> None:
    """``once`` enters the first occurrence only; ``max_concurrent`` 1 refuses an occurrence
    while the contact's run from the last one is still waiting."""
    [person] = people(container, ws, ("UTC", {"city": "Kyiv"}))
    trigger = {"type": "schedule", "cron": "0 12 * * *", "timezone": "contact",
               "segment_id": segment(client, ws, "Kyiv")}  # fmt: skip
    once = journey(client, ws, simple(trigger, "m"))  # the default rule: once
    wait = {"id": "w", "type": "wait", "duration": {"amount": 3, "unit": "days"}, "next": "x"}
    busy = every_time(trigger, max_concurrent=1) | {
        "start": "w", "nodes": [wait, {"id": "x", "type": "exit"}]}  # fmt: skip
    concurrent = journey(client, ws, busy)
    run_clock(container, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, 23, tzinfo=UTC),
              timedelta(hours=6))  # fmt: skip
    assert fired(container, once) == {person: ["06-01 12:00"]}
    assert fired(container, concurrent) == {person: ["06-01 12:00"]}


def test_birthday_before_and_after_with_feb_29_and_dst(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """3 days before at 09:00 and 2 days after at 10:00, each contact's own zone, in 2027
    (no 29 February: Feb 29 birthdays fall on the 28th) and 2028 (a leap year)."""
    leap, march, york_dst, _none, _bad = people(
        container, ws, ("America/New_York", {"birthday": "2000-02-29"}),
        ("UTC", {"birthday": "1985-03-01T00:00:00Z"}),
        ("America/New_York", {"birthday": "1995-03-16"}), ("UTC", {}),
        ("UTC", {"birthday": "someday"}))  # fmt: skip
    before = journey(client, ws, every_time({"type": "date", "attribute": "birthday",
        "offset": {"amount": 3, "unit": "days"}, "direction": "before", "at": "09:00",
        "timezone": "contact", "yearly": True}))  # fmt: skip
    after = journey(client, ws, every_time({"type": "date", "attribute": "birthday",
        "offset": {"amount": 2, "unit": "days"}, "direction": "after", "at": "10:00"}))  # fmt: skip
    step = timedelta(hours=6)  # the longest a tick may be late (MAX_LATE): nothing is skipped
    for first, last in (((2027, 2, 24), (2027, 3, 4)), ((2027, 3, 12), (2027, 3, 19)),
                        ((2028, 2, 25), (2028, 3, 4))):  # fmt: skip
        run_clock(container, datetime(*first, tzinfo=UTC), datetime(*last, tzinfo=UTC), step)
    assert fired(container, before) == {
        leap: ["02-25 14:00", "02-26 14:00"],  # 28 Feb 2027 - 3 days; 29 Feb 2028 - 3 days
        march: ["02-26 09:00", "02-27 09:00"],  # 2028: 1 March - 3 days is 27 February
        york_dst: ["03-13 14:00"],  # 09:00 EST, the day before DST starts (14 March 2027)
    }
    assert fired(container, after) == {
        leap: ["03-02 15:00", "03-02 15:00"],  # 2027: 28 Feb + 2; 2028: 29 Feb + 2 = 2 March
        march: ["03-03 10:00", "03-03 10:00"],
        york_dst: ["03-18 14:00"],  # 10:00 EDT
    }


def test_next_due_is_the_earliest_moment_in_any_zone() -> None:
    """Ticks skip a schedule or date journey until ``next_due``: it must never be later than
    the first occurrence in any zone a contact can be in (checked against every zone, around
    both DST changes of 2026)."""
    starts = [
        datetime(2026, 3, 7, 12, tzinfo=UTC), datetime(2026, 3, 28, 22, 30, tzinfo=UTC),
        datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC),
    ]  # fmt: skip
    for after in starts:
        for cron in ("30 2 * * *", "0 9 * * 1", "*/20 * * * *"):
            trigger = ScheduleTrigger(type="schedule", cron=cron, segment_id="seg_1")
            every = min(cron_next(cron, zone, after) for zone in world_zones())
            assert next_due(trigger, after) == min(every, after + timedelta(days=7))
        for at in (time(2, 30), time(9, 0)):
            date_trigger = DateTrigger(type="date", attribute="birthday", at=at)
            every = min(fire_next(at, zone, after) for zone in world_zones())
            assert next_due(date_trigger, after) == every
