"""The contacts point reads' fast path (``web/point_reads.py``) answers exactly as FastAPI's
routes do, takes only the plain requests, and honours key revocation at once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.errors import ApiError
from retenta.web import point_reads
from tests.conftest import Workspace
from tests.contacts.seed import add_events, add_order, event_table, merge, new_contact

BASE = "/api/v1/contacts"


@pytest.fixture
def ann(container: Container, ws: Workspace) -> int:
    cid = new_contact(
        container,
        ws.id,
        identities=[
            ("email", "ann@example.com"),
            ("phone", "+380671234567"),
            ("external_id", "u-ann"),
            ("anonymous_id", "dev-ann"),
        ],
        attributes={"first_name": "Ann", "plan": "gold", "city": "Київ"},
    )
    old = new_contact(container, ws.id, identities=[("email", "old@example.com")])
    merge(container, ws.id, winner=cid, loser=old)
    add_events(container, event_table(ws.id, cid, 30, prefix="a"), target="events")
    add_events(container, event_table(ws.id, old, 12, prefix="o", step_s=97))
    add_order(container, ws.id, cid, "A1", [("sku-1", "Shoes", 2, 49.75, 0)])
    return cid


def requests_for(ann: int, cursor: str) -> list[tuple[str, dict[str, Any] | str | None]]:
    """Plain requests (the fast path's) and ones it must leave to FastAPI, all answered."""
    return [
        (f"{BASE}/lookup", {"email": " Ann@Example.COM "}),
        (f"{BASE}/lookup", {"phone": "067 123 45 67"}),
        (f"{BASE}/lookup", {"external_id": "u-ann"}),
        (f"{BASE}/lookup", {"anonymous_id": "dev-ann"}),
        (f"{BASE}/lookup", {"email": "old@example.com"}),  # merged away: the winner
        (f"{BASE}/lookup", {"email": "nobody@example.com"}),  # 404
        (f"{BASE}/lookup", {"email": "not-an-email"}),  # 422 from the service
        (f"{BASE}/lookup", {"email": ""}),
        (f"{BASE}/lookup", {"email": "a@b.co", "phone": "+380671234567"}),  # FastAPI: 422
        (f"{BASE}/lookup", {"fax": "1"}),
        (f"{BASE}/lookup", {"email": "x" * 513}),  # over max_length
        (f"{BASE}/lookup", "email=ann@example.com&email=ann@example.com"),  # repeated
        (f"{BASE}/lookup", None),
        (f"{BASE}/{ann}", None),
        (f"{BASE}/{ann + 1}", None),  # merged away: the winner's profile
        (f"{BASE}/{ann + 2}", None),  # unknown: 404
        (f"{BASE}/{ann}", {"x": "1"}),
        (f"{BASE}/0{ann}", None),
        (f"{BASE}/{2**62 + 1}", None),
        (f"{BASE}/{ann}/events", None),
        (f"{BASE}/{ann}/events", {"limit": 7}),
        (f"{BASE}/{ann}/events", {"limit": 7, "cursor": cursor}),
        (f"{BASE}/{ann}/events", {"limit": 100}),
        (f"{BASE}/{ann}/events", {"limit": 101}),
        (f"{BASE}/{ann}/events", {"limit": 0}),
        (f"{BASE}/{ann}/events", {"limit": "07"}),
        (f"{BASE}/{ann}/events", {"limit": ""}),
        (f"{BASE}/{ann}/events", {"cursor": "garbage"}),
        (f"{BASE}/{ann}/events", {"cursor": "c" * 701}),
        (f"{BASE}/{ann}/events", {"page": 2}),
        (f"{BASE}/{ann + 2}/events", None),
    ]


def answers(
    client: TestClient, headers: dict[str, str], reqs: list[tuple[str, Any]]
) -> list[tuple[int, str | None, bytes]]:
    out = []
    for path, params in reqs:
        resp = client.get(path, params=params, headers=headers)
        out.append((resp.status_code, resp.headers.get("content-type"), resp.content))
    return out


def test_fast_path_answers_byte_for_byte_as_the_routes(
    client: TestClient, ws: Workspace, ann: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.get(f"{BASE}/{ann}/events", params={"limit": 7}, headers=ws.api_headers)
    reqs = requests_for(ann, first.json()["next_cursor"])
    taken: list[Any] = []
    real_answer = point_reads.answer

    def spy(*args: Any) -> Any:
        taken.append(args[2])
        return real_answer(*args)

    monkeypatch.setattr(point_reads, "answer", spy)
    fast = answers(client, ws.api_headers, reqs)
    monkeypatch.setattr(point_reads, "point_read", lambda scope: None)  # everything → FastAPI
    slow = answers(client, ws.api_headers, reqs)
    for req, f, s in zip(reqs, fast, slow, strict=True):
        assert f == s, req
    statuses = {s for s, _, _ in fast}
    assert statuses == {200, 404, 422}
    # The plain ones went the fast way (valid limits, known names, each once), the rest not.
    assert len(taken) == 17


def test_only_api_keys_take_the_fast_path(
    client: TestClient, container: Container, ws: Workspace, ann: int
) -> None:
    path = f"{BASE}/{ann}"
    assert client.get(path).status_code == 401
    resp = client.get(path, headers={"Authorization": "Bearer rta_nope"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    write_key = container.tenancy.issue_key(workspace_id=ws.id, kind="write").secret
    assert client.get(path, headers={"Authorization": f"Bearer {write_key}"}).status_code == 401
    user = container.tenancy.create_user(
        workspace_id=ws.id, email="viewer@shop.ua", password="long-enough-pw", role="analyst"
    )
    client.cookies.set("retenta_session", container.sessions.issue(user))
    assert client.get(path).json()["id"] == ann  # the session cookie, through FastAPI


def test_a_revoked_key_is_refused_at_once(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace, ann: int
) -> None:
    issued = container.tenancy.issue_key(workspace_id=ws.id, kind="api")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    for path in (f"{BASE}/{ann}", f"{BASE}/{ann}/events"):
        assert client.get(path, headers=headers).status_code == 200
        assert client.get(path, headers=other_ws.api_headers).status_code == 404
    container.tenancy.revoke_key(workspace_id=ws.id, key_id=issued.id)
    for path in (f"{BASE}/{ann}", f"{BASE}/{ann}/events", f"{BASE}/lookup?email=ann@example.com"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 401, path
        assert resp.json()["error"]["message"] == "invalid or revoked API key"


def test_the_fast_paths_are_the_routes_fastapi_would_pick(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route FastAPI picks for each fast path calls the same service method (no route
    mounted before the contacts router claims these paths)."""
    monkeypatch.setattr(point_reads, "point_read", lambda scope: None)
    for method, path in (
        ("lookup", f"{BASE}/lookup?email=a@b.co"),
        ("profile", f"{BASE}/12"),
        ("timeline", f"{BASE}/12/events"),
    ):

        def marked(*args: Any, name: str = method, **kwargs: Any) -> Any:
            raise ApiError(418, "teapot", name)

        monkeypatch.setattr(container.contacts, method, marked)
        resp = client.get(path, headers=ws.api_headers)
        assert (resp.status_code, resp.json()["error"]["message"]) == (418, method)


def test_reads_keep_their_thread_until_the_server_stops(
    container: Container, ws: Workspace, ann: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new thread's first read pays for its own DuckDB cursor: the pool keeps its threads
    (anyio's stop after 10 s idle) and the server's lifespan ends them."""
    import threading

    from retenta.app import create_app

    threads: list[threading.Thread] = []
    real_answer = point_reads.answer

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return real_answer(*args)

    monkeypatch.setattr(point_reads, "answer", spy)
    with TestClient(create_app(container)) as tc:
        for path in (f"{BASE}/{ann}", f"{BASE}/{ann}/events", f"{BASE}/lookup?phone=0671234567"):
            assert tc.get(path, headers=ws.api_headers).status_code == 200
    # Sequential reads mostly reuse one thread; on a loaded machine a second idle one may
    # take the next job first. Either way they are the pool's, and they end with the server.
    assert len(threads) == 3
    assert all(t.name.startswith("retenta-point-read") for t in threads)
    for thread in set(threads):
        thread.join(timeout=10)
        assert not thread.is_alive()
