"""Log-in endpoints, the CSRF header rule and SPA serving, over real HTTP (TestClient)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.web import router as web_router
from retenta.web.router import STATIC_DIR
from tests.conftest import Workspace

XRW = {"X-Requested-With": "retenta-ui"}
PASSWORD = "password123"


@pytest.fixture
def analyst(container: Container, ws: Workspace) -> str:
    email = "ann@shop.example"
    container.tenancy.create_user(
        workspace_id=ws.id, email=email, password=PASSWORD, role="analyst"
    )
    return email


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict:
    resp = client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=XRW
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_login_sets_an_httponly_lax_cookie_and_me_describes_the_user(
    client: TestClient, ws: Workspace, analyst: str
) -> None:
    resp = client.post(
        "/api/v1/auth/login", json={"email": analyst.upper(), "password": PASSWORD}, headers=XRW
    )
    assert resp.status_code == 200
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("retenta_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    me = client.get("/api/v1/auth/me").json()
    assert me["email"] == analyst
    assert me["role"] == "analyst"
    assert me["workspace"] == {"id": ws.id, "name": "Shop"}
    assert me["id"].startswith("usr_")


def test_wrong_password_gets_a_clear_401(client: TestClient, analyst: str) -> None:
    resp = client.post(
        "/api/v1/auth/login", json={"email": analyst, "password": "nope-nope"}, headers=XRW
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == {
        "code": "invalid_credentials",
        "message": "wrong email or password",
        "field": "password",
        "details": [],
    }
    assert "set-cookie" not in resp.headers
    assert client.get("/api/v1/auth/me").status_code == 401


def test_unknown_email_fails_exactly_like_a_wrong_password(client: TestClient) -> None:
    resp = client.post(
        "/api/v1/auth/login", json={"email": "ghost@shop.example", "password": "x" * 9}, headers=XRW
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "wrong email or password"


def test_repeated_failures_are_throttled_then_a_right_password_still_waits(
    client: TestClient, analyst: str
) -> None:
    bad = {"email": analyst, "password": "wrong-password"}
    codes = [client.post("/api/v1/auth/login", json=bad, headers=XRW).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    resp = client.post(
        "/api/v1/auth/login", json={"email": analyst, "password": PASSWORD}, headers=XRW
    )
    assert resp.status_code == 429
    assert re.search(r"try again in \d+ seconds", resp.json()["error"]["message"])


def test_logout_clears_the_cookie(client: TestClient, analyst: str) -> None:
    login(client, analyst)
    resp = client.post("/api/v1/auth/logout", headers=XRW)
    assert resp.status_code == 204
    assert 'retenta_session=""' in resp.headers["set-cookie"]
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookie_writes_need_the_csrf_header_but_api_keys_do_not(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    container.tenancy.create_user(
        workspace_id=ws.id, email="boss@shop.example", password=PASSWORD, role="admin"
    )
    login(client, "boss@shop.example")
    bare = client.post("/api/v1/keys", json={"kind": "api", "name": "x"})
    assert bare.status_code == 403
    assert bare.json()["error"]["field"] == "X-Requested-With"
    assert client.get("/api/v1/keys").status_code == 200  # reads need no header
    assert client.post("/api/v1/keys", json={"kind": "api"}, headers=XRW).status_code == 201
    client.cookies.clear()
    by_key = client.post("/api/v1/keys", json={"kind": "api"}, headers=ws.api_headers)
    assert by_key.status_code == 201


def test_login_itself_needs_the_csrf_header(client: TestClient, analyst: str) -> None:
    resp = client.post("/api/v1/auth/login", json={"email": analyst, "password": PASSWORD})
    assert resp.status_code == 403


def test_me_without_a_session_is_401(client: TestClient, ws: Workspace) -> None:
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers=ws.api_headers).status_code == 401


def test_a_forged_cookie_is_rejected(client: TestClient) -> None:
    client.cookies.set("retenta_session", "InVzcl8xIg.forged.signature")
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/workspace").status_code == 401


needs_build = pytest.mark.skipif(
    not (STATIC_DIR / "index.html").is_file(), reason="UI not built (scripts/setup.sh builds it)"
)


@needs_build
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/contacts",
        "/contacts/42",
        "/imports/imp_1",
        "/settings",
        "/segments",
        "/segments/new",
        "/segments/seg_1/edit",
        "/segments/rfm",
    ],
)
def test_client_routes_serve_the_spa_shell_uncached(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    assert '<div id="root">' in resp.text
    assert resp.headers["cache-control"] == "no-cache"


@needs_build
def test_hashed_assets_are_cached_for_a_year(client: TestClient) -> None:
    script = re.search(r'src="(/assets/[^"]+\.js)"', client.get("/").text)
    assert script is not None
    resp = client.get(script.group(1))
    assert resp.status_code == 200
    assert "javascript" in resp.headers["content-type"]
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"


@needs_build
def test_scripts_are_sent_gzipped_to_clients_that_accept_it(client: TestClient) -> None:
    script = re.search(r'src="(/assets/[^"]+\.js)"', client.get("/").text)
    assert script is not None
    plain = client.get(script.group(1), headers={"Accept-Encoding": "identity"})
    packed = client.get(script.group(1), headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.content == plain.content  # the client decompressed it to the same bytes


@pytest.mark.parametrize("path", ["/assets/..%2Fsecret.key", "/assets/nope.js", "/secret.key"])
def test_nothing_outside_the_build_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_spa_does_not_shadow_the_api(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["info"]["title"] == "Retenta"
    assert client.get("/api/v1/nope").status_code == 404
    assert client.get("/api/v1/nope").headers["content-type"] == "application/json"
    assert "/api/v1/auth/login" in client.get("/openapi.json").json()["paths"]


def test_the_segment_pages_do_not_shadow_the_segments_api(
    client: TestClient, ws: Workspace
) -> None:
    resp = client.get("/api/v1/segments", headers=ws.api_headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["items"] == []


def test_without_a_build_the_ui_routes_explain_how_to_build(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_router, "STATIC_DIR", tmp_path)
    resp = client.get("/contacts")
    assert resp.status_code == 503
    assert "scripts/setup.sh" in resp.text
    assert client.get("/healthz").status_code == 200
