"""The in-app channel and the app inbox API, over the real app and DuckDB.

Contacts come from identity (``resolve`` of real messages); messages are stored by
``InboxChannel.send`` as the send worker would; the app side is exercised through
TestClient with the write key, the user id and the HMAC user token.
"""

from __future__ import annotations

import asyncio
import doctest
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging import events
from retenta.messaging.channels.base import Outcome
from retenta.messaging.inbox import identity, models, store
from retenta.messaging.inbox.channel import Config, InAppMessage, build, check
from retenta.messaging.inbox.identity import user_token
from tests.conftest import Workspace
from tests.identity.helpers import msg, resolve


def contact(container: Container, ws: str, user: str, **kw: Any) -> int:
    [m] = resolve(container, [msg(ws, "identify", user=user, **kw)])
    assert m.contact_id is not None
    return m.contact_id


def deliver(container: Container, ws: str, messages: list[InAppMessage]) -> list[Any]:
    channel = build(Config(), db=container.db, workspace_id=ws)
    return asyncio.run(channel.send(messages))


def secret(client: TestClient, w: Workspace) -> str:
    answer = client.post("/api/v1/inbox/identity-secret", headers=w.api_headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def app_headers(secret_value: str, user: str) -> dict[str, str]:
    return {"Retenta-User-Id": user, "Retenta-User-Token": user_token(secret_value, user)}


def opened(container: Container, ws: str, status: str = "opened") -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT send_id, contact_id, channel, message_id, properties FROM message_events"
            " WHERE workspace_id = ? AND status = ? ORDER BY send_id",
            [ws, status],
        ).fetchall()


def test_doctests() -> None:
    for module in (models, store, identity):
        assert doctest.testmod(module).failed == 0


def test_the_channel_stores_once_and_refuses_bad_messages(
    container: Container, ws: Workspace
) -> None:
    ann = contact(container, ws.id, "ann")
    good = InAppMessage("snd_1", ann, "Знижка", "−20% сьогодні", "shop://sale",
                        "https://s.ex/i.png", {"layout": "card"})  # fmt: skip
    results = deliver(container, ws.id, [good, InAppMessage("snd_2", ann)])
    again = deliver(container, ws.id, [good])  # a retried send
    assert [(r.send_id, r.outcome) for r in results] == [
        ("snd_1", Outcome.SENT), ("snd_2", Outcome.PERMANENT)
    ]  # fmt: skip
    assert results[1].detail == "invalid"
    assert again[0].ok
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT send_id, title, payload, expires_at - created_at FROM inbox_messages"
        ).fetchall()
    assert rows == [("snd_1", "Знижка", '{"layout":"card"}', timedelta(days=30))]
    assert asyncio.run(check(Config())).ok


def test_a_user_lists_reads_and_deletes_only_their_inbox(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann, bob = contact(container, ws.id, "ann"), contact(container, ws.id, "bob")
    now = datetime.now(UTC)
    batch = [InAppMessage(f"a{i}", ann, f"title {i}", "body") for i in range(5)]
    batch += [
        InAppMessage("b0", bob, "for bob", "private"),
        InAppMessage("old", ann, "expired", "x", expires_at=now - timedelta(seconds=1)),
    ]
    assert all(r.ok for r in deliver(container, ws.id, batch))
    key = secret(client, ws)
    headers = app_headers(key, "ann")
    first = client.get("/v1/inbox?limit=3", auth=ws.write_auth, headers=headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["unread"] == 5
    assert len(page["items"]) == 3
    rest = client.get(
        f"/v1/inbox?limit=3&cursor={page['next_cursor']}", auth=ws.write_auth, headers=headers
    ).json()
    assert rest["next_cursor"] is None
    seen = [item["id"] for item in page["items"] + rest["items"]]
    assert sorted(seen) == [f"a{i}" for i in range(5)]  # not bob's, not the expired one
    assert len(set(seen)) == 5
    assert client.post("/v1/inbox/a1/read", auth=ws.write_auth, headers=headers).json() == {
        "id": "a1", "read": True, "newly_read": True
    }  # fmt: skip
    again = client.post("/v1/inbox/a1/read", auth=ws.write_auth, headers=headers).json()
    assert again["newly_read"] is False
    bobs = client.post("/v1/inbox/b0/read", auth=ws.write_auth, headers=headers)
    assert bobs.status_code == 404  # ann cannot touch bob's message
    assert client.delete("/v1/inbox/b0", auth=ws.write_auth, headers=headers).status_code == 404
    assert client.delete("/v1/inbox/a2", auth=ws.write_auth, headers=headers).json()["deleted"]
    unread = client.get("/v1/inbox?unread_only=true", auth=ws.write_auth, headers=headers)
    assert sorted(i["id"] for i in unread.json()["items"]) == ["a0", "a3", "a4"]
    assert unread.json()["unread"] == 3
    tapped = client.post("/v1/inbox/a4/click", auth=ws.write_auth, headers=headers).json()
    assert tapped == {"id": "a4", "url": None}
    marked = client.post("/v1/inbox/read-all", auth=ws.write_auth, headers=headers).json()
    assert marked == {"marked": 2}  # a0, a3: a4 was read by its click
    events = opened(container, ws.id)
    assert [e[0] for e in events] == ["a0", "a1", "a3", "a4"]  # one per first read
    assert [e[0] for e in opened(container, ws.id, "clicked")] == ["a4"]
    assert {e[2] for e in events} == {"inapp"}
    assert {e[1] for e in events} == {ann}
    bob_view = client.get("/v1/inbox", auth=ws.write_auth, headers=app_headers(key, "bob"))
    assert [i["id"] for i in bob_view.json()["items"]] == ["b0"]
    assert bob_view.json()["unread"] == 1


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({}, "Retenta-User-Id"),
        ({"Retenta-User-Id": "ann"}, "Retenta-User-Token"),
        ({"Retenta-User-Id": "ann", "Retenta-User-Token": "0" * 64}, "Retenta-User-Token"),
    ],
)
def test_app_requests_need_the_users_token(
    client: TestClient, container: Container, ws: Workspace, headers: dict[str, str], field: str
) -> None:
    contact(container, ws.id, "ann")
    secret(client, ws)
    answer = client.get("/v1/inbox", auth=ws.write_auth, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["field"] == field


def test_tokens_are_per_workspace_and_die_with_a_rotation(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    ann = contact(container, ws.id, "ann")
    contact(container, other_ws.id, "ann")
    deliver(container, ws.id, [InAppMessage("a0", ann, "hello")])
    before_setup = client.get("/v1/inbox", auth=ws.write_auth, headers={
        "Retenta-User-Id": "ann", "Retenta-User-Token": user_token("guess", "ann")})  # fmt: skip
    assert before_setup.status_code == 401  # no secret created yet: nothing is accepted
    key, other_key = secret(client, ws), secret(client, other_ws)
    assert key != other_key
    theirs = client.get("/v1/inbox", auth=other_ws.write_auth, headers=app_headers(key, "ann"))
    assert theirs.status_code == 401  # ws's token does not open other_ws's "ann"
    mine = client.get("/v1/inbox", auth=other_ws.write_auth, headers=app_headers(other_key, "ann"))
    assert mine.json()["items"] == []  # other_ws's ann has no messages; ws's are not shown
    made = client.post("/api/v1/inbox/user-tokens", json={"user_id": "ann"},
                       headers=ws.api_headers).json()  # fmt: skip
    assert made["user_token"] == user_token(key, "ann")
    rotated = secret(client, ws)
    stale = client.get("/v1/inbox", auth=ws.write_auth, headers=app_headers(key, "ann"))
    assert stale.status_code == 401
    fresh = client.get("/v1/inbox", auth=ws.write_auth, headers=app_headers(rotated, "ann"))
    assert [i["id"] for i in fresh.json()["items"]] == ["a0"]


def test_a_merged_person_sees_both_inboxes_and_the_management_view(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    anon = contact(container, ws.id, None, anon="device-1", traits={"email": "ann@shop.ex"})
    ann = contact(container, ws.id, "ann")
    deliver(container, ws.id, [InAppMessage("before", anon, "hi"), InAppMessage("a0", ann, "x")])
    resolve(container, [msg(ws.id, "identify", user="ann", traits={"email": "ann@shop.ex"})])
    live = container.identity.lookup(workspace_id=ws.id, id_type="external_id", value="ann")
    assert live in (anon, ann)
    key = secret(client, ws)
    listed = client.get("/v1/inbox", auth=ws.write_auth, headers=app_headers(key, "ann")).json()
    assert sorted(i["id"] for i in listed["items"]) == ["a0", "before"]
    client.delete("/v1/inbox/a0", auth=ws.write_auth, headers=app_headers(key, "ann"))
    view = client.get(f"/api/v1/contacts/{anon}/inbox", headers=ws.api_headers)
    assert view.status_code == 200, view.text
    rows = {i["id"]: i for i in view.json()["items"]}
    assert set(rows) == {"a0", "before"}
    assert rows["a0"]["deleted_at"] is not None
    assert rows["before"]["contact_id"] == anon
    missing = client.get("/api/v1/contacts/999999/inbox", headers=ws.api_headers)
    assert missing.status_code == 404


def test_only_admins_rotate_and_bad_cursors_are_named(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    unauthenticated = client.post("/api/v1/inbox/identity-secret")
    assert unauthenticated.status_code == 401
    key = secret(client, ws)
    contact(container, ws.id, "ann")
    bad = client.get("/v1/inbox?cursor=nope", auth=ws.write_auth, headers=app_headers(key, "ann"))
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "cursor"


def test_open_and_click_events_carry_the_sends_message_and_campaign(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann = contact(container, ws.id, "ann")
    deliver(container, ws.id, [InAppMessage("s1", ann, "Sale", "−20%", "shop://sale")])
    send = events.SendContext(ws.id, ann, "s1", "inapp", "cmp_9", "msg_1", ("promo",))
    asyncio.run(events.record(container.db, [events.MessageEvent(send, "sent", datetime.now(UTC))]))
    headers = app_headers(secret(client, ws), "ann")
    tapped = client.post("/v1/inbox/s1/click", auth=ws.write_auth, headers=headers)
    assert tapped.json() == {"id": "s1", "url": "shop://sale"}
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT status, campaign_id, message_id, tags, contact_id FROM message_events"
            " WHERE send_id = 's1' AND status <> 'sent' ORDER BY status DESC"
        ).fetchall()
    assert rows == [("opened", "cmp_9", "msg_1", ["promo"], ann),
                    ("clicked", "cmp_9", "msg_1", ["promo"], ann)]  # fmt: skip
    missing = client.post("/v1/inbox/nope/click", auth=ws.write_auth, headers=headers)
    assert missing.status_code == 404


def test_a_listed_web_app_may_call_the_inbox_from_a_browser(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact(container, ws.id, "ann")
    headers = app_headers(secret(client, ws), "ann")
    shop, evil = "https://shop.example", "https://evil.example"
    put = client.put("/api/v1/channels/inapp/default", headers=ws.api_headers,
                     json={"allowed_origins": [shop + "/"]})  # fmt: skip
    assert put.status_code == 200, put.text
    asked = {
        "Origin": shop,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, retenta-user-id, retenta-user-token",
    }
    preflight = client.options(f"/v1/inbox?writeKey={ws.write_key}", headers=asked)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == shop
    assert "Retenta-User-Token" in preflight.headers["Access-Control-Allow-Headers"]
    refused = client.options(f"/v1/inbox/x/read?writeKey={ws.write_key}", headers={"Origin": evil})
    assert "Access-Control-Allow-Origin" not in refused.headers
    listed = client.get("/v1/inbox", auth=ws.write_auth, headers=headers | {"Origin": shop})
    assert listed.headers["Access-Control-Allow-Origin"] == shop
    other = client.get("/v1/inbox", auth=ws.write_auth, headers=headers | {"Origin": evil})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers  # the browser keeps it from evil


def test_erasing_a_contact_removes_their_inbox(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann = contact(container, ws.id, "ann")
    deliver(container, ws.id, [InAppMessage("s1", ann, "hi"), InAppMessage("s2", ann, "yo")])
    erased = client.delete(f"/api/v1/contacts/{ann}", headers=ws.api_headers)
    assert erased.status_code == 200, erased.text
    with container.db.read() as cur:
        left = cur.execute("SELECT count(*) FROM inbox_messages WHERE workspace_id = ?", [ws.id])
        assert left.fetchone() == (0,)
    headers = app_headers(secret(client, ws), "ann")
    assert client.get("/v1/inbox", auth=ws.write_auth, headers=headers).json()["items"] == []
