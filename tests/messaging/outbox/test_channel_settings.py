"""Channel settings: sealed at rest (AES-GCM), masked in the API, checked against real peers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from retenta.app import Container, build_container
from retenta.messaging import push_subscriptions
from retenta.messaging.channels.registry import channel_types, redeliver_for
from retenta.messaging.channels.webpush import VapidKey
from retenta.messaging.email.profiles import SendingProfile
from retenta.messaging.services import for_container
from retenta.messaging.settings_store import MASK, SealError, SecretBox, split_secrets
from retenta.settings import Settings
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import KEY, email_profile
from tests.messaging.smtp_peer import smtp_peer


def test_box_binds_the_secret_and_the_row() -> None:
    box = SecretBox(b"server secret")
    sealed = box.seal(b"pw", b"ws_1/email/promo")
    assert b"pw" not in sealed
    assert box.open(sealed, b"ws_1/email/promo") == b"pw"
    assert box.seal(b"pw", b"x") != box.seal(b"pw", b"x")  # a fresh nonce each time
    with pytest.raises(SealError):
        box.open(sealed, b"ws_2/email/promo")  # moved to another row
    with pytest.raises(SealError):
        SecretBox(b"another secret").open(sealed, b"ws_1/email/promo")


def test_split_secrets_finds_nested_ones() -> None:
    plain, found = split_secrets({"a": [{"k": SecretStr("x")}], "b": 1})
    assert plain == {"a": [{"k": None}], "b": 1}
    assert found == {("a", 0, "k"): "x"}


def test_put_list_mask_and_keep(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    with smtp_peer() as peer:
        body = email_profile(peer, "promo")
        body["smtp"] |= {"username": "shop", "password": "hunter2-very-secret"}
        r = client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=body)
        assert r.status_code == 200, r.text
        assert r.json()["created"] is True
        assert "hunter2" not in r.text
        assert "PRIVATE KEY" not in r.text
        listed = client.get("/api/v1/channels", headers=ws.api_headers).json()
        [item] = listed["channels"]
        assert item["config"]["smtp"]["password"] == MASK
        assert item["config"]["dkim"]["private_key_pem"] == MASK
        assert sorted(item["secrets_set"]) == ["dkim.private_key_pem", "smtp.password"]
        assert {"email", "webpush"} <= set(listed["types"])
        assert client.get("/api/v1/channels", headers=other_ws.api_headers).json()["channels"] == []
        # at rest: neither secret appears anywhere in the row
        with container.db.read() as cur:
            row = cur.execute("SELECT config, sealed FROM channel_settings").fetchone()
        assert "hunter2" not in row[0]
        assert "PRIVATE" not in row[0]
        assert b"hunter2" not in bytes(row[1])
        assert b"PRIVATE" not in bytes(row[1])
        # the UI sends the masks back unchanged: the secrets are kept
        item["config"]["rate_per_second"] = 50
        r = client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=item["config"])
        assert r.status_code == 200
        assert r.json()["created"] is False
        stored = for_container(container).channel_settings.get(ws.id, "email", "promo")
        assert isinstance(stored, SendingProfile)
        assert stored.rate_per_second == 50
        assert stored.smtp.password is not None
        assert stored.smtp.password.get_secret_value() == "hunter2-very-secret"
        assert stored.dkim is not None
        assert stored.dkim.private_key_pem.get_secret_value() == KEY.private_pem.decode()


def test_bad_configs_name_the_field(client: TestClient, ws: Workspace) -> None:
    r = client.put(
        "/api/v1/channels/email/promo",
        headers=ws.api_headers,
        json={"from_address": "a@b.c", "smtp": {"port": 0}},
    )
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "smtp.port"
    r = client.put("/api/v1/channels/nope/x", headers=ws.api_headers, json={})
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "type"
    r = client.put("/api/v1/channels/email/Bad Name", headers=ws.api_headers, json={})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "name"
    r = client.post("/api/v1/channels/email/none/check", headers=ws.api_headers)
    assert r.status_code == 404


def test_smtp_check_starttls_auth_and_dkim(
    client: TestClient, ws: Workspace, tmp_path: Path
) -> None:
    with smtp_peer(tls="starttls", cert_dir=tmp_path, users={"shop": "pw"}) as peer:
        body = email_profile(peer, "promo")
        body["smtp"] |= {
            "tls": "starttls",
            "ca_file": peer.ca_file,
            "host": "localhost",
            "username": "shop",
            "password": "pw",
        }
        assert (
            client.put(
                "/api/v1/channels/email/promo", headers=ws.api_headers, json=body
            ).status_code
            == 200
        )
        r = client.post("/api/v1/channels/email/promo/check", headers=ws.api_headers)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] is True, result
        assert "STARTTLS" in result["message"]
        assert "authenticated as shop" in result["message"]
        assert "s1._domainkey.shop.example" in result["message"]
        assert "v=DKIM1; k=rsa; p=" in result["message"]
        body["smtp"]["password"] = "wrong"
        client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=body)
        result = client.post("/api/v1/channels/email/promo/check", headers=ws.api_headers).json()
        assert result["ok"] is False
        assert "authentication" in result["message"]
        assert "wrong" not in result["message"]


def test_smtp_check_unreachable(client: TestClient, ws: Workspace) -> None:
    with smtp_peer() as peer:
        body = email_profile(peer, "promo")
    body["dkim"] = None  # the peer is gone now
    client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=body)
    result = client.post("/api/v1/channels/email/promo/check", headers=ws.api_headers).json()
    assert result["ok"] is False
    assert f"127.0.0.1:{peer.port}" in result["message"]


def test_a_broken_dkim_key_fails_the_check(client: TestClient, ws: Workspace) -> None:
    with smtp_peer() as peer:
        body = email_profile(peer, "promo")
        body["dkim"]["private_key_pem"] = (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        client.put("/api/v1/channels/email/promo", headers=ws.api_headers, json=body)
        result = client.post("/api/v1/channels/email/promo/check", headers=ws.api_headers).json()
    assert result["ok"] is False
    assert "DKIM" in result["message"]


def test_webpush_config_check_and_cors_origins(client: TestClient, ws: Workspace) -> None:
    key = client.get("/v1/push/vapid-public-key", auth=ws.write_auth).json()["applicationServerKey"]
    listed = client.get("/api/v1/channels", headers=ws.api_headers).json()["channels"]
    [push] = [c for c in listed if c["type"] == "webpush"]
    assert push["config"]["vapid_private_key_pem"] == MASK
    push["config"]["allowed_origins"] = ["https://Shop.Example/"]
    r = client.put("/api/v1/channels/webpush/default", headers=ws.api_headers, json=push["config"])
    assert r.status_code == 200, r.text
    assert r.json()["config"]["allowed_origins"] == ["https://shop.example"]
    again = client.get("/v1/push/vapid-public-key", auth=ws.write_auth).json()[
        "applicationServerKey"
    ]
    assert again == key  # the masked key was kept
    result = client.post("/api/v1/channels/webpush/default/check", headers=ws.api_headers).json()
    assert result == {"ok": True, "message": f"VAPID key ok; applicationServerKey {key}"}


def test_clear_vapid_keys_are_moved_into_sealed_settings(
    container: Container, ws: Workspace
) -> None:
    """Rows migration 0017 kept in clear are sealed at start-up and the clear copy deleted:
    the rows of a database from before, then a start (a fresh container on the same file)."""
    legacy = VapidKey.generate()
    container.db.write(
        lambda conn: conn.execute(
            "INSERT INTO push_vapid_keys VALUES (?, ?, ?)",
            [ws.id, legacy.private_pem().decode(), datetime.now(UTC)],
        )
    )
    data_dir = container.settings.data_dir
    container.close()
    restarted = build_container(Settings(data_dir=data_dir, background_workers=False))
    try:
        svc = for_container(restarted)  # the messaging services: the move runs here
        check_moved(restarted, svc, legacy, ws.id)
    finally:
        restarted.close()


def check_moved(container: Container, svc: Any, legacy: VapidKey, workspace_id: str) -> None:
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM push_vapid_keys").fetchone() == (0,)
        sealed = cur.execute(
            "SELECT config, sealed FROM channel_settings WHERE channel = 'webpush'"
        ).fetchone()
    assert "PRIVATE" not in sealed[0]
    assert b"PRIVATE" not in bytes(sealed[1])
    key = push_subscriptions.vapid_key(svc.channel_settings, workspace_id)
    assert key.application_server_key == legacy.application_server_key


def test_registry_types_expose_config_build_check() -> None:
    types = channel_types()
    for name in ("email", "webpush"):
        assert callable(types[name].build)
        assert callable(types[name].check)
    assert types["email"].redeliver == "never"


def test_restart_rules_never_hand_a_push_twice() -> None:
    """Apple and Google keep no idempotency key (APNs only echoes ``apns-id``), so a push
    handed over before a crash is never handed again; a webhook and the inbox dedupe."""
    types = channel_types()
    assert {name: types[name].redeliver for name in ("apns", "fcm", "webpush", "sms")} == {
        "apns": "never", "fcm": "never", "webpush": "never", "sms": "never"
    }  # fmt: skip
    assert (redeliver_for("push"), redeliver_for("apns")) == ("never", "never")
    assert (redeliver_for("webhook"), redeliver_for("inapp")) == ("same_key", "same_key")
