"""``GET /api/v1/ui/channels/{kind}/{name}/public``: the DKIM record and the web push key the
settings page shows, over real HTTP; never a private key, never another workspace's."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from retenta.messaging.email.dkim import DkimKey, dns_record
from tests.conftest import Workspace

URL = "/api/v1/ui/channels/{}/{}/public"


def pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def put_profile(client: TestClient, ws: Workspace, name: str, dkim: dict | None) -> None:
    config = {"from_address": "news@shop.example", "smtp": {"host": "127.0.0.1", "port": 2525}}
    if dkim is not None:
        config["dkim"] = dkim
    resp = client.put(f"/api/v1/channels/email/{name}", json=config, headers=ws.api_headers)
    assert resp.status_code == 200, resp.text


def test_the_dkim_record_is_the_stored_keys_public_half(client: TestClient, ws: Workspace) -> None:
    key = pem()
    put_profile(client, ws, "promo", {"domain": "shop.example", "selector": "rt1",
                                      "private_key_pem": key.decode()})  # fmt: skip
    body = client.get(URL.format("email", "promo"), headers=ws.api_headers).json()
    assert body["dkim"] == {
        "host": "rt1._domainkey.shop.example", "type": "TXT",
        "value": dns_record(DkimKey("shop.example", "rt1", key)),
    }  # fmt: skip
    assert body["vapid_public_key"] is None
    assert "PRIVATE" not in str(body)


def test_a_profile_without_dkim_has_no_record(client: TestClient, ws: Workspace) -> None:
    put_profile(client, ws, "plain", None)
    body = client.get(URL.format("email", "plain"), headers=ws.api_headers).json()
    assert body["dkim"] is None


def test_web_push_gets_its_key_on_first_use_and_keeps_it(client: TestClient, ws: Workspace) -> None:
    first = client.get(URL.format("webpush", "default"), headers=ws.api_headers).json()
    again = client.get(URL.format("webpush", "default"), headers=ws.api_headers).json()
    assert first["vapid_public_key"]
    assert first["vapid_public_key"] == again["vapid_public_key"]
    sites = client.get("/v1/push/vapid-public-key", params={"writeKey": ws.write_key}).json()
    assert sites["applicationServerKey"] == first["vapid_public_key"]


def test_unknown_channels_and_other_workspaces_are_not_found(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    put_profile(client, ws, "mine", None)
    assert client.get(URL.format("email", "nope"), headers=ws.api_headers).status_code == 404
    resp = client.get(URL.format("email", "mine"), headers=other_ws.api_headers)
    assert resp.status_code == 404
    assert resp.json()["error"]["field"] == "name"
    assert client.get(URL.format("email", "mine")).status_code == 401
