"""Statuses around the edges: a segment deleted before the start fails the campaign with
the reason; drafts are deleted; lists filter by status; a 100% test sample finishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    API,
    create,
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


def test_a_deleted_segment_fails_the_campaign_with_the_reason(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seed_contacts(container, ws, 5)
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    campaign = create(client, ws, segment_id=seg, message_id="msg_a")
    schedule(client, ws, campaign)
    assert client.delete(f"/api/v1/segments/{seg}", headers=ws.api_headers).status_code < 300
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    body = client.get(f"{API}/{campaign}", headers=ws.api_headers).json()
    assert body["status"] == "failed"
    assert seg in body["error"]
    assert sends(container, campaign) == []


def test_drafts_are_deleted_and_lists_filter_by_status(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seg = segment(client, ws)
    setup_sending(client, container, ws)
    draft = create(client, ws, segment_id=seg, message_id="msg_a")
    scheduled = create(client, ws, segment_id=seg, message_id="msg_a")
    schedule(client, ws, scheduled)
    listed = client.get(API, headers=ws.api_headers, params={"status": "scheduled"}).json()
    assert [c["id"] for c in listed["items"]] == [scheduled]
    assert client.delete(f"{API}/{scheduled}", headers=ws.api_headers).status_code == 409
    assert client.delete(f"{API}/{draft}", headers=ws.api_headers).status_code == 204
    assert client.get(f"{API}/{draft}", headers=ws.api_headers).status_code == 404
    edited = client.put(f"{API}/{scheduled}", headers=ws.api_headers,
                        json={"name": "x", "segment_id": seg, "message_id": "msg_a"})  # fmt: skip
    assert edited.json()["error"]["code"] == "invalid_status"


def test_a_whole_audience_test_decides_and_finishes(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    seed_contacts(container, ws, 40)
    seg = segment(client, ws)
    setup_sending(client, container, ws, "msg_a", "msg_b")
    set_global_control(client, ws, 0)
    ab = {"sample_pct": 100, "wait": {"amount": 1, "unit": "hours"}, "metric": "opens"}
    campaign = create(client, ws, segment_id=seg, variants=["msg_a", "msg_b"], ab_test=ab)
    schedule(client, ws, campaign)
    now = datetime.now(UTC) + timedelta(seconds=1)
    runner(container).tick(now)
    assert len(sends(container, campaign)) == 40
    assert client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["status"] == "sending"
    runner(container).tick(now + timedelta(hours=1, seconds=1))
    body = client.get(f"{API}/{campaign}", headers=ws.api_headers).json()
    assert body["status"] == "sent"
    assert body["winner"]["message_id"] == "msg_a"  # nothing opened: too few, variant A
    assert len(sends(container, campaign)) == 40  # nobody was left for the winner
