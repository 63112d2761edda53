from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.tenancy.keys import hash_secret
from tests.conftest import Workspace


def test_init_prints_keys_once_and_stores_only_hashes(tmp_path: Path) -> None:
    data = tmp_path / "d"
    out = subprocess.run(
        [sys.executable, "-m", "retenta.cli", "init", "--data", str(data), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    keys = json.loads(out.stdout)
    assert set(keys) == {"workspace_id", "write_key", "api_key"}
    raw = (data / "retenta.duckdb").read_bytes()
    assert keys["write_key"].encode() not in raw
    assert keys["api_key"].encode() not in raw


def test_api_key_authenticates_and_write_key_does_not(client: TestClient, ws: Workspace) -> None:
    ok = client.get("/api/v1/workspace", headers=ws.api_headers)
    assert ok.status_code == 200
    assert ok.json()["id"] == ws.id
    wrong_kind = client.get(
        "/api/v1/workspace", headers={"Authorization": f"Bearer {ws.write_key}"}
    )
    assert wrong_kind.status_code == 401
    assert wrong_kind.json()["error"]["code"] == "unauthorized"
    missing = client.get("/api/v1/workspace")
    assert missing.status_code == 401
    assert missing.json()["error"]["field"] == "Authorization"


def test_keys_are_scoped_to_their_workspace(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    mine = client.get("/api/v1/keys", headers=ws.api_headers).json()
    theirs = client.get("/api/v1/keys", headers=other_ws.api_headers).json()
    assert {k["id"] for k in mine}.isdisjoint({k["id"] for k in theirs})
    # revoking another workspace's key is "not found", and the key keeps working
    resp = client.delete(f"/api/v1/keys/{theirs[0]['id']}", headers=ws.api_headers)
    assert resp.status_code == 404
    assert client.get("/api/v1/workspace", headers=other_ws.api_headers).status_code == 200


def test_revoked_key_stops_working(client: TestClient, ws: Workspace) -> None:
    created = client.post(
        "/api/v1/keys", json={"kind": "api", "name": "ci"}, headers=ws.api_headers
    ).json()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert client.get("/api/v1/workspace", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/keys/{created['id']}", headers=ws.api_headers).status_code == 204
    assert client.get("/api/v1/workspace", headers=headers).status_code == 401


def test_users_have_roles_and_argon2_passwords(container: Container, ws: Workspace) -> None:
    user_id = container.tenancy.create_user(
        workspace_id=ws.id, email="Ann@Shop.example", password="correct horse", role="marketer"
    )
    with container.db.read() as c:
        stored = c.execute("SELECT password_hash FROM users WHERE id = ?", [user_id]).fetchone()
    assert stored is not None
    assert stored[0].startswith("$argon2")
    principal = container.tenancy.login(email="ann@shop.example", password="correct horse")
    assert principal is not None
    assert (principal.workspace_id, principal.role) == (ws.id, "marketer")
    assert container.tenancy.login(email="ann@shop.example", password="wrong pass") is None
    assert hash_secret("x") != hash_secret("y")


def test_marketer_cannot_manage_keys(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    container.tenancy.create_user(
        workspace_id=ws.id, email="m@shop.example", password="password1", role="marketer"
    )
    principal = container.tenancy.login(email="m@shop.example", password="password1")
    assert principal is not None
    client.cookies.set("retenta_session", container.sessions.issue(principal.subject))
    assert client.get("/api/v1/workspace").status_code == 200
    resp = client.get("/api/v1/keys")
    assert resp.status_code == 403
    assert "admin" in resp.json()["error"]["message"]
