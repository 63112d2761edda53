"""Web push subscriptions: the host allow-list, the /v1/push routes, /sw.js and expiry."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging import push_subscriptions as store
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.webpush import (
    PUSH_SERVICE_HOSTS,
    SERVICE_WORKER_JS,
    EndpointNotAllowedError,
    Subscription,
    WebPushResult,
    b64url,
    b64url_decode,
)
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.identity.helpers import msg, resolve

FCM = "https://fcm.googleapis.com/fcm/send/abc123"
MOZ = "https://updates.push.services.mozilla.com/wpush/v2/xyz"


def keys() -> dict[str, str]:
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": b64url(public), "auth": b64url(os.urandom(16))}


def sub_json(endpoint: str = FCM) -> dict[str, object]:
    return {"endpoint": endpoint, "keys": keys()}


# -- 1. the allow-list -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        FCM,
        MOZ,
        "https://wns2-par02p.notify.windows.com/w/?token=x",
        "https://api.push.apple.com/3/device/x",
        "https://web.push.apple.com/QGx",
        "https://FCM.googleapis.com./fcm/send/x",
    ],
)
def test_known_push_services_are_allowed(endpoint: str) -> None:
    s = Subscription.from_json(sub_json(endpoint), allowed_hosts=PUSH_SERVICE_HOSTS)
    assert s.endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("https://evil.example/push", "not a known push service"),
        ("https://169.254.169.254/latest", "not a known push service"),
        ("https://fcm.googleapis.com.evil.example/x", "not a known push service"),
        ("https://evilfcm.googleapis.com/x", "not a known push service"),
        ("https://push.services.mozilla.com/x", "not a known push service"),
        ("https://notfcm-push.apple.com/x", "not a known push service"),
        ("http://fcm.googleapis.com/fcm/send/x", "https"),
        ("https://user:pw@fcm.googleapis.com/x", "credentials"),
        ("https://fcm.googleapis.com:99999/x", "valid push endpoint"),
        ("http://127.0.0.1:8080/push", "https"),
    ],
)
def test_other_endpoints_are_refused(endpoint: str, message: str) -> None:
    with pytest.raises(EndpointNotAllowedError, match=message):
        Subscription.from_json(sub_json(endpoint), allowed_hosts=PUSH_SERVICE_HOSTS)


def test_tests_can_allow_a_local_peer_over_http() -> None:
    local = "http://127.0.0.1:8080/push/a"
    s = Subscription.from_json(sub_json(local), allowed_hosts=(), http_hosts=("127.0.0.1",))
    assert s.endpoint == local
    with pytest.raises(EndpointNotAllowedError):
        Subscription.from_json(sub_json(FCM), allowed_hosts=(), http_hosts=("127.0.0.1",))
    with pytest.raises(EndpointNotAllowedError, match="https"):
        Subscription.from_json(
            sub_json("ftp://127.0.0.1/x"), allowed_hosts=(), http_hosts=("127.0.0.1",)
        )


# -- 2. the routes ---------------------------------------------------------------------------

URL = "/v1/push/subscriptions"


def test_subscribe_with_the_write_key_then_again(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    body = {"subscription": sub_json(), "anonymousId": "anon-1", "userId": "u-1"}
    r = client.post(URL, json=body, auth=ws.write_auth, headers={"User-Agent": "Firefox/1"})
    assert r.status_code == 201, r.text
    assert r.json()["created"] is True
    row = store.get(container.db, ws.id, FCM)
    assert row is not None
    assert (row["anonymous_id"], row["user_id"], row["user_agent"]) == (
        "anon-1",
        "u-1",
        "Firefox/1",
    )
    assert row["expired_at"] is None

    again = {"subscription": sub_json(), "writeKey": ws.write_key}  # new keys, key in the body
    r = client.post(URL, json=again)
    assert r.status_code == 200, r.text
    assert r.json()["created"] is False
    row2 = store.get(container.db, ws.id, FCM)
    assert row2 is not None
    assert row2["p256dh"] == again["subscription"]["keys"]["p256dh"]  # type: ignore[index]
    assert row2["user_id"] == "u-1"  # kept: the re-subscribe did not say
    assert row2["created_at"] == row["created_at"]
    with container.db.read() as cur:
        count = cur.execute("SELECT count(*) FROM push_subscriptions").fetchone()
    assert count == (1,)


def test_contact_is_resolved_when_known(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    r = client.post(URL, json={"subscription": sub_json(), "userId": "nobody"}, auth=ws.write_auth)
    assert r.status_code == 201
    assert r.json()["contactId"] is None  # unknown: ids only
    known = container.identity.lookup(workspace_id=ws.id, id_type="external_id", value="nobody")
    assert known is None


def test_known_user_and_anonymous_ids_resolve_the_contact(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    resolve(container, [msg(ws.id, "identify", user="u-9", anon="a-9")])
    contact = container.identity.lookup(workspace_id=ws.id, id_type="external_id", value="u-9")
    assert contact is not None
    r = client.post(URL, json={"subscription": sub_json(), "userId": "u-9"}, auth=ws.write_auth)
    assert r.json()["contactId"] == contact
    r = client.post(
        URL, json={"subscription": sub_json(MOZ), "anonymousId": "a-9"}, auth=ws.write_auth
    )
    assert r.json()["contactId"] == contact
    assert len(store.live_for_contacts(container.db, ws.id, [contact])[contact]) == 2
    # another workspace's ids never resolve to this contact
    r = client.post(
        URL, json={"subscription": sub_json(), "userId": "u-9"}, auth=other_ws.write_auth
    )
    assert r.json()["contactId"] is None


def test_bad_write_keys_are_401(client: TestClient, ws: Workspace) -> None:
    body = {"subscription": sub_json()}
    assert client.post(URL, json=body).status_code == 401
    r = client.post(URL, json=body, auth=("wk_wrong", ""))
    assert r.status_code == 401
    assert r.json()["error"]["field"] == "writeKey"
    assert client.post(URL, json={**body, "writeKey": "nope"}).status_code == 401
    assert client.post(URL, json=body, auth=(ws.api_key, "")).status_code == 401  # not a write key
    assert client.post(URL, content=b"{not json").status_code == 401  # no key: 401 first
    assert client.get("/v1/push/vapid-public-key").status_code == 401
    assert client.get("/v1/push/vapid-public-key?writeKey=nope").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "subscription"),
        ({"subscription": "x"}, "subscription"),
        ({"subscription": {"keys": keys()}}, "subscription.endpoint"),
        ({"subscription": {"endpoint": FCM}}, "subscription.keys"),
        ({"subscription": {"endpoint": FCM, "keys": {"auth": "x"}}}, "subscription.keys.p256dh"),
        (
            {"subscription": {"endpoint": FCM, "keys": {**keys(), "auth": b64url(b"short")}}},
            "subscription.keys.auth",
        ),
        (
            {"subscription": {"endpoint": FCM, "keys": {**keys(), "p256dh": b64url(b"x" * 65)}}},
            "subscription.keys.p256dh",
        ),
        ({"subscription": sub_json(), "userId": ""}, "userId"),
        ({"subscription": sub_json(), "anonymousId": {"a": 1}}, "anonymousId"),
    ],
)
def test_bad_bodies_name_the_field(
    client: TestClient, ws: Workspace, body: dict[str, object], field: str
) -> None:
    r = client.post(URL, json=body, auth=ws.write_auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_not_json_and_not_an_object(client: TestClient, ws: Workspace) -> None:
    assert client.post(URL, content=b"{x", auth=ws.write_auth).status_code == 400
    assert client.post(URL, json=[1], auth=ws.write_auth).status_code == 422
    big = b'{"subscription": "' + b"x" * 20000 + b'"}'
    assert client.post(URL, content=big, auth=ws.write_auth).status_code == 413


def test_disallowed_host_is_400(client: TestClient, container: Container, ws: Workspace) -> None:
    for endpoint in (
        "https://evil.example/push",
        "http://127.0.0.1:9/push",
        MOZ.replace("s:", ":"),
    ):
        r = client.post(URL, json={"subscription": sub_json(endpoint)}, auth=ws.write_auth)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "endpoint_not_allowed"
        assert r.json()["error"]["field"] == "subscription.endpoint"
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM push_subscriptions").fetchone() == (0,)


def test_workspaces_are_isolated(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    mine = {"subscription": sub_json(), "userId": "mine"}
    assert client.post(URL, json=mine, auth=ws.write_auth).status_code == 201
    theirs = {"subscription": sub_json(), "userId": "theirs"}
    # the same endpoint in another workspace is that workspace's own row: 201, not an update
    assert client.post(URL, json=theirs, auth=other_ws.write_auth).status_code == 201
    row, other = store.get(container.db, ws.id, FCM), store.get(container.db, other_ws.id, FCM)
    assert row is not None
    assert other is not None
    assert row["user_id"] == "mine"
    assert other["user_id"] == "theirs"
    assert row["p256dh"] == mine["subscription"]["keys"]["p256dh"]  # type: ignore[index]
    # expiring in one workspace leaves the other's row alone
    assert store.mark_expired(container.db, other_ws.id, [FCM]) == 1
    row_after = store.get(container.db, ws.id, FCM)
    assert row_after is not None
    assert row_after["expired_at"] is None
    assert store.get(container.db, other_ws.id, MOZ) is None
    ka = client.get("/v1/push/vapid-public-key", auth=ws.write_auth).json()
    kb = client.get("/v1/push/vapid-public-key", auth=other_ws.write_auth).json()
    assert ka != kb


def test_vapid_key_is_stable(client: TestClient, container: Container, ws: Workspace) -> None:
    first = client.get("/v1/push/vapid-public-key", auth=ws.write_auth)
    assert first.status_code == 200, first.text
    key = first.json()["applicationServerKey"]
    raw = b64url_decode(key)
    assert len(raw) == 65
    assert raw[0] == 4
    again = client.get(f"/v1/push/vapid-public-key?writeKey={ws.write_key}")
    assert again.json()["applicationServerKey"] == key
    settings = for_container(container).channel_settings
    assert store.vapid_key(settings, ws.id).application_server_key == key


def test_service_worker(client: TestClient) -> None:
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["service-worker-allowed"] == "/"
    assert r.text == SERVICE_WORKER_JS


# -- 3. expiry --------------------------------------------------------------------------------


def test_expired_results_mark_subscriptions(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    for endpoint in (FCM, MOZ):
        r = client.post(URL, json={"subscription": sub_json(endpoint)}, auth=ws.write_auth)
        assert r.status_code == 201
    results: list[SendResult] = [
        WebPushResult("s1", Outcome.PERMANENT, "410 Gone", 410, "expired", expired=True,
                      endpoint=FCM),
        WebPushResult("s2", Outcome.SENT, "201 Created", 201, endpoint=MOZ),
        WebPushResult("s3", Outcome.PERMANENT, "403", 403, "vapid_refused", endpoint=MOZ),
        SendResult("s4", Outcome.PERMANENT, "not web push"),
    ]  # fmt: skip
    assert store.expire_subscriptions(container.db, ws.id, results) == 1
    fcm, moz = store.get(container.db, ws.id, FCM), store.get(container.db, ws.id, MOZ)
    assert fcm is not None
    assert fcm["expired_at"] is not None
    assert moz is not None
    assert moz["expired_at"] is None
    assert store.expire_subscriptions(container.db, ws.id, results) == 0  # already expired

    # a re-subscribe of the same endpoint makes it live again
    assert (
        client.post(URL, json={"subscription": sub_json()}, auth=ws.write_auth).status_code == 200
    )
    live = store.get(container.db, ws.id, FCM)
    assert live is not None
    assert live["expired_at"] is None


def test_live_subscriptions_of_contacts(container: Container, ws: Workspace) -> None:
    a = Subscription.from_json(sub_json(FCM))
    b = Subscription.from_json(sub_json(MOZ))
    assert store.upsert(container.db, ws.id, a, contact_id=7)
    assert store.upsert(container.db, ws.id, b, contact_id=7)
    assert store.live_for_contacts(container.db, ws.id, []) == {}
    live = store.live_for_contacts(container.db, ws.id, [7, 8])
    assert [s.subscription for s in live[7]] == [a, b]
    store.mark_expired(container.db, ws.id, [FCM])
    assert [s.subscription for s in store.live_for_contacts(container.db, ws.id, [7])[7]] == [b]
    assert store.live_for_contacts(container.db, "other", [7]) == {}


def test_the_default_refuses_hosts_that_are_not_push_services() -> None:
    with pytest.raises(EndpointNotAllowedError):
        Subscription.from_json(sub_json("https://169.254.169.254/latest/meta-data"))
    assert Subscription.from_json(sub_json(FCM)).endpoint == FCM
