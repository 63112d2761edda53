"""The action nodes on a real store: an event starts a run, the runner advances it and the
effects land once — traits, lists and tags, goals, webhook calls to a local receiver — even
when a step is replayed after a "crash"; the journey-level goal ends a waiting run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiohttp import web
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.effects import WebhookEffects, apply_effects, on_contacts_changed
from retenta.journeys.engine import send_id_for
from retenta.journeys.service import for_container
from retenta.messaging.services import for_container as messaging
from tests.conftest import Workspace
from tests.journeys.test_runs import journey, runs, track

SECRET = "whsec_" + "s" * 26
TRIGGER = {"type": "event", "event": "Checkout Started"}


def person(client: TestClient, ws: Workspace, **extra: Any) -> int:
    body: dict[str, Any] = {
        "identifiers": {
            "external_id": "u1",
            "email": "olena@example.com",
            "phone": "+380501234567",
        },
        "attributes": {"first_name": "Olena", "churn_risk": "high"},
        **extra,
    }
    r = client.post("/api/v1/contacts", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def doc(*nodes: dict[str, Any], end: bool = True, **extra: Any) -> dict[str, Any]:
    exits = [{"id": "end", "type": "exit"}] if end else []
    return {"name": "Nodes", "entry": {"trigger": TRIGGER, "rule": {"type": "every_time",
            "max_concurrent": 5}}, "start": nodes[0]["id"], "nodes": [*nodes, *exits],
            **extra}  # fmt: skip


def attributes(container: Container, contact_id: int) -> dict[str, Any]:
    with container.db.read() as cur:
        row = cur.execute("SELECT attributes FROM contacts WHERE id = ?", [contact_id]).fetchone()
    return dict(orjson.loads(row[0]))


def table(container: Container, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(sql, list(params)).fetchall()


def test_update_contact_list_and_goal_nodes_change_the_contact_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact_id = person(client, ws)
    journey_id = journey(client, ws, doc(
        {"id": "u", "type": "update_contact", "next": "tag",
         "set": {"last_cart": "{{ trigger.properties.cart_id }}",
                 "hello": "Hi {{ contact.first_name }} <{{ contact.email }}>"},
         "unset": ["churn_risk"]},
        {"id": "tag", "type": "list", "action": "add", "kind": "tag", "name": "cart",
         "next": "vip"},
        {"id": "vip", "type": "list", "action": "add", "name": "VIP", "next": "g"},
        {"id": "g", "type": "goal", "name": "Engaged"}, end=False,
    ))  # fmt: skip
    heard: list[tuple[str, list[int]]] = []
    on_contacts_changed(container.db, lambda w, ids: heard.append((w, ids)))
    track(client, ws, "Checkout Started", cart_id="C-42")
    runner = for_container(container).runner
    runner.tick(datetime.now(UTC))
    assert heard == [(ws.id, [contact_id])]  # segments re-evaluate it, identity forgets it
    traits = attributes(container, contact_id)
    assert (traits["last_cart"], traits["hello"]) == ("C-42", "Hi Olena <olena@example.com>")
    assert "churn_risk" not in traits
    assert runs(container, journey_id)[0][2] == "done"
    members = table(container, "SELECT kind, name, left_at, source FROM contact_lists"
                    " WHERE contact_id = ? ORDER BY kind", contact_id)  # fmt: skip
    assert [(k, n, left) for k, n, left, _ in members] == [("list", "VIP", None),
                                                           ("tag", "cart", None)]  # fmt: skip
    assert members[0][3].startswith(f"journey:{journey_id}:run_")
    goals = table(container, "SELECT journey_id, version, goal, node_id FROM journey_goals")
    assert goals == [(journey_id, 1, "Engaged", "g")]
    trace = client.get(f"/api/v1/contacts/{contact_id}/journey-trace", headers=ws.api_headers)
    decisions = [i["decision"] for i in reversed(trace.json()["items"])]
    assert decisions == ["entered", "updated", "updated", "updated", "converted"]
    lists = client.get(f"/api/v1/contacts/{contact_id}/lists", headers=ws.api_headers).json()
    assert {(i["kind"], i["name"]) for i in lists["items"]} == {("list", "VIP"), ("tag", "cart")}


def test_a_replayed_step_repeats_no_effect(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact_id = person(client, ws)
    journey_id = journey(client, ws, doc(
        {"id": "u", "type": "update_contact", "set": {"stage": "cart"}, "next": "out"},
        {"id": "out", "type": "list", "action": "remove", "name": "Newsletter", "next": "end"},
    ))  # fmt: skip
    r = client.post(f"/api/v1/contacts/{contact_id}/lists", headers=ws.api_headers,
                    json={"name": "Newsletter"})  # fmt: skip
    assert r.status_code == 201, r.text
    track(client, ws, "Checkout Started", cart_id="C-1")
    runner = for_container(container).runner
    now = datetime.now(UTC)
    claimed = container.db.write(lambda conn: conn.execute(
        "SELECT run_id, workspace_id, journey_id, version, contact_id, node_id,"
        " node_entered_at, entered_at, context, wake_at FROM journey_runs").fetchall())  # fmt: skip
    steps = runner._steps(claimed, now)
    assert apply_effects(container.db, steps, now) == 2  # the process "dies" after this
    # Meanwhile the contact changes again: a replay must not undo that.
    container.db.write(lambda c: c.execute(
        "UPDATE contacts SET attributes = json_object('stage', 'bought') WHERE id = ?",
        [contact_id]))  # fmt: skip
    again = client.post(f"/api/v1/contacts/{contact_id}/lists", headers=ws.api_headers,
                        json={"name": "Newsletter"})  # fmt: skip
    assert again.status_code == 201
    runner.tick(now + timedelta(seconds=1))  # after restart the same step runs again
    assert runs(container, journey_id)[0][2] == "done"
    assert attributes(container, contact_id) == {"stage": "bought"}
    current = client.get(f"/api/v1/contacts/{contact_id}/lists", headers=ws.api_headers)
    assert [i["name"] for i in current.json()["items"]] == ["Newsletter"]  # re-joined, kept
    done = table(container, "SELECT kind, status FROM journey_effects ORDER BY kind")
    assert done == [("list", "done"), ("update_contact", "done")]


def test_the_journey_goal_ends_a_waiting_run_as_converted(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact_id = person(client, ws)
    goal = {"name": "Purchased", "event": "Order Completed",
            "where": [{"property": "total", "op": "gte", "value": 50}]}  # fmt: skip
    journey_id = journey(client, ws, doc(
        {"id": "wait", "type": "wait", "duration": {"amount": 1, "unit": "days"}, "next": "mail"},
        {"id": "mail", "type": "send", "message_id": "msg_cart", "next": "end"},
        goal=goal))  # fmt: skip
    track(client, ws, "Checkout Started", cart_id="C-7")
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    assert runs(container, journey_id)[0][2:4] == ("active", "wait")
    track(client, ws, "Order Completed", total=20)  # below the goal's filter
    assert runs(container, journey_id)[0][2] == "active"
    track(client, ws, "Order Completed", total=80)
    [(run_id, _, state, node, _)] = runs(container, journey_id)
    assert (state, node) == ("done", "wait")
    [(goal_name, node_id, event_id)] = table(
        container, "SELECT goal, node_id, event_id FROM journey_goals WHERE run_id = ?", run_id
    )
    assert (goal_name, node_id) == ("Purchased", "goal")
    assert event_id is not None
    runner.tick(now + timedelta(days=2))
    assert table(container, "SELECT * FROM sends WHERE campaign_id = ?", journey_id) == []
    trace = client.get(f"/api/v1/contacts/{contact_id}/journey-trace", headers=ws.api_headers)
    last = trace.json()["items"][0]
    assert last["decision"] == "converted"
    assert "Order Completed" in last["reason"]


def test_a_run_keeps_its_versions_goal_after_the_goal_is_edited(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person(client, ws)
    wait = {"id": "wait", "type": "wait", "duration": {"amount": 1, "unit": "days"},
            "next": "end"}  # fmt: skip
    first = doc(wait, goal={"name": "Purchased", "event": "Order Completed"})
    journey_id = journey(client, ws, first)
    track(client, ws, "Checkout Started", cart_id="C-8")
    for_container(container).runner.tick(datetime.now(UTC))
    second = doc(wait, goal={"name": "Subscribed", "event": "Signed Up"})
    saved = client.put(f"/api/v1/journeys/{journey_id}", headers=ws.api_headers, json=second)
    assert saved.status_code == 200, saved.text
    track(client, ws, "Order Completed", total=10)  # version 1's goal, no longer the live one's
    [(run_id, _, state, _, _)] = runs(container, journey_id)
    assert state == "done"
    assert table(container, "SELECT version, goal FROM journey_goals WHERE run_id = ?",
                 run_id) == [(1, "Purchased")]  # fmt: skip


def test_wait_until_uses_the_contact_time_zone(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person(client, ws, timezone="America/New_York")
    journey_id = journey(client, ws, doc(
        {"id": "w", "type": "wait_until", "at": "09:00", "next": "end"}))  # fmt: skip
    track(client, ws, "Checkout Started")
    for_container(container).runner.tick(datetime.now(UTC))
    [(wake_at,)] = table(container, "SELECT wake_at FROM journey_runs WHERE journey_id = ?",
                         journey_id)  # fmt: skip
    local = wake_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert wake_at - datetime.now(UTC) <= timedelta(days=1)


async def serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def webhook_settings(client: TestClient, ws: Workspace, origin: str) -> None:
    """The workspace's webhook channel (its secret signs the nodes' calls), loopback allowed."""
    config = {"url": f"{origin}/default", "secret": SECRET, "allow_private_targets": True}
    r = client.put("/api/v1/channels/webhook/default", headers=ws.api_headers, json=config)
    assert r.status_code == 200, r.text


def signed(headers: dict[str, str], body: bytes) -> bool:
    """The receiver's own check of ``Retenta-Signature`` over the raw body."""
    fields = dict(p.split("=", 1) for p in headers["Retenta-Signature"].split(","))
    mac = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), fields["v1"])


def test_an_identify_after_update_contact_is_not_taken_for_a_repeat(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Identity remembers the traits it last applied and skips an identical identify; a
    journey's update_contact changes them behind its back, so the contact's remembered
    profile is dropped and the same identify again is written."""
    contact_id = person(client, ws)

    def identify(tier: str, message_id: str) -> None:
        body = {"userId": "u1", "traits": {"tier": tier}, "messageId": message_id}
        assert client.post("/v1/identify", json=body, auth=ws.write_auth).status_code == 200

    identify("gold", "m1")
    journey(client, ws, doc({"id": "u", "type": "update_contact", "set": {"tier": "silver"},
                             "next": "end"}))  # fmt: skip
    track(client, ws, "Checkout Started")
    for_container(container).runner.tick(datetime.now(UTC))
    assert attributes(container, contact_id)["tier"] == "silver"
    identify("gold", "m2")  # the same traits in a new message (not a retry)
    assert attributes(container, contact_id)["tier"] == "gold"


def test_the_webhook_node_posts_once_signed_and_retries_a_busy_receiver(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact_id = person(client, ws)
    calls: list[tuple[dict[str, str], bytes]] = []

    async def crm(request: web.Request) -> web.Response:
        calls.append((dict(request.headers), await request.read()))
        return web.Response(status=503 if len(calls) == 1 else 200)

    async def main() -> None:
        server, origin = await serve(crm)
        try:
            webhook_settings(client, ws, origin)
            journey_id = journey(client, ws, doc(
                {"id": "hook", "type": "webhook", "url": f"{origin}/leads",
                 "headers": {"X-Cart": "{{ trigger.properties.cart_id }}"},
                 "body": {"contact": "{{ contact.contact_id }}",
                          "cart": "{{ trigger.properties.cart_id }}"},
                 "next": "end"}))  # fmt: skip
            track(client, ws, "Checkout Started", cart_id="C-5")
            runner = for_container(container).runner
            now = datetime.now(UTC)
            runner.tick(now)
            runner.tick(now + timedelta(seconds=1))
            assert runs(container, journey_id)[0][2] == "done"  # the run does not wait for it
            worker = WebhookEffects(container.db, messaging(container).channel_settings)
            assert await worker.tick(now) == 1  # 503: tried again later
            assert await worker.tick(now) == 0
            assert await worker.tick(now + timedelta(hours=2)) == 1
            assert await worker.tick(now + timedelta(hours=4)) == 0
        finally:
            await server.cleanup()

    asyncio.run(main())
    assert len(calls) == 2
    [(run_id,)] = table(container, "SELECT run_id FROM journey_runs")
    key = send_id_for(run_id, "hook")
    for headers, body in calls:
        assert headers["Idempotency-Key"] == key  # the same key on the retry
        assert headers["X-Cart"] == "C-5"
        assert signed(headers, body)
        assert orjson.loads(body) == {"contact": str(contact_id), "cart": "C-5"}
    [(status, attempts, result)] = table(
        container, "SELECT status, attempts, result FROM journey_effects WHERE kind = 'webhook'"
    )
    assert (status, attempts) == ("done", 2)
    assert result.startswith("200")


@pytest.mark.parametrize(("method", "body"), [("PUT", b'{"vip":true}'), ("DELETE", b"")])
def test_the_webhook_node_calls_with_its_method(
    client: TestClient, container: Container, ws: Workspace, method: str, body: bytes
) -> None:
    person(client, ws)
    calls: list[tuple[str, str, dict[str, str], bytes]] = []

    async def crm(request: web.Request) -> web.Response:
        calls.append((request.method, request.path, dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def main() -> None:
        server, origin = await serve(crm)
        try:
            webhook_settings(client, ws, origin)
            node: dict[str, Any] = {"id": "hook", "type": "webhook", "method": method,
                                    "url": f"{origin}/leads/7", "next": "end"}  # fmt: skip
            if body:
                node["body"] = {"vip": True}
            journey(client, ws, doc(node))
            track(client, ws, "Checkout Started")
            now = datetime.now(UTC)
            for_container(container).runner.tick(now)
            worker = WebhookEffects(container.db, messaging(container).channel_settings)
            assert await worker.tick(now) == 1
        finally:
            await server.cleanup()

    asyncio.run(main())
    [(seen_method, path, headers, raw)] = calls
    assert (seen_method, path, raw) == (method, "/leads/7", body)
    assert ("Content-Type" in headers) == bool(body)
    assert signed(headers, raw)
    [(status,)] = table(container, "SELECT status FROM journey_effects WHERE kind = 'webhook'")
    assert status == "done"


def test_a_webhook_to_a_private_address_is_refused_without_the_setting(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person(client, ws)
    config = {"url": "https://crm.example/hook", "secret": SECRET}
    assert client.put("/api/v1/channels/webhook/default", headers=ws.api_headers,
                      json=config).status_code == 200  # fmt: skip
    journey(client, ws, doc({"id": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x",
                             "next": "end"}))  # fmt: skip
    track(client, ws, "Checkout Started")
    now = datetime.now(UTC)
    for_container(container).runner.tick(now)
    worker = WebhookEffects(container.db, messaging(container).channel_settings)
    assert asyncio.run(worker.tick(now)) == 1
    [(status, result)] = table(container, "SELECT status, result FROM journey_effects")
    assert status == "failed"
    assert result == "127.0.0.1 is not a public address"


def test_the_lists_api(client: TestClient, container: Container, ws: Workspace) -> None:
    contact_id = person(client, ws)
    url = f"/api/v1/contacts/{contact_id}/lists"
    h = ws.api_headers
    assert client.post(url, headers=h, json={"kind": "tag", "name": "vip"}).status_code == 201
    assert client.post(url, headers=h, json={"kind": "tag", "name": "vip"}).status_code == 200
    bad = client.post(url, headers=h, json={"kind": "tag", "name": " vip"})
    assert bad.status_code == 422
    assert "spaces" in bad.text
    assert client.post(url, headers=h, json={"kind": "group", "name": "x"}).status_code == 422
    assert client.delete(f"{url}/tag/vip", headers=h).status_code == 200
    missing = client.delete(f"{url}/tag/vip", headers=h)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_member"
    history = client.get(url, headers=h, params={"history": "true"}).json()["items"]
    assert [(i["name"], i["left_at"] is not None, i["source"]) for i in history] == [
        ("vip", True, "api")
    ]
    assert client.get(url, headers=h).json()["items"] == []
    assert client.get("/api/v1/contacts/999999/lists", headers=h).status_code == 404
