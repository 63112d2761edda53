"""The Segment HTTP Tracking API through the real app (TestClient, real DuckDB)."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from tests.conftest import Workspace


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(mid: str = "m1", **extra: Any) -> dict[str, Any]:
    return {"userId": "u1", "event": "Product Viewed", "messageId": mid, **extra}


def events(container, ws: Workspace) -> list[dict[str, Any]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT message_id, type, event, timestamp, context, properties, traits"
            " FROM all_events WHERE workspace_id = ? ORDER BY message_id",
            [ws.id],
        ).fetchall()
    keys = ("message_id", "type", "event", "timestamp", "context", "properties", "traits")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def dead_letters(client, ws: Workspace, status: str = "pending") -> list[dict[str, Any]]:
    res = client.get(f"/api/v1/dead-letters?status={status}", headers=ws.api_headers)
    assert res.status_code == 200
    return res.json()["items"]


def test_track_with_basic_auth_is_stored_with_its_context(client, container, ws) -> None:
    context = {
        "userAgent": "Mozilla/5.0",
        "page": {"url": "https://shop.example/p/1", "referrer": "https://google.com"},
        "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
        "locale": "uk-UA",
        "timezone": "Europe/Kyiv",
    }
    res = client.post("/v1/track", json=track(context=context), headers=basic(ws.write_key))
    assert res.status_code == 200
    assert res.json() == {"success": True}
    [stored] = events(container, ws)
    kept = orjson.loads(stored["context"])
    assert kept == {**context, "ip": "testclient"}
    assert stored["event"] == "Product Viewed"


def test_every_single_event_endpoint_stores_its_type(client, container, ws) -> None:
    bodies = {
        "identify": {"userId": "u1", "traits": {"email": "a@b.co"}},
        "track": {"userId": "u1", "event": "Signed Up"},
        "page": {"anonymousId": "a1", "name": "Home"},
        "screen": {"userId": "u1", "name": "Cart"},
        "group": {"userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    for kind, body in bodies.items():
        res = client.post(f"/v1/{kind}", json={**body, "messageId": kind}, auth=ws.write_auth)
        assert res.status_code == 200, res.text
    assert sorted(e["type"] for e in events(container, ws)) == sorted(bodies)


def test_write_key_in_the_body_authenticates(client, container, ws) -> None:
    res = client.post("/v1/batch", json={"writeKey": ws.write_key, "batch": [track(type="track")]})
    assert res.status_code == 200
    assert len(events(container, ws)) == 1


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({}, track(), "missing write key"),
        (basic("wk_not_a_key"), track(), "invalid or revoked write key"),
        ({}, {**track(), "writeKey": "nope"}, "invalid or revoked write key"),
    ],
)
def test_unauthenticated_requests_get_401(client, container, ws, headers, body, message) -> None:
    res = client.post("/v1/track", json=body, headers=headers)
    assert res.status_code == 401
    assert message in res.json()["error"]["message"]
    assert res.json()["message"] == res.json()["error"]["message"]  # what SDKs read
    assert events(container, ws) == []


def test_an_api_key_is_not_a_write_key(client, ws) -> None:
    res = client.post("/v1/track", json=track(), headers=basic(ws.api_key))
    assert res.status_code == 401


def test_gzip_body_is_accepted(client, container, ws) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track("g1", type="track")]}))
    headers = {**basic(ws.write_key), "Content-Encoding": "gzip"}
    res = client.post("/v1/batch", content=body, headers=headers)
    assert res.status_code == 200
    assert [e["message_id"] for e in events(container, ws)] == ["g1"]


def test_broken_gzip_and_unknown_encodings_are_refused(client, ws) -> None:
    headers = {**basic(ws.write_key), "Content-Encoding": "gzip"}
    res = client.post("/v1/track", content=b"not gzip", headers=headers)
    assert res.status_code == 400
    assert "not valid gzip" in res.json()["error"]["message"]
    res = client.post("/v1/track", content=b"{}", headers={**headers, "Content-Encoding": "br"})
    assert res.status_code == 415


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b'{"userId": "u1", "event": ', "not valid JSON"), (b"", "body is empty")],
)
def test_malformed_json_gets_400(client, ws, content, needle) -> None:
    res = client.post("/v1/track", content=content, headers=basic(ws.write_key))
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "invalid_json"
    assert needle in res.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"userId": {"id": 1}, "event": "X"}, "userId", "must be a string, got object"),
        ({"userId": "u1", "event": 42}, "event", "must be a string, got number"),
        ({"userId": "u1"}, "event", "is required"),
        ({"event": "X"}, "userId", "userId or anonymousId is required"),
        ({"userId": "u1", "event": "X", "properties": [1]}, "properties", "must be an object"),
        ({"userId": "u1", "event": "X", "timestamp": "yesterday"}, "timestamp", "ISO-8601"),
    ],
)
def test_wrongly_typed_event_names_field_and_reason_and_is_dead_lettered(
    client, container, ws, body, field, reason
) -> None:
    res = client.post("/v1/track", json=body, headers=basic(ws.write_key))
    assert res.status_code == 400
    err = res.json()["error"]
    assert err["field"] == field
    assert reason in err["message"]
    [letter] = dead_letters(client, ws)
    assert letter["endpoint"] == "track"
    assert letter["payload"]["type"] == "track"
    assert any(e["field"] == field for e in letter["errors"])
    assert events(container, ws) == []


def test_batch_with_some_invalid_events_stores_the_valid_ones(client, container, ws) -> None:
    batch = [
        track("ok1", type="track"),
        {"type": "track", "userId": "u1"},
        track("ok2", type="track"),
        {"type": "bogus", "userId": "u1"},
    ]
    res = client.post("/v1/batch", json={"batch": batch}, headers=basic(ws.write_key))
    assert res.status_code == 200
    body = res.json()
    assert body["success"] is True
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert body["rejected"][0]["errors"][0] == {
        "field": "batch[1].event",
        "reason": "is required and must be a non-empty string",
    }
    assert [e["message_id"] for e in events(container, ws)] == ["ok1", "ok2"]
    assert len(dead_letters(client, ws)) == 2


def test_batch_where_every_event_is_invalid_gets_400(client, ws) -> None:
    res = client.post("/v1/batch", json={"batch": [{"type": "track"}]}, headers=basic(ws.write_key))
    assert res.status_code == 400
    err = res.json()["error"]
    assert err["field"] == "batch[0].userId"
    assert err["details"][0]["index"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [({"batch": {"a": 1}}, "batch"), ([1, 2], "body"), ({"batch": [], "context": "x"}, "context")],
)
def test_wrong_batch_shape_gets_400(client, ws, body, field) -> None:
    res = client.post("/v1/batch", json=body, headers=basic(ws.write_key))
    assert res.status_code == 400
    assert res.json()["error"]["field"] == field


def test_import_endpoint_is_a_batch(client, container, ws) -> None:
    res = client.post("/v1/import", json={"batch": [track(type="track")]}, auth=ws.write_auth)
    assert res.status_code == 200
    assert len(events(container, ws)) == 1


def test_oversized_event_gets_413(client, ws) -> None:
    res = client.post("/v1/track", json=track(properties={"x": "a" * 33_000}), auth=ws.write_auth)
    assert res.status_code == 413
    assert "the limit is 32768 bytes" in res.json()["error"]["message"]


def test_oversized_batch_gets_413(client, ws) -> None:
    batch = [track(f"m{i}", type="track", properties={"x": "a" * 20_000}) for i in range(30)]
    res = client.post("/v1/batch", json={"batch": batch}, auth=ws.write_auth)
    assert res.status_code == 413
    assert "the limit is 512000 bytes" in res.json()["error"]["message"]


def test_gzip_bomb_is_measured_decompressed(client, ws) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 2_000_000 + b"]}")
    headers = {**basic(ws.write_key), "Content-Encoding": "gzip"}
    res = client.post("/v1/batch", content=bomb, headers=headers)
    assert res.status_code == 413


def test_oversized_event_inside_a_batch_is_rejected_by_index(client, container, ws) -> None:
    batch = [
        track("small", type="track"),
        track("big", type="track", properties={"x": "a" * 40_000}),
    ]
    res = client.post("/v1/batch", json={"batch": batch}, auth=ws.write_auth)
    assert res.status_code == 200
    [rejected] = res.json()["rejected"]
    assert rejected["index"] == 1
    assert "the limit is 32768 bytes" in rejected["errors"][0]["reason"]
    assert [e["message_id"] for e in events(container, ws)] == ["small"]


def test_clock_skew_is_corrected(client, container, ws) -> None:
    # The device clock runs one hour fast: sentAt and timestamp both carry that error.
    body = track(timestamp="2030-01-01T11:00:00Z", sentAt="2030-01-01T12:00:00Z")
    res = client.post("/v1/track", json=body, auth=ws.write_auth)
    assert res.status_code == 200
    with container.db.read() as cur:
        [(ts, received)] = cur.execute(
            "SELECT timestamp, received_at FROM all_events WHERE workspace_id = ?", [ws.id]
        ).fetchall()
    assert (received - ts).total_seconds() == pytest.approx(3600, abs=1)


def test_a_retried_request_is_a_no_op(client, container, ws) -> None:
    for _ in range(3):
        assert client.post("/v1/track", json=track(), auth=ws.write_auth).status_code == 200
    assert len(events(container, ws)) == 1


def test_events_without_message_id_dedup_by_content(client, container, ws) -> None:
    body = {"userId": "u1", "event": "X", "timestamp": "2026-01-01T00:00:00Z"}
    for sent in ("2026-01-01T00:00:01Z", "2026-01-01T00:00:09Z"):
        client.post("/v1/track", json={**body, "sentAt": sent}, auth=ws.write_auth)
    [stored] = events(container, ws)
    assert stored["message_id"].startswith("rt-")


def test_workspaces_are_isolated(client, container, ws, other_ws) -> None:
    for w in (ws, other_ws):
        assert client.post("/v1/track", json=track("same"), auth=w.write_auth).status_code == 200
    assert [e["message_id"] for e in events(container, ws)] == ["same"]
    assert [e["message_id"] for e in events(container, other_ws)] == ["same"]
    client.post("/v1/track", json={"event": "X"}, auth=ws.write_auth)
    [letter] = dead_letters(client, ws)
    assert dead_letters(client, other_ws) == []
    res = client.post(f"/api/v1/dead-letters/{letter['id']}/replay", headers=other_ws.api_headers)
    assert res.status_code == 404
    res = client.post(f"/api/v1/dead-letters/{letter['id']}/discard", headers=other_ws.api_headers)
    assert res.status_code == 404


def test_dead_letter_replay_with_a_fix(client, container, ws) -> None:
    client.post("/v1/track", json={"userId": "u1", "messageId": "d1"}, auth=ws.write_auth)
    [letter] = dead_letters(client, ws)
    url = f"/api/v1/dead-letters/{letter['id']}/replay"
    still_bad = client.post(url, headers=ws.api_headers)
    assert still_bad.status_code == 422
    assert still_bad.json()["error"]["field"] == "event"
    fixed = {**letter["payload"], "event": "Fixed Event"}
    res = client.post(url, json={"payload": fixed}, headers=ws.api_headers)
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "replayed"
    assert [(e["message_id"], e["event"]) for e in events(container, ws)] == [("d1", "Fixed Event")]
    assert dead_letters(client, ws) == []
    [done] = dead_letters(client, ws, "replayed")
    assert done["payload"]["event"] == "Fixed Event"
    again = client.post(url, json={"payload": fixed}, headers=ws.api_headers)
    assert again.status_code == 409


def test_pending_letters_replay_in_bulk_after_a_fix_on_the_server(
    client, container, ws, other_ws
) -> None:
    """Letters an older server refused (here: written as it would have kept them) replay
    in bulk, oldest first; one still refused stays pending with its reason; other
    workspaces' letters are left alone."""
    now = datetime.now(UTC)
    letters = [
        DeadLetter(
            ws.id,
            now,
            "track",
            {"userId": f"b{i}", "messageId": f"bulk-{i}", "event": "Bulk Fixed"},
            [],
        )
        for i in range(3)
    ]
    letters.append(DeadLetter(ws.id, now, "track", {"userId": "b9", "messageId": "bulk-9"}, []))
    letters.append(DeadLetter(other_ws.id, now, "track", {"userId": "o1", "event": "X"}, []))
    container.db.write(lambda c: insert_dead_letters(c, letters))
    url = "/api/v1/dead-letters/replay-pending"
    res = client.post(url, params={"limit": 2}, headers=ws.api_headers)
    assert res.json() == {"replayed": 2, "still_refused": 0, "refused": [], "more": True}
    res = client.post(url, headers=ws.api_headers)
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["replayed"], body["still_refused"], body["more"]) == (1, 1, False)
    assert body["refused"][0]["field"] == "event"
    stored = sorted(e["message_id"] for e in events(container, ws))
    assert stored == ["bulk-0", "bulk-1", "bulk-2"]
    assert [d["payload"]["messageId"] for d in dead_letters(client, ws)] == ["bulk-9"]
    assert len(dead_letters(client, other_ws)) == 1


def test_dead_letter_discard(client, ws) -> None:
    client.post("/v1/track", json={"userId": "u1"}, auth=ws.write_auth)
    [letter] = dead_letters(client, ws)
    res = client.post(f"/api/v1/dead-letters/{letter['id']}/discard", headers=ws.api_headers)
    assert res.status_code == 200
    assert dead_letters(client, ws) == []
    assert [d["id"] for d in dead_letters(client, ws, "discarded")] == [letter["id"]]


def test_dead_letter_api_needs_an_api_key(client) -> None:
    assert client.get("/api/v1/dead-letters").status_code == 401


def test_batch_level_sent_at_and_context_apply_to_every_event(client, container, ws) -> None:
    body = {
        "batch": [track("b1", type="track", timestamp="2030-01-01T11:00:00Z")],
        "sentAt": "2030-01-01T12:00:00Z",
        "context": {"locale": "uk-UA", "timezone": "Europe/Kyiv"},
    }
    assert client.post("/v1/batch", json=body, auth=ws.write_auth).status_code == 200
    [stored] = events(container, ws)
    assert orjson.loads(stored["context"])["timezone"] == "Europe/Kyiv"
    with container.db.read() as cur:
        [(ts, received)] = cur.execute(
            "SELECT timestamp, received_at FROM all_events WHERE workspace_id = ?", [ws.id]
        ).fetchall()
    assert (received - ts).total_seconds() == pytest.approx(3600, abs=1)


def test_dead_letter_keeps_what_the_batch_gave_the_event(client, ws) -> None:
    body = {
        "batch": [{"type": "track", "userId": "u1"}],
        "sentAt": "2026-01-01T00:00:00Z",
        "context": {"locale": "uk-UA"},
    }
    client.post("/v1/batch", json=body, auth=ws.write_auth)
    [letter] = dead_letters(client, ws)
    assert letter["endpoint"] == "batch"
    assert letter["payload"]["sentAt"] == "2026-01-01T00:00:00Z"
    assert letter["payload"]["context"] == {"locale": "uk-UA"}


@pytest.mark.acknowledge_after_commit  # journaled, it is answered 200 and set aside instead
def test_a_storage_failure_is_a_retryable_503_for_that_request_only(
    client, container, ws, monkeypatch
) -> None:
    real = container.ingest.resolver

    class Failing:
        def resolve(self, conn, messages) -> None:
            if any(m.event == "Poison" for m in messages):
                raise RuntimeError("disk on fire")
            real.resolve(conn, messages)

    monkeypatch.setattr(container.ingest, "resolver", Failing())
    res = client.post("/v1/track", json=track("p1", event="Poison"), auth=ws.write_auth)
    assert res.status_code == 503
    assert res.json()["code"] == "unavailable"
    assert client.post("/v1/track", json=track("ok"), auth=ws.write_auth).status_code == 200
    assert [e["message_id"] for e in events(container, ws)] == ["ok"]


def test_rejected_indexes_are_positions_even_for_equal_invalid_items(client, ws) -> None:
    batch = [5, track("ok", type="track"), 5]
    res = client.post("/v1/batch", json={"batch": batch}, auth=ws.write_auth)
    assert res.status_code == 200
    assert [r["index"] for r in res.json()["rejected"]] == [0, 2]
    assert res.json()["rejected"][1]["errors"][0]["reason"] == "must be an object, got number"


def test_an_overloaded_writer_answers_503_with_retry_after(client, container, ws, monkeypatch):
    from retenta.ingest.pipeline import OverloadedError

    async def overloaded(*args: Any, **kwargs: Any) -> None:
        raise OverloadedError(60_000)

    monkeypatch.setattr(container.ingest, "ingest", overloaded)
    res = client.post("/v1/track", json=track("busy"), headers=basic(ws.write_key))
    assert res.status_code == 503
    assert res.headers["retry-after"] == "1"
    body = res.json()
    assert (body["success"], body["code"]) == (False, "overloaded")
    assert "60000 events behind" in body["message"]
    assert events(container, ws) == []
