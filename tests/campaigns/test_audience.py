"""The audience snapshot on a real store: it equals the segment's members, the holdout and
the global control group are left out and stable, A/B proportions, throttle spacing."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    API,
    create,
    members,
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
from retenta.campaigns.assign import in_global_control, send_id_for


def test_snapshot_is_the_segment_and_holdouts_are_left_out_and_stable(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    kyiv = seed_contacts(container, ws, 600, city="Kyiv")
    seed_contacts(container, ws, 200, city="Lviv")
    seg = segment(client, ws, "Kyiv")
    setup_sending(client, container, ws)
    first = create(client, ws, segment_id=seg, message_id="msg_a", holdout_pct=10)
    second = create(client, ws, segment_id=seg, message_id="msg_a", holdout_pct=10)
    for campaign in (first, second):
        assert schedule(client, ws, campaign)["status"] == "scheduled"
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))

    one, two = recipients(container, first), recipients(container, second)
    assert set(one) == members(client, ws, seg) == set(kyiv)  # the snapshot IS the segment
    control = {c for c, r in one.items() if r[0] == "control"}
    assert control == {c for c in kyiv if in_global_control(ws.id, c, 5.0)}  # 5% by default
    assert control == {c for c, r in two.items() if r[0] == "control"}  # the same everywhere
    assert 10 <= len(control) <= 55  # ~30 of 600
    holdout_one = {c for c, r in one.items() if r[0] == "holdout"}
    holdout_two = {c for c, r in two.items() if r[0] == "holdout"}
    assert 25 <= len(holdout_one) <= 95  # ~57 of the 570 left
    assert holdout_one != holdout_two  # each campaign draws its own holdout
    assert not holdout_one & control

    got = sends(container, first)
    sent_to = {s[1] for s in got}
    assert sent_to == {c for c, r in one.items() if r[0] == "send"}
    assert not sent_to & (holdout_one | control)
    assert all(s[0] == send_id_for(first, s[1]) for s in got)  # derived, one per contact
    progress = client.get(f"{API}/{first}", headers=ws.api_headers).json()
    assert progress["status"] == "sent"
    assert progress["progress"]["audience"] == 600
    assert progress["progress"]["recipients"] == len(sent_to) == progress["progress"]["queued"]
    assert progress["progress"]["in_ledger"] == len(sent_to)  # one `queued` event each


def test_trigger_campaigns_ignore_the_global_control_group(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ids = seed_contacts(container, ws, 300)
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 20)
    promo = create(client, ws, segment_id=seg, message_id="msg_a")
    trigger = create(client, ws, segment_id=seg, message_id="msg_a", category="trigger")
    schedule(client, ws, promo)
    schedule(client, ws, trigger)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    groups = Counter(r[0] for r in recipients(container, promo).values())
    assert groups["control"] == sum(in_global_control(ws.id, c, 20) for c in ids) > 30
    assert set(Counter(r[0] for r in recipients(container, trigger).values())) == {"send"}


def test_ab_split_proportions(client: TestClient, container: Container, ws: Workspace) -> None:
    seed_contacts(container, ws, 3000)
    seg = segment(client, ws)
    setup_sending(client, container, ws, "msg_a", "msg_b", "msg_c")
    set_global_control(client, ws, 0)
    ab = {"sample_pct": 30, "wait": {"amount": 2, "unit": "hours"}}
    campaign = create(client, ws, segment_id=seg, variants=["msg_a", "msg_b", "msg_c"], ab_test=ab)
    schedule(client, ws, campaign)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    got = recipients(container, campaign)
    groups = Counter(r[0] for r in got.values())
    per_variant = Counter(r[1] for r in got.values() if r[0] == "test")
    # binomial: test ~ 900 (sd 25), each variant ~ 300 (sd 16); bounds at 4 sd
    assert abs(groups["test"] - 900) <= 100
    assert all(abs(per_variant[v] - 300) <= 66 for v in range(3))
    assert groups["rest"] == 3000 - groups["test"]
    by_message = Counter(s[2] for s in sends(container, campaign))
    assert by_message == {f"msg_{'abc'[v]}": n for v, n in per_variant.items()}  # only the test
    assert client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["status"] == "sending"


def test_throttle_spaces_the_due_times(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seed_contacts(container, ws, 50)
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a",
                      throttle={"per_second": 10})  # fmt: skip
    schedule(client, ws, campaign)
    now = datetime.now(UTC) + timedelta(seconds=1)
    runner(container).tick(now)
    due = sorted(s[3] for s in sends(container, campaign))
    assert len(due) == 50
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(due)}
    assert gaps == {0.1}  # 10 a second: the ledger releases them no faster
    assert (due[-1] - due[0]).total_seconds() == 4.9
