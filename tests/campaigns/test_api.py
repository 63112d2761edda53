"""The HTTP API: validation errors name the field, workspaces are isolated, and a campaign
goes end to end to a real SMTP peer, with its holdout report from orders."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

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
    set_global_control,
    setup_sending,
)
from tests.conftest import Workspace
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, contact
from tests.messaging.smtp_peer import smtp_peer

from retenta.app import Container
from retenta.messaging.services import for_container as messaging

BASE = {"name": "Sale", "segment_id": "seg_1", "message_id": "msg_a"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"name": ""}, "name"),
        ({"segment_id": None}, "segment_id"),
        ({"audience": "all_consented"}, "segment_id"),
        ({"message_id": None}, "message_id"),
        ({"variants": ["msg_b"], "ab_test": {}}, "message_id"),
        ({"message_id": None, "variants": ["msg_a"], "ab_test": {}}, "variants"),
        ({"message_id": None, "variants": ["msg_a", "msg_b"]}, "ab_test"),
        ({"message_id": None, "variants": ["a", "b"], "ab_test": {"sample_pct": 0}},
         "ab_test.sample_pct"),
        ({"channel": "fax"}, "channel"),
        ({"cascade": ["push", "push"]}, "cascade"),
        ({"channel": "email", "cascade": ["push"]}, "cascade"),
        ({"category": "transactional"}, "category"),
        ({"holdout_pct": 100}, "holdout_pct"),
        ({"throttle": {"per_second": 0}}, "throttle.per_second"),
        ({"schedule": {"type": "local"}}, "schedule"),
        ({"schedule": {"type": "at", "at": "2030-01-01T10:00:00"}}, "schedule"),
        ({"schedule": {"type": "local", "time": "10:00", "fallback_timezone": "Mars/Base"}},
         "schedule.fallback_timezone"),
        ({"surprise": 1}, "surprise"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(
    client: TestClient, ws: Workspace, doc: dict[str, Any], field: str
) -> None:
    r = client.post(API, headers=ws.api_headers, json={**BASE, **doc})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.json()


def test_scheduling_checks_segment_messages_and_channels(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seg = segment(client, ws)

    def refused(**doc: Any) -> dict[str, Any]:
        campaign = create(client, ws, **doc)
        r = client.post(f"{API}/{campaign}/schedule", headers=ws.api_headers)
        assert r.status_code == 422, r.text
        return dict(r.json()["error"])

    assert refused(segment_id="seg_nope", message_id="msg_a")["field"] == "segment_id"
    assert refused(segment_id=seg, message_id="msg_nope")["field"] == "message_id"
    setup_sending(client, container, ws, "msg_a")
    ab = {"variants": ["msg_a", "msg_nope"], "ab_test": {}}
    assert refused(segment_id=seg, **ab)["field"] == "variants[1]"
    messaging(container).static_content.add(ws.id, "msg_a", "sms", object())  # type: ignore[arg-type]
    err = refused(segment_id=seg, message_id="msg_a", cascade=["email", "sms"])
    assert (err["field"], err["code"]) == ("cascade[1]", "channel_not_configured")
    ok = create(client, ws, segment_id=seg, message_id="msg_a")
    bad_schedule = client.post(f"{API}/{ok}/schedule", headers=ws.api_headers,
                               json={"schedule": {"type": "at"}})  # fmt: skip
    assert bad_schedule.json()["error"]["field"] == "schedule"
    assert schedule(client, ws, ok)["status"] == "scheduled"
    again = client.post(f"{API}/{ok}/schedule", headers=ws.api_headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_status")
    edit = client.put(f"{API}/{ok}", headers=ws.api_headers, json=BASE)
    assert edit.status_code == 409  # only drafts are edited


def test_workspaces_are_isolated(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    mine = set(seed_contacts(container, ws, 30))
    seed_contacts(container, other_ws, 30)  # the same city in another workspace
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a")
    for method, path in (("get", ""), ("get", "/report"), ("post", "/schedule"),
                         ("post", "/cancel"), ("put", ""), ("delete", "")):  # fmt: skip
        r = client.request(method.upper(), f"{API}/{campaign}", headers=other_ws.api_headers,
                           json=BASE if method == "put" else None) if not path else \
            client.request(method.upper(), f"{API}/{campaign}{path}",
                           headers=other_ws.api_headers)  # fmt: skip
        assert r.status_code == 404, (method, path, r.text)
    assert client.get(API, headers=other_ws.api_headers).json()["items"] == []
    theirs = create(client, other_ws, segment_id=seg, message_id="msg_a")  # my segment id
    assert (
        client.post(f"{API}/{theirs}/schedule", headers=other_ws.api_headers).json()["error"][
            "field"
        ]
        == "segment_id"
    )
    schedule(client, ws, campaign)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    assert set(recipients(container, campaign)) == mine
    assert [c["id"] for c in client.get(API, headers=ws.api_headers).json()["items"]] == [campaign]


def test_end_to_end_to_smtp_and_the_holdout_report(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    people = [contact(client, ws, f"p{i}@example.com") for i in range(40)]
    setup_sending(client, container, ws)
    set_global_control(client, ws, 20)  # empty with 40 people: 0.8^40, about 1 in 7,000
    with smtp_peer(dnsfunc=dns_for(KEY)) as peer:
        setup_sending(client, container, ws, port=peer.port)
        campaign = create(client, ws, audience="all_consented", message_id="msg_a",
                          holdout_pct=25)  # fmt: skip
        schedule(client, ws, campaign)
        runner(container).tick(datetime.now(UTC))  # due now: the dispatcher takes them
        asyncio.run(messaging(container).dispatcher.run_until_idle())
        got = recipients(container, campaign)
        treated = {c for c, r in got.items() if r[0] == "send"}
        assert set(got) == set(people)
        assert sorted(r.rcpt_to[0] for r in peer.handler.received) == sorted(
            f"p{people.index(c)}@example.com" for c in treated
        )  # exactly one message to each treated contact, none to the held out
    progress = client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["progress"]
    assert progress["sent"] == len(treated) == progress["recipients"]
    held = sorted(c for c, r in got.items() if r[0] == "holdout")
    control = sorted(c for c, r in got.items() if r[0] == "control")
    assert held
    assert control
    buyers = sorted(treated)[:4] + held[:1]
    start = datetime.now(UTC)
    container.db.write(lambda conn: conn.executemany(
        "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, revenue,"
        " placed_at, updated_at) VALUES (?, ?, ?, 'paid', 100, 80, ?, ?)",
        [[ws.id, f"o{c}", c, start, start] for c in buyers]))  # fmt: skip
    report = client.get(f"{API}/{campaign}/report", headers=ws.api_headers).json()["holdout"]
    groups = report["groups"]
    assert (groups["treated"]["converters"], groups["treated"]["revenue"]) == (4, 320)
    assert groups["holdout"]["converters"] == 1
    vs = report["vs_holdout"]
    expected = 4 / len(treated) - 1 / len(held)
    assert vs["absolute_lift"] == pytest.approx(expected)
    assert vs["incremental_revenue"] == pytest.approx(
        (320 / len(treated) - 80 / len(held)) * len(treated)
    )
    assert 0 <= vs["p_value"] <= 1
    assert "vs_control" in report
