"""A real Retenta server (uvicorn in a thread, temp data dir, seeded workspace) and
Debian's Chromium driven by Playwright. Never run ``playwright install``."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect

from retenta.app import Container, build_container, create_app
from retenta.settings import Settings
from retenta.tenancy.deps import SESSION_COOKIE
from retenta.web.router import STATIC_DIR
from tests.conftest import Workspace, make_workspace
from tests.web.seed import PASSWORD, seed_events

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    url: str
    container: Container
    ws: Workspace
    users: dict[str, str] = field(default_factory=dict)  # role -> email
    _cookies: dict[str, str] = field(default_factory=dict)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.ws.api_headers, timeout=10)

    def session_cookie(self, role: str) -> str:
        """A session for the role's user, from the real log-in endpoint; logged in again only
        when the last one stopped working (a test that logs out revokes its session)."""
        if role not in self._cookies or not self._session_works(self._cookies[role]):
            resp = httpx.post(
                f"{self.url}/api/v1/auth/login",
                json={"email": self.users[role], "password": PASSWORD},
                headers={"X-Requested-With": "tests"},
                timeout=10,
            )
            resp.raise_for_status()
            self._cookies[role] = resp.cookies[SESSION_COOKIE]
        return self._cookies[role]

    def _session_works(self, cookie: str) -> bool:
        me = httpx.get(f"{self.url}/api/v1/auth/me", cookies={SESSION_COOKIE: cookie}, timeout=10)
        return me.status_code == 200


def _serve(container: Container) -> tuple[uvicorn.Server, threading.Thread, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(container), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def _add_users(container: Container, ws: Workspace) -> dict[str, str]:
    users = {}
    for role in ("admin", "marketer", "analyst"):
        email = f"{role}@shop.example"
        container.tenancy.create_user(workspace_id=ws.id, email=email, password=PASSWORD, role=role)
        users[role] = email
    return users


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail("the UI is not built: run `bash scripts/setup.sh` (npm ci && npm run build)")
    data = tmp_path_factory.mktemp("web") / "data"
    container = build_container(Settings(data_dir=data, background_workers=True))
    ws = make_workspace(container)
    server, thread, url = _serve(container)
    live = LiveServer(url, container, ws, _add_users(container, ws))
    seed_events(url, ws)
    yield live
    server.should_exit = True
    thread.join(timeout=10)
    container.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture(autouse=True)
def _short_timeouts(request: pytest.FixtureRequest) -> None:
    if "page" in request.fixturenames:
        page: Page = request.getfixturevalue("page")
        page.set_default_timeout(15_000)
        expect.set_options(timeout=15_000)


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through the form and wait for the dashboard."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("user-email")).to_have_text(email)


def logged_in(page: Page, live: LiveServer, role: str) -> Page:
    """``page`` with the role's session cookie set (the form itself is tested elsewhere)."""
    cookie = {"name": SESSION_COOKIE, "value": live.session_cookie(role), "url": live.url}
    page.context.add_cookies([cookie])  # type: ignore[list-item]
    return page


@pytest.fixture
def admin_page(page: Page, live_server: LiveServer) -> Page:
    return logged_in(page, live_server, "admin")


SCREENSHOTS = Path("/tmp/retenta-ui-screenshots")


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page PNG for a human to look at (not asserted on)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
