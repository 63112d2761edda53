"""Best hour per contact on a real store: own pattern, population fallback, timezones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retenta.app import Container
from retenta.sendtime import best_hour, best_hours, workspace_histogram
from tests.conftest import Workspace
from tests.sendtime.helpers import add_contact, engage, local, set_workspace_zone

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def population(container: Container, ws: Workspace, hour: int, people: int = 8,
               zone: str = "UTC") -> list[int]:  # fmt: skip
    """``people`` contacts who each opened 3 messages at ``hour`` local time."""
    ids = []
    for _ in range(people):
        cid = add_contact(container, ws.id, zone)
        engage(container, ws.id, cid, [local(zone, d, hour) for d in (3, 4, 5)])
        ids.append(cid)
    return ids


def test_a_contact_who_opens_at_19_to_20_local_gets_19(container: Container, ws: Workspace
                                                       ) -> None:  # fmt: skip
    population(container, ws, hour=10)
    kyiv = add_contact(container, ws.id, "Europe/Kyiv")
    moments = [local("Europe/Kyiv", d, 19, 40) for d in (1, 2, 3)]
    moments += [local("Europe/Kyiv", d, 20, 15) for d in (4, 5, 6)]
    engage(container, ws.id, kyiv, moments)
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, kyiv, now=NOW)
    assert (best.hour, best.source, best.samples, best.timezone) == (19, "contact", 6,
                                                                      "Europe/Kyiv")  # fmt: skip


def test_the_hour_is_local_to_the_contacts_zone(container: Container, ws: Workspace) -> None:
    population(container, ws, hour=10)
    ny = add_contact(container, ws.id, "America/New_York")
    engage(container, ws.id, ny, [local("America/New_York", d, 7, 30) for d in (1, 2, 3, 4)])
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, ny, now=NOW)
    assert (best.hour, best.source) == (7, "contact")  # 11:30 UTC in June


def test_hours_follow_dst_in_the_contacts_zone(container: Container, ws: Workspace) -> None:
    population(container, ws, hour=10)
    kyiv = add_contact(container, ws.id, "Europe/Kyiv")
    winter = [local("Europe/Kyiv", d, 8, 20, month=1) for d in (5, 6)]
    summer = [local("Europe/Kyiv", d, 8, 20, month=6) for d in (5, 6)]
    engage(container, ws.id, kyiv, winter + summer)  # 06:20 UTC in winter, 05:20 in summer
    with container.db.read() as cur:
        assert best_hour(cur, ws.id, kyiv, now=NOW).hour == 8


def test_a_thin_history_falls_back_to_the_population(container: Container, ws: Workspace
                                                      ) -> None:  # fmt: skip
    population(container, ws, hour=11)
    thin = add_contact(container, ws.id, "UTC")
    engage(container, ws.id, thin, [local("UTC", 1, 3), local("UTC", 2, 3)])
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, thin, now=NOW)
    assert (best.hour, best.source, best.samples) == (11, "population", 2)


def test_machine_opens_do_not_count(container: Container, ws: Workspace) -> None:
    population(container, ws, hour=11)
    cid = add_contact(container, ws.id, "UTC")
    engage(container, ws.id, cid, [local("UTC", d, 2) for d in (1, 2, 3, 4)], machine=True)
    engage(container, ws.id, cid, [local("UTC", d, 21) for d in (1, 2, 3)])
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, cid, now=NOW)
    assert (best.hour, best.samples) == (21, 3)


def test_an_open_and_its_click_are_one_sample(container: Container, ws: Workspace) -> None:
    population(container, ws, hour=11)
    cid = add_contact(container, ws.id, "UTC")
    engage(container, ws.id, cid, [local("UTC", d, 18, 59) for d in (1, 2, 3)], clicks_too=True)
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, cid, now=NOW)
    assert (best.hour, best.samples) == (18, 3)


def test_the_window_ends_at_now(container: Container, ws: Workspace) -> None:
    population(container, ws, hour=11)
    cid = add_contact(container, ws.id, "UTC")
    engage(container, ws.id, cid, [local("UTC", d, 21, month=8) for d in (1, 2, 3)])
    with container.db.read() as cur:
        assert best_hour(cur, ws.id, cid, now=NOW).source == "population"


def test_an_empty_workspace_answers_the_default(container: Container, ws: Workspace) -> None:
    cid = add_contact(container, ws.id, None)
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, cid, now=NOW)
    assert (best.hour, best.source, best.samples, best.timezone) == (10, "default", 0, "UTC")


def test_contacts_without_a_zone_use_the_workspaces(container: Container, ws: Workspace
                                                     ) -> None:  # fmt: skip
    set_workspace_zone(container, ws.id, "Asia/Tokyo")
    population(container, ws, hour=10, zone="Asia/Tokyo")
    cid = add_contact(container, ws.id, "Not/AZone")
    engage(container, ws.id, cid, [local("Asia/Tokyo", d, 22) for d in (1, 2, 3)])
    with container.db.read() as cur:
        best = best_hour(cur, ws.id, cid, now=NOW)
        histogram = workspace_histogram(cur, ws.id, now=NOW)
    assert (best.hour, best.timezone) == (22, "Asia/Tokyo")
    assert (histogram.counts[10], histogram.counts[22]) == (24, 3)
    assert (histogram.best.hour, histogram.best.source) == (10, "population")


def test_merged_in_contacts_count_for_the_survivor(container: Container, ws: Workspace
                                                    ) -> None:  # fmt: skip
    population(container, ws, hour=11)
    survivor, merged = add_contact(container, ws.id, "UTC"), add_contact(container, ws.id, "UTC")
    engage(container, ws.id, merged, [local("UTC", d, 6) for d in (1, 2, 3)])
    container.db.write(lambda conn: conn.execute(
        "UPDATE contacts SET merged_into = ? WHERE id = ?", [survivor, merged]))  # fmt: skip
    with container.db.read() as cur:
        assert best_hour(cur, ws.id, survivor, now=NOW).hour == 6


def test_the_batch_answers_each_contact_and_other_workspaces_stay_apart(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    population(container, other_ws, hour=4, people=10)
    mine = population(container, ws, hour=16, people=3)
    thin = add_contact(container, ws.id, "UTC")
    with container.db.read() as cur:
        answers = best_hours(cur, ws.id, [*mine, thin, mine[0]], now=NOW)
    assert set(answers) == {*mine, thin}
    assert {(a.hour, a.source) for a in answers.values()} == {(16, "contact"), (10, "default")}


@pytest.mark.parametrize("hour", [0, 23])
def test_hours_at_the_ends_of_the_day(container: Container, ws: Workspace, hour: int) -> None:
    population(container, ws, hour=12)
    cid = add_contact(container, ws.id, "UTC")
    engage(container, ws.id, cid, [local("UTC", d, hour) for d in (1, 2, 3, 4)])
    with container.db.read() as cur:
        assert best_hour(cur, ws.id, cid, now=NOW).hour == hour


def test_the_population_is_read_once_per_step(container: Container, ws: Workspace) -> None:
    """Within one cache step a new open changes the contact's own answer at once but not
    the population; the next step sees it."""
    population(container, ws, hour=11, people=7)
    cid = add_contact(container, ws.id, "UTC")
    with container.db.read() as cur:
        assert best_hour(cur, ws.id, cid, now=NOW).hour == 11
    for _ in range(10):
        other = add_contact(container, ws.id, "UTC")
        engage(container, ws.id, other, [local("UTC", d, 17) for d in (1, 2, 3, 4)])
    engage(container, ws.id, cid, [local("UTC", 5, 2)])
    with container.db.read() as cur:
        same_step = best_hour(cur, ws.id, cid, now=NOW + timedelta(minutes=5))
        next_step = best_hour(cur, ws.id, cid, now=NOW + timedelta(minutes=10))
    assert (same_step.hour, same_step.source, same_step.samples) == (11, "population", 1)
    assert (next_step.hour, next_step.source) == (17, "population")
