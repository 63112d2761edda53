"""Dry run on a real store: a past abandoned-cart window replayed through a journey — who
enters, who is spared because they bought, which messages each would have got — and that
nothing is written."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace

T0 = (datetime.now(UTC) - timedelta(days=9)).replace(hour=8, minute=0, second=0, microsecond=0)
SINCE, UNTIL = T0, T0 + timedelta(days=7)
CART: dict[str, Any] = {
    "name": "Abandoned cart",
    "entry": {"trigger": {"type": "event", "event": "Checkout Started",
                          "where": [{"property": "total", "op": "gte", "value": 50}]},
              "rule": {"type": "once_per", "period": {"amount": 7, "unit": "days"}}},
    "start": "wait",
    "nodes": [
        {"id": "wait", "type": "wait_event", "event": "Order Completed",
         "timeout": {"amount": 1, "unit": "hours"}, "then": "bought", "else": "remind"},
        {"id": "remind", "type": "send", "message_id": "msg_cart", "next": "day"},
        {"id": "day", "type": "wait", "duration": {"amount": 1, "unit": "days"}, "next": "check"},
        {"id": "check", "type": "condition",
         "if": {"kind": "event_happened", "event": "Order Completed"},
         "then": "bought", "else": "discount"},
        {"id": "discount", "type": "send", "message_id": "msg_discount", "cascade": ["sms"],
         "next": "bought"},
        {"id": "bought", "type": "exit"},
    ],
}  # fmt: skip


def track(client: TestClient, ws: Workspace, user: str, event: str, at: datetime,
          **properties: Any) -> None:  # fmt: skip
    body = {"userId": user, "event": event, "properties": properties,
            "timestamp": at.isoformat()}  # fmt: skip
    answer = client.post("/v1/track", json=body, auth=ws.write_auth)
    assert answer.status_code == 200, answer.text


def contact_of(container: Container, ws: Workspace, user: str) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT contact_id FROM identities WHERE workspace_id = ? AND"
            " type = 'external_id' AND value = ?",
            [ws.id, user],
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def shop(client: TestClient, container: Container, ws: Workspace) -> dict[str, int]:
    """Last week's carts: Ann abandons hers (and comes back), Bob buys within the hour,
    Cid buys the next morning, Dan's cart is too small, Eve's is from before the window."""
    h = timedelta(hours=1)
    track(client, ws, "ann", "Checkout Started", T0 + h, total=80)
    track(client, ws, "bob", "Checkout Started", T0 + 2 * h, total=90)
    track(client, ws, "bob", "Order Completed", T0 + 2.5 * h, total=90)
    track(client, ws, "cid", "Checkout Started", T0 + 3 * h, total=120)
    track(client, ws, "ann", "Checkout Started", T0 + 5 * h, total=85)  # once per 7 days
    track(client, ws, "cid", "Order Completed", T0 + 10 * h, total=120)
    track(client, ws, "dan", "Checkout Started", T0 + 4 * h, total=20)
    track(client, ws, "eve", "Checkout Started", T0 - 30 * h, total=200)
    return {u: contact_of(container, ws, u) for u in ("ann", "bob", "cid", "dan", "eve")}


def dry_run(client: TestClient, ws: Workspace, **body: Any) -> dict[str, Any]:
    window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    r = client.post("/api/v1/journeys/dry-run", headers=ws.api_headers,
                    json={**window, **body})  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())


def written(container: Container, ws: Workspace) -> tuple[int, ...]:
    tables = ("journey_runs", "journey_trace", "sends", "journey_effects")
    with container.db.read() as cur:
        counts = [
            cur.execute(f"SELECT count(*) FROM {table} WHERE workspace_id = ?", [ws.id]).fetchone()
            for table in tables
        ]
    return tuple(int(c[0]) for c in counts)


def test_who_enters_who_is_spared_and_what_each_gets(
    client: TestClient, container: Container, ws: Workspace, shop: dict[str, int]
) -> None:
    before = written(container, ws)
    result = dry_run(client, ws, definition=CART)
    assert written(container, ws) == before == (0, 0, 0, 0)
    assert result["entered"] == 3
    assert (result["refused"], result["truncated"]) == (1, False)  # Ann's second cart
    assert (result["simulated"], result["complete"]) == (3, True)
    people = {c["contact_id"]: c for c in result["contacts"]}
    assert set(people) == {shop["ann"], shop["bob"], shop["cid"]}

    ann, bob, cid = people[shop["ann"]], people[shop["bob"]], people[shop["cid"]]
    assert [(s["node_id"], s["message_id"], s["channel"]) for s in ann["sends"]] == [
        ("remind", "msg_cart", "email"), ("discount", "msg_discount", "sms")]  # fmt: skip
    assert [datetime.fromisoformat(s["at"]) for s in ann["sends"]] == [
        T0 + timedelta(hours=2), T0 + timedelta(days=1, hours=2)]  # fmt: skip
    assert bob["sends"] == []  # bought within the hour: spared
    assert [(p["node_id"], p["decision"]) for p in bob["path"]] == [
        ("wait", "entered"),
        ("wait", "waiting"),
        ("wait", "branch"),
        ("bought", "exit"),
    ]
    assert datetime.fromisoformat(bob["path"][2]["at"]) == T0 + timedelta(hours=2.5)
    assert [s["message_id"] for s in cid["sends"]] == ["msg_cart"]  # bought before the discount
    assert cid["path"][-2]["node_id"] == "check"
    assert cid["path"][-2]["reason"].endswith("yes")
    assert datetime.fromisoformat(ann["entered_at"]) == T0 + timedelta(hours=1)
    assert result["by_node"] == {"wait": 3, "bought": 3, "remind": 2, "day": 2, "check": 2,
                                 "discount": 1}  # fmt: skip
    assert result["outcomes"] == {"finished": 3}


def test_a_saved_journey_and_the_limit(
    client: TestClient, container: Container, ws: Workspace, shop: dict[str, int]
) -> None:
    made = client.post("/api/v1/journeys", headers=ws.api_headers, json=CART)
    assert made.status_code == 201, made.text
    journey_id = made.json()["id"]
    window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "limit": 2}
    r = client.post(f"/api/v1/journeys/{journey_id}/dry-run", headers=ws.api_headers,
                    json=window)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["entered"], body["simulated"], body["truncated"]) == (3, 2, True)
    assert body["refused"] == 1  # counted past the limit too
    assert [c["contact_id"] for c in body["contacts"]] == [shop["ann"], shop["bob"]]
    assert written(container, ws)[0] == 0
    missing = client.post("/api/v1/journeys/jny_nope/dry-run", headers=ws.api_headers, json={})
    assert missing.status_code == 404
    edited = copy.deepcopy(CART)
    edited["nodes"][1]["message_id"] = "msg_cart_v2"
    r = client.put(f"/api/v1/journeys/{journey_id}", headers=ws.api_headers, json=edited)
    assert r.status_code == 200, r.text
    url = f"/api/v1/journeys/{journey_id}/dry-run"
    for version, message in ((None, "msg_cart_v2"), (1, "msg_cart")):
        body = client.post(url, headers=ws.api_headers, json={**window, "version": version})
        assert body.status_code == 200, body.text
        assert body.json()["contacts"][0]["sends"][0]["message_id"] == message, version
    gone = client.post(url, headers=ws.api_headers, json={**window, "version": 9})
    assert gone.status_code == 404


def test_the_journey_goal_converts_a_run(
    client: TestClient, ws: Workspace, shop: dict[str, int]
) -> None:
    doc = copy.deepcopy(CART)
    doc["goal"] = {"name": "Purchased", "event": "Order Completed"}
    result = dry_run(client, ws, definition=doc)
    people = {c["contact_id"]: c for c in result["contacts"]}
    cid = people[shop["cid"]]
    assert (cid["outcome"], cid["path"][-1]["decision"]) == ("converted", "converted")
    assert datetime.fromisoformat(cid["path"][-1]["at"]) == T0 + timedelta(hours=10)
    assert [s["message_id"] for s in cid["sends"]] == ["msg_cart"]
    assert people[shop["ann"]]["outcome"] == "finished"


def test_bad_requests_name_the_field(client: TestClient, ws: Workspace) -> None:
    bad = copy.deepcopy(CART)
    bad["nodes"][1]["next"] = "nowhere"
    cases = [
        ({"definition": bad}, "invalid_journey", "definition.nodes[1].next"),
        ({"definition": CART, "limit": 0}, "validation_error", "limit"),
        ({"definition": CART, "since": UNTIL.isoformat(), "until": SINCE.isoformat()},
         "validation_error", "since"),
        ({"definition": CART, "since": "2026-01-01T00:00:00"}, "validation_error", "since"),
        ({"definition": {**CART, "entry": {"trigger": {"type": "api"}}}},
         "unsupported_trigger", "entry.trigger.type"),
    ]  # fmt: skip
    for body, code, field in cases:
        r = client.post("/api/v1/journeys/dry-run", headers=ws.api_headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field), r.text


def test_examples() -> None:
    import doctest

    from retenta.journeys import dryrun

    result = doctest.testmod(dryrun)
    assert result.attempted > 0
    assert result.failed == 0


def test_reading_stops_at_the_cap(
    client: TestClient, ws: Workspace, shop: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retenta.journeys import dryrun

    monkeypatch.setattr(dryrun, "MAX_COUNTED", 2)  # occurrences: Ann's and Bob's carts only
    result = dry_run(client, ws, definition=CART)
    assert (result["entered"], result["complete"], result["truncated"]) == (2, False, True)
