"""``web/routing.py``: narrowing the routes by path answers every request as FastAPI's own
matching over all of them does."""

from __future__ import annotations

import doctest
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from retenta.app import Container, create_app
from retenta.web import routing
from retenta.web.routing import RoutesByPrefix, summarize

PARAM = re.compile(r"\{[^}]+\}")


def requests_for(app: FastAPI) -> Iterator[tuple[str, str]]:
    """For every route: its methods on its path (parameters filled in), the same path with
    its trailing slash toggled, and a method it does not take."""
    for context in iter_route_contexts(app.routes):
        fmt = context.path_format
        if not isinstance(fmt, str):
            continue
        path = PARAM.sub("1", fmt)
        methods = sorted(context.methods or {"GET"})
        for method in methods:
            yield method, path
            yield method, path[:-1] if path.endswith("/") and path != "/" else path + "/"
        yield ("DELETE" if "DELETE" not in methods else "PUT"), path
    for path in ("/nothing", "/api/v1/nothing", "/api/", "/v1", "/contacts/1/x"):
        yield "GET", path


@pytest.fixture
def apps(container: Container) -> tuple[TestClient, TestClient]:
    narrowed = create_app(container)
    whole = create_app(container)
    whole.middleware_stack = FastAPI.build_middleware_stack(whole)  # FastAPI's own matching
    return (
        TestClient(narrowed, follow_redirects=False),
        TestClient(whole, follow_redirects=False),
    )


def test_every_route_is_answered_as_without_the_narrowing(
    apps: tuple[TestClient, TestClient],
) -> None:
    narrowed, whole = apps
    assert isinstance(narrowed.app, FastAPI)
    checked = 0
    for method, path in requests_for(narrowed.app):
        got = narrowed.request(method, path)
        expected = whole.request(method, path)
        assert (got.status_code, got.headers.get("location")) == (
            expected.status_code,
            expected.headers.get("location"),
        ), f"{method} {path}"
        if got.status_code >= 400:
            assert got.content == expected.content, f"{method} {path}"
        checked += 1
    assert checked > 400  # every route, not a few


def test_a_request_is_matched_against_the_routes_its_path_may_match(
    container: Container,
) -> None:
    app = create_app(container)
    by_prefix = RoutesByPrefix(app.router)
    scope = {"type": "http", "path": "/api/v1/segments/7", "root_path": ""}
    narrowed = by_prefix._narrowed_for(scope)
    assert narrowed is not None
    assert 0 < len(narrowed.routes) < len(app.router.routes) / 4
    paths = {c.path_format for c in iter_route_contexts(narrowed.routes)}
    assert "/api/v1/segments/{segment_id}" in paths
    assert not any(p.startswith("/api/v1/contacts") for p in paths)
    assert by_prefix._narrowed_for({**scope, "root_path": "/behind-a-proxy"}) is None


def test_a_route_added_later_is_matched(container: Container) -> None:
    app = create_app(container)
    client = TestClient(app)
    assert client.get("/late").status_code == 404

    @app.get("/late")
    async def late() -> dict[str, bool]:
        return {"late": True}

    assert client.get("/late").json() == {"late": True}


def test_a_route_without_a_literal_start_matches_anything(container: Container) -> None:
    app = create_app(container)

    @app.get("/{anything}/tail")
    async def tail(anything: str) -> dict[str, str]:
        return {"anything": anything}

    assert summarize(app.router.routes[-1]).anything
    assert TestClient(app).get("/x/tail").json() == {"anything": "x"}


def test_the_module_examples() -> None:
    result = doctest.testmod(routing)
    assert result.attempted >= 1
    assert result.failed == 0
