"""Twilio's status callback through the real app: settings via the channels API, a signed form
POST as Twilio sends it, events in ``message_events``.

The test signs callbacks with its own implementation of Twilio's documented algorithm
(HMAC-SHA1 over the URL followed by each POST parameter's name and value, sorted by name,
base64), independent of ``twilio.signature``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.events import SendContext, from_result, record
from tests.conftest import Workspace

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "9" * 32


def twilio_sign(token: str, url: str, params: dict[str, str]) -> str:
    data = url
    for name in sorted(params):
        data += name + params[name]
    mac = hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def configure(client: TestClient, ws: Workspace, name: str = "main", **extra: Any) -> str:
    base = f"https://retenta.example/hooks/sms/twilio/{ws.id}/{name}"
    body = {
        "provider": "twilio",
        "account_sid": ACCOUNT,
        "auth_token": TOKEN,
        "sender": "+15005550006",
        "status_callback_base": base,
        "prices": {"UA": "0.021", "*": "0.05"},
    } | extra
    r = client.put(f"/api/v1/channels/sms/{name}", headers=ws.api_headers, json=body)
    assert r.status_code in (200, 201), r.text
    return base


def sent(container: Container, ws: Workspace, send_id: str, remote_id: str) -> None:
    ctx = SendContext(ws.id, 42, send_id, "sms", "cmp_1", "msg_1", ("promo",))
    event = from_result(ctx, SendResult(send_id, Outcome.SENT, "201", 201, None, remote_id))
    assert event is not None
    asyncio.run(record(container.db, [event]))


def post(client: TestClient, url: str, params: dict[str, str], token: str = TOKEN) -> int:
    path = url.removeprefix("https://retenta.example")
    headers = {"X-Twilio-Signature": twilio_sign(token, url, params)}
    return client.post(path, data=params, headers=headers).status_code


def events(container: Container, ws: Workspace) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT send_id, status, contact_id, channel, campaign_id, "
            "json_extract_string(properties, '$.error_code') FROM message_events "
            "WHERE workspace_id = ? ORDER BY send_id, status",
            [ws.id],
        ).fetchall()


def callback(send_id: str, sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
            "SmsStatus": status, "To": "+380501234567", "From": "+15005550006",
            "ApiVersion": "2010-04-01"} | extra  # fmt: skip


def test_signed_callbacks_become_events_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    base = configure(client, ws)
    sent(container, ws, "snd_1", "SM1")
    sent(container, ws, "snd_2", "SM2")
    assert post(client, f"{base}/snd_1", callback("snd_1", "SM1", "sent")) == 204
    assert post(client, f"{base}/snd_1", callback("snd_1", "SM1", "delivered")) == 204
    assert post(client, f"{base}/snd_1", callback("snd_1", "SM1", "delivered")) == 204  # retry
    undelivered = callback("snd_2", "SM2", "undelivered", ErrorCode="30003")
    assert post(client, f"{base}/snd_2", undelivered) == 204
    assert events(container, ws) == [
        ("snd_1", "delivered", 42, "sms", "cmp_1", None),
        ("snd_1", "sent", 42, "sms", "cmp_1", None),
        ("snd_2", "failed", 42, "sms", "cmp_1", "30003"),
        ("snd_2", "sent", 42, "sms", "cmp_1", None),
    ]


def test_forged_or_misdirected_callbacks_are_refused(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    base = configure(client, ws)
    sent(container, ws, "snd_1", "SM1")
    params = callback("snd_1", "SM1", "failed")
    assert post(client, f"{base}/snd_1", params, token="0" * 32) == 403  # wrong token
    path = f"{base}/snd_1".removeprefix("https://retenta.example")
    signature = twilio_sign(TOKEN, f"{base}/snd_1", params)
    edited = params | {"MessageStatus": "delivered"}
    r = client.post(path, data=edited, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 403  # a signed body, edited
    other = path.replace("/snd_1", "/snd_2")
    assert (
        client.post(other, data=params, headers={"X-Twilio-Signature": signature}).status_code
        == 403
    )
    assert client.post(path, data=params).status_code == 403  # unsigned
    elsewhere = path.replace(ws.id, other_ws.id)
    assert (
        client.post(elsewhere, data=params, headers={"X-Twilio-Signature": signature}).status_code
        == 404
    )
    assert events(container, ws) == [("snd_1", "sent", 42, "sms", "cmp_1", None)]


def test_settings_round_trip_keeps_secrets_sealed(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    configure(client, ws)
    r = client.get("/api/v1/channels", headers=ws.api_headers)
    assert r.status_code == 200
    assert TOKEN not in r.text
    with container.db.read() as cur:
        stored = cur.execute(
            "SELECT config FROM channel_settings WHERE workspace_id = ? AND channel = 'sms'",
            [ws.id],
        ).fetchone()
    assert stored is not None
    assert TOKEN not in stored[0]
    assert '"provider":"twilio"' in stored[0].replace(" ", "")
    bad = client.put(
        "/api/v1/channels/sms/x", headers=ws.api_headers,
        json={"provider": "twilio", "account_sid": "nope", "auth_token": "t", "sender": "S"},
    )  # fmt: skip
    assert bad.status_code in (400, 422)
    assert "account_sid" in bad.text
    unknown = client.put(
        "/api/v1/channels/sms/y", headers=ws.api_headers, json={"provider": "carrier-pigeon"}
    )
    assert unknown.status_code in (400, 422)
    assert "provider" in unknown.text


def test_a_report_at_is_timezone_aware() -> None:
    from retenta.messaging.channels.sms.twilio import report_of

    report = report_of("s", {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert report is not None
    assert report.at.tzinfo is not None
    assert report.at <= datetime.now(UTC)


def test_stop_suppresses_and_start_lifts_only_its_own_suppression(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    inbound = f"https://retenta.example/hooks/sms/twilio-inbound/{ws.id}/main"
    configure(client, ws, inbound_url=inbound)
    path = inbound.removeprefix("https://retenta.example")

    def incoming(phone: str, body: str, token: str = TOKEN, **extra: str) -> int:
        params = {"AccountSid": ACCOUNT, "MessageSid": "SM9", "From": phone,
                  "To": "+15005550006", "Body": body} | extra  # fmt: skip
        headers = {"X-Twilio-Signature": twilio_sign(token, inbound, params)}
        r = client.post(path, data=params, headers=headers)
        if r.status_code == 200:
            assert r.text.endswith("<Response/>")
        return r.status_code

    def listed() -> list[tuple[str, str]]:
        r = client.get("/api/v1/suppressions", headers=ws.api_headers)
        return sorted((i["hint"], i["reason"]) for i in r.json()["items"])

    assert incoming("+380501234567", "Stop") == 200
    assert incoming("+380501234568", "thanks!") == 200  # not an opt-out
    assert incoming("+380501234569", "Please stop", OptOutType="STOP") == 200
    assert incoming("+380501234560", "STOP", token="0" * 32) == 403  # forged
    assert listed() == [("+38050******7", "unsubscribed"), ("+38050******9", "unsubscribed")]
    r = client.post("/api/v1/suppressions", headers=ws.api_headers,
                    json={"phone": "+380501234561", "reason": "manual"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert incoming("+380501234567", "START") == 200  # lifts its own STOP
    assert incoming("+380501234561", "START") == 200  # never a manual entry
    assert listed() == [("+38050******1", "manual"), ("+38050******9", "unsubscribed")]
    elsewhere = client.post(f"/hooks/sms/twilio-inbound/{ws.id}/other", data={"Body": "STOP"})
    assert elsewhere.status_code == 404


def test_reports_land_on_their_own_channel_of_a_fallen_back_send(
    container: Container, ws: Workspace
) -> None:
    from retenta.messaging.channels.sms.reports import DeliveryReport, record_reports
    from retenta.messaging.events import MessageEvent

    at = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    viber = SendContext(ws.id, 5, "snd_x", "viber", None, "msg_1")
    sms = SendContext(ws.id, 5, "snd_x", "sms", None, "msg_1")
    asyncio.run(record(container.db, [
        MessageEvent(viber, "sent", at), MessageEvent(viber, "failed", at),
        MessageEvent(sms, "sent", at, properties={"fallback_of": "viber"}),
    ]))  # fmt: skip
    written = asyncio.run(record_reports(container.db, ws.id, [
        DeliveryReport("delivered", "twilio", "snd_x", "SM1"),
        DeliveryReport("delivered", "twilio", "snd_x", "SM1"),  # twice: once
        DeliveryReport("failed", "vonage", "snd_x", "u1", channel="viber"),  # already failed
        DeliveryReport("delivered", "twilio", "snd_unknown", "SM2"),  # no such send
    ]))  # fmt: skip
    assert written == 1
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT channel, status FROM message_events WHERE workspace_id = ?"
            " ORDER BY channel, status",
            [ws.id],
        ).fetchall()
    assert rows == [("sms", "delivered"), ("sms", "sent"), ("viber", "failed"), ("viber", "sent")]


def test_estimate_api_counts_hints_and_prices(client: TestClient, ws: Workspace) -> None:
    configure(client, ws)  # prices {"UA": "0.021", "*": "0.05"}
    text = "Ваше замовлення №1042 доставлено! Чекаємо на вас у магазині до 21:00, дякуємо"
    r = client.post("/api/v1/sms/estimate", headers=ws.api_headers,
                    json={"text": text, "to": "+380 50 123 45 67", "channel": "main"})  # fmt: skip
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["encoding"], got["segments"], got["per_segment"]) == ("UCS-2", 2, 67)
    assert got["transliteration"]["segments"] == 1
    assert got["cost"] == {"region": "UA", "price_per_segment": "0.021", "total": "0.042",
                           "currency": "USD"}  # fmt: skip
    plain = client.post("/api/v1/sms/estimate", headers=ws.api_headers, json={"text": "Hi €"})
    assert plain.json() | {"transliteration": None} == {
        "encoding": "GSM-7", "units": 5, "segments": 1, "per_segment": 160, "characters": 4,
        "transliteration": None, "cost": None,
    }  # fmt: skip
    bad = client.post("/api/v1/sms/estimate", headers=ws.api_headers,
                      json={"text": "x", "to": "+380 12"})  # fmt: skip
    assert bad.status_code == 422
    assert "to" in bad.text
    missing = client.post("/api/v1/sms/estimate", headers=ws.api_headers,
                          json={"text": "x", "channel": "nope"})  # fmt: skip
    assert missing.status_code == 404
    assert client.post("/api/v1/sms/estimate", json={"text": "x"}).status_code == 401
