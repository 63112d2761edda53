"""Route matching narrowed by path before FastAPI's router runs.

FastAPI (0.163) matches a request against every route of every included router, in order,
setting and restoring an include context in the request's scope around each one: ~7 µs a
route, and the app has ~210, so a request for the last ones (``/healthz``, a 404) spent
~1.4 ms of CPU in matching alone, and an ``/api/…`` request ~0.5–1 ms (in process, this
2-core machine; ``bench/bench_api_routing.py``).

``RoutesByPrefix`` stands in for the app's router in its middleware stack. Each of the
router's top-level routes (an included router, or a route) is summarized once by the
literal start of its paths (the part before the first ``{``); a request is matched by a
copy of the router that holds only the top-level routes whose paths could match its path,
in their order, so FastAPI picks the same route, with the same 404, 405 and trailing-slash
redirect. Copies are kept per set of routes (a handful). Anything it cannot summarize
(a route without a path, a mount with a ``root_path``) keeps the whole router.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter, iter_route_contexts
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_NARROWED = 256  # distinct sets of routes kept; past it, the whole router


@dataclass(frozen=True)
class PathSummary:
    """What paths a top-level route can match: exact paths, and literal starts of the rest
    (without a trailing ``/``, so a trailing-slash redirect still finds it)."""

    exact: frozenset[str]
    starts: tuple[str, ...]
    anything: bool = False

    def may_match(self, path: str) -> bool:
        """
        >>> s = PathSummary(frozenset({"/login"}), ("/api/v1/contacts",))
        >>> [s.may_match(p) for p in ("/login/", "/api/v1/contacts/7", "/api/v1/segments")]
        [True, True, False]
        """
        return self.anything or path.startswith(self.starts) or path.rstrip("/") in self.exact


def summarize(route: Any) -> PathSummary:
    """The paths of ``route`` and, for an included router, of every route it holds."""
    exact: set[str] = set()
    starts: set[str] = set()
    for context in iter_route_contexts([route]):
        path = context.path_format
        if not isinstance(path, str) or not path.startswith("/"):
            return PathSummary(frozenset(), (), anything=True)
        literal, brace, _ = path.partition("{")
        if brace:
            starts.add(literal.rstrip("/"))
        else:
            exact.add(path.rstrip("/"))
    if "" in starts:
        return PathSummary(frozenset(), (), anything=True)
    return PathSummary(frozenset(exact), tuple(sorted(starts)))


class RoutesByPrefix:
    """ASGI: ``router``, each request matched only against the routes its path may match."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._summaries: list[PathSummary] = []
        self._summarized: tuple[int, int] | None = None  # id and length of their routes list
        self._narrowed: dict[tuple[int, ...], APIRouter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        narrowed = self._narrowed_for(scope)
        if narrowed is None:
            await self.router(scope, receive, send)
            return
        scope.setdefault("router", self.router)  # url_for and the like see every route
        await narrowed.app(scope, receive, send)

    def _narrowed_for(self, scope: Scope) -> APIRouter | None:
        if scope["type"] != "http" or scope.get("root_path") or not self._plain():
            return None
        routes = self.router.routes
        if self._summarized != (id(routes), len(routes)):  # routes added since: again
            self._summaries = [summarize(r) for r in routes]
            self._summarized = (id(routes), len(routes))
            self._narrowed.clear()
        path = scope["path"]
        key = tuple(i for i, s in enumerate(self._summaries) if s.may_match(path))
        narrowed = self._narrowed.get(key)
        if narrowed is None:
            if len(self._narrowed) >= MAX_NARROWED:
                return None
            narrowed = self._narrowed[key] = _with_routes(self.router, [routes[i] for i in key])
        return narrowed

    def _plain(self) -> bool:
        """The router has no middleware of its own (calling ``app`` skips nothing)."""
        return bool(self.router.middleware_stack == self.router.app)


def _with_routes(router: APIRouter, routes: Sequence[Any]) -> APIRouter:
    narrowed = copy.copy(router)
    narrowed.routes = list(routes)
    return narrowed


def with_routes_by_prefix(app: FastAPI, build: Callable[[], ASGIApp]) -> ASGIApp:
    """``build`` (FastAPI's ``build_middleware_stack``) with ``RoutesByPrefix`` as its
    innermost app: the stack wraps ``app.router``, so that is what it is while it builds.
    ``app.router`` itself stays FastAPI's (route registration, OpenAPI, ``url_for``)."""
    router = app.router
    app.router = RoutesByPrefix(router)  # type: ignore[assignment]
    try:
        return build()
    finally:
        app.router = router
