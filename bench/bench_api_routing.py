"""What the app spends a request before its handler: route matching, narrowed or not.

FastAPI 0.163 matches a request against every route of every included router in order
(~210 routes here). ``web/routing.py`` narrows them by path first. This bench calls the
app's ASGI stack in process (no sockets, no lifespan), the same requests through the
server's stack and through the same app's stack built by FastAPI alone, alternating
rounds, and prints the mean µs a request of each and their ratio — the bound being
FastAPI's own matching over all routes. The requests are answered without a handler's own
work: ``/healthz``, a route the request's missing key refuses (401 after matching and the
dependency), and a 404.

    uv run python -m bench.bench_api_routing [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from retenta.app import build_container, create_app
from retenta.settings import Settings

PATHS = ("/healthz", "/api/v1/segments", "/api/v1/contacts/7/export", "/api/v1/nothing")
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(app: App, path: str) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a disconnect that never comes
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def per_request_us(app: FastAPI, path: str, n: int) -> tuple[float, int]:
    status = await call(app, path)
    for _ in range(50):
        await call(app, path)
    started = time.perf_counter()
    for _ in range(n):
        await call(app, path)
    return (time.perf_counter() - started) / n * 1e6, status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(Settings(data_dir=Path(tmp), background_workers=False))
        try:
            narrowed, whole = create_app(container), create_app(container)
            whole.middleware_stack = FastAPI.build_middleware_stack(whole)
            routes = sum(1 for _ in iter_route_contexts(narrowed.routes))
            print(f"bench_api_routing — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
                  f" {routes} routes, {args.rounds} rounds x {args.requests} requests a path,"
                  " alternated; mean µs a request (median of the rounds)\n")  # fmt: skip
            print("| request | status | narrowed (web/routing.py) | FastAPI's matching | ratio |")
            print("|---|---|---|---|---|")
            for path in PATHS:
                ours: list[float] = []
                theirs: list[float] = []
                status = 0
                for _ in range(args.rounds):
                    us, status = asyncio.run(per_request_us(narrowed, path, args.requests))
                    ours.append(us)
                    us, _ = asyncio.run(per_request_us(whole, path, args.requests))
                    theirs.append(us)
                a, b = statistics.median(ours), statistics.median(theirs)
                print(f"| GET {path} | {status} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")
        finally:
            container.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
