"""``api_principal`` answers a cached key on the event loop and reads everything else on a
worker thread: same principals, same refusals, revocation at once."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace


def test_cached_key_reads_nothing_and_knows_only_what_was_read(
    container: Container, ws: Workspace
) -> None:
    tenancy = container.tenancy
    issued = tenancy.issue_key(workspace_id=ws.id, kind="api")
    assert tenancy.cached_key(issued.secret, kind="api") == (False, None)
    principal = tenancy.authenticate_key(issued.secret, kind="api")
    assert principal is not None
    assert principal.workspace_id == ws.id
    assert tenancy.cached_key(issued.secret, kind="api") == (True, principal)
    assert tenancy.cached_key(issued.secret, kind="write") == (True, None)  # wrong kind
    assert tenancy.authenticate_key("rta_unknown", kind="api") is None
    assert tenancy.cached_key("rta_unknown", kind="api") == (True, None)  # refusal cached
    tenancy.revoke_key(workspace_id=ws.id, key_id=issued.id)
    assert tenancy.cached_key(issued.secret, kind="api") == (False, None)
    assert tenancy.authenticate_key(issued.secret, kind="api") is None


def test_a_cached_key_is_answered_without_a_worker_thread(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = container.tenancy.authenticate_key

    def spy(secret: str, *, kind: str) -> object:
        reads.append(threading.current_thread().name)
        return real(secret, kind=kind)  # type: ignore[arg-type]

    monkeypatch.setattr(container.tenancy, "authenticate_key", spy)
    issued = container.tenancy.issue_key(workspace_id=ws.id, kind="api")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    for _ in range(3):
        resp = client.get("/api/v1/workspace", headers=headers)
        assert resp.status_code == 200
        assert resp.json()["id"] == ws.id
    assert len(reads) == 1  # the first request read the key; the next two used the cache
    container.tenancy.revoke_key(workspace_id=ws.id, key_id=issued.id)
    resp = client.get("/api/v1/workspace", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "invalid or revoked API key"
    assert len(reads) == 2


def test_sessions_and_missing_credentials_as_before(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    resp = client.get("/api/v1/workspace")
    assert resp.status_code == 401
    assert resp.json()["error"]["message"].startswith("missing credentials")
    user = container.tenancy.create_user(
        workspace_id=ws.id, email="a@shop.ua", password="long-enough-pw", role="admin"
    )
    client.cookies.set("retenta_session", container.sessions.issue(user))
    assert client.get("/api/v1/workspace").json()["id"] == ws.id
    resp = client.post("/api/v1/keys", json={"kind": "api"})  # a change without the header
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_header_missing"
