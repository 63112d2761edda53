"""Through the front door: Segment calls in, profile API out, erase, and a replay after it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace

BASE = "/api/v1/contacts"


def send(client: TestClient, ws: Workspace, kind: str, body: dict[str, Any]) -> None:
    resp = client.post(f"/v1/{kind}", json=body, auth=ws.write_auth)
    assert resp.status_code == 200, resp.text


def anonymous_visit_then_signup(client: TestClient, ws: Workspace) -> None:
    send(
        client,
        ws,
        "track",
        {
            "messageId": "t-1",
            "anonymousId": "dev-9",
            "event": "Product Viewed",
            "properties": {"sku": "s1", "category": "Shoes"},
            "timestamp": "2026-01-01T10:00:00Z",
        },
    )
    send(
        client,
        ws,
        "identify",
        {
            "messageId": "i-1",
            "anonymousId": "dev-9",
            "userId": "u-9",
            "traits": {"email": "Nina@Example.com", "firstName": "Nina"},
            "timestamp": "2026-01-01T10:05:00Z",
        },
    )
    send(
        client,
        ws,
        "track",
        {
            "messageId": "t-2",
            "userId": "u-9",
            "event": "Order Completed",
            "properties": {
                "order_id": "o-9",
                "total": 40,
                "products": [{"sku": "s1", "price": 40, "quantity": 1, "category": "Shoes"}],
            },
            "timestamp": "2026-01-01T10:10:00Z",
        },
    )


def test_tracked_events_show_up_in_the_profile(client: TestClient, ws: Workspace) -> None:
    anonymous_visit_then_signup(client, ws)
    resp = client.get(
        f"{BASE}/lookup", params={"email": "nina@example.com"}, headers=ws.api_headers
    )
    assert resp.status_code == 200, resp.text
    profile = resp.json()
    assert profile["traits"]["last_activity_at"].startswith("2026-01-01T10:10")
    timeline = client.get(f"{BASE}/{profile['id']}/events", headers=ws.api_headers).json()
    assert [e["message_id"] for e in timeline["items"]] == ["t-2", "i-1", "t-1"]
    by_anon = client.get(f"{BASE}/lookup", params={"anonymous_id": "dev-9"}, headers=ws.api_headers)
    assert by_anon.json()["id"] == profile["id"]


def test_upsert_creates_then_updates_with_consents(client: TestClient, ws: Workspace) -> None:
    body = {
        "identifiers": {"email": "Oleh@Example.com", "external_id": "u-oleh"},
        "attributes": {"first_name": "Oleh", "city": "Lviv"},
        "language": "uk",
        "timezone": "Europe/Kyiv",
        "consents": [{"channel": "email", "status": "subscribed", "source": "checkout"}],
    }
    created = client.post(BASE, json=body, headers=ws.api_headers)
    assert created.status_code == 201, created.text
    profile = created.json()
    assert profile["attributes"]["city"] == "Lviv"
    assert (profile["language"], profile["timezone"]) == ("uk", "Europe/Kyiv")
    assert profile["consents"]["current"][0]["status"] == "subscribed"
    again = {"identifiers": {"external_id": "u-oleh"}, "attributes": {"city": "Kyiv"}}
    updated = client.post(BASE, json=again, headers=ws.api_headers)
    assert updated.status_code == 200
    assert updated.json()["id"] == profile["id"]
    assert updated.json()["attributes"]["city"] == "Kyiv"


def test_upsert_rejects_bad_input_naming_the_field(client: TestClient, ws: Workspace) -> None:
    for body, field in (
        ({"identifiers": {"email": "nope"}}, "identifiers.email"),
        ({"identifiers": {}}, "identifiers"),
        ({"identifiers": {"external_id": "u1"}, "timezone": "Mars/Olympus"}, "timezone"),
        ({"identifiers": {"external_id": "u1"}, "colour": "red"}, "colour"),
        (
            {"identifiers": {"external_id": "u1"}, "consents": [{"channel": "sms"}]},
            "consents[0].status",
        ),
    ):
        resp = client.post(BASE, json=body, headers=ws.api_headers)
        assert resp.status_code == 422, body
        assert resp.json()["error"]["field"] == field


def test_erased_person_is_not_recreated_by_a_replayed_event(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    anonymous_visit_then_signup(client, ws)
    cid = client.get(
        f"{BASE}/lookup", params={"external_id": "u-9"}, headers=ws.api_headers
    ).json()["id"]
    assert client.delete(f"{BASE}/{cid}", headers=ws.api_headers).status_code == 200
    with container.db.read() as cur:
        contacts_before = cur.execute("SELECT count(*) FROM contacts").fetchone()[0]
    # The same old events again, re-sent from a backup under new message ids.
    send(
        client,
        ws,
        "identify",
        {
            "messageId": "replay-i-1",
            "anonymousId": "dev-9",
            "userId": "u-9",
            "traits": {"email": "nina@example.com"},
            "timestamp": "2026-01-01T10:05:00Z",
        },
    )
    send(
        client,
        ws,
        "track",
        {
            "messageId": "replay-t-1",
            "anonymousId": "dev-9",
            "event": "Product Viewed",
            "timestamp": "2026-01-01T10:00:00Z",
        },
    )
    for params in (
        {"email": "nina@example.com"},
        {"external_id": "u-9"},
        {"anonymous_id": "dev-9"},
    ):
        assert (
            client.get(f"{BASE}/lookup", params=params, headers=ws.api_headers).status_code == 404
        )
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM contacts").fetchone()[0] == contacts_before
        assert cur.execute("SELECT count(*) FROM all_events").fetchone()[0] == 0
