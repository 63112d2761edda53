"""Server-side UI sessions: log-out revokes the cookie itself, not just the browser's copy."""

from __future__ import annotations

from fastapi.testclient import TestClient

from retenta.app import Container, build_container
from retenta.settings import Settings
from retenta.tenancy.sessions import Sessions
from tests.conftest import Workspace, make_workspace

XRW = {"X-Requested-With": "retenta-ui"}
PASSWORD = "password123"


def _user(container: Container, ws: Workspace, email: str = "ann@shop.example") -> str:
    return container.tenancy.create_user(
        workspace_id=ws.id, email=email, password=PASSWORD, role="analyst"
    )


def _login(client: TestClient, email: str = "ann@shop.example") -> str:
    resp = client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=XRW
    )
    assert resp.status_code == 200, resp.text
    return resp.cookies["retenta_session"]


def test_a_cookie_kept_after_logout_no_longer_works(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    _user(container, ws)
    stolen = _login(client)
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", headers=XRW).status_code == 204
    client.cookies.set("retenta_session", stolen)
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/workspace").status_code == 401


def test_logout_ends_only_that_session(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    _user(container, ws)
    laptop = _login(client)
    phone = _login(client)
    assert container.sessions.revoke(laptop)
    assert container.sessions.load(laptop, max_age=60) is None
    assert container.sessions.load(phone, max_age=60) is not None


def test_revoke_user_ends_every_session(container: Container, ws: Workspace) -> None:
    user_id = _user(container, ws)
    tokens = [container.sessions.issue(user_id) for _ in range(3)]
    container.sessions.revoke_user(user_id)
    assert [container.sessions.load(t, max_age=60) for t in tokens] == [None, None, None]


def test_sessions_and_revocations_survive_a_restart(settings: Settings) -> None:
    first = build_container(settings)
    try:
        user_id = _user(first, make_workspace(first))
        kept = first.sessions.issue(user_id)
        ended = first.sessions.issue(user_id)
        first.sessions.revoke(ended)
    finally:
        first.close()
    second = build_container(settings)
    try:
        assert second.sessions.load(kept, max_age=60) == user_id
        assert second.sessions.load(ended, max_age=60) is None
    finally:
        second.close()


def test_tampered_or_foreign_tokens_are_refused(container: Container, ws: Workspace) -> None:
    user_id = _user(container, ws)
    token = container.sessions.issue(user_id)
    assert container.sessions.load(token[:-2] + "xx", max_age=60) is None
    assert container.sessions.load("not-a-token", max_age=60) is None
    assert not container.sessions.revoke("not-a-token")
    forged = Sessions("another-secret", container.db).issue(user_id)
    assert container.sessions.load(forged, max_age=60) is None
