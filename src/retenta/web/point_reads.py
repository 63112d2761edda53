"""The three point reads of the contacts API answered ahead of FastAPI's routing.

``GET /api/v1/contacts/lookup?<type>=<value>``, ``GET /api/v1/contacts/{id}`` and
``GET /api/v1/contacts/{id}/events`` are the reads with a 10 ms p99 bound (issue #2). Through
FastAPI each one paid, on the event loop, the exception and exit-stack middleware, a match
against every route of the app, the dependency solver and two threadpool hops (the sync
``api_principal`` dependency, then the sync route): about 1 ms of the server's CPU a request
beside a 4–5 ms read, and a second wait for a worker thread on a busy machine.

This middleware answers only the plain, valid case of those requests, in one hop to a thread
of its own pool:
an ``Authorization: Bearer`` API key that authenticates (the same ``authenticate_key``, so the
same hashed-key cache and revocation), the role the route requires, and query parameters the
route would accept unchanged (known names, each once, values within the route's limits). The
answer is the route's own: the same service call, the same JSON bytes, the same error shape
for an ``ApiError`` (``errors.ApiError.body``). Everything else — a missing or bad key, a
session cookie, an unknown or repeated parameter, a value the route would reject — goes on to
FastAPI unchanged, which answers it as before (``tests/contacts/test_point_reads_http.py``
checks both paths give the same bytes).

The pool's threads live as long as the server (``POINT_READ_THREADS`` at most, started as
needed). Each thread keeps its own DuckDB cursor (``storage.duckdb.engine.read``), and a new
one costs its first read ~3 ms more CPU (3.3 → 6.3 ms for a lookup by email, in process):
anyio's threadpool, which FastAPI uses, stops a thread idle for 10 s, so a server answering
a read every few seconds or less often paid that on most of them.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.responses import Response

from retenta.contacts.router import (
    CURSOR_MAX_LENGTH,
    LOOKUP_MAX_LENGTH,
    MAX_CONTACT_ID,
    READ_ROLE,
    TIMELINE_LIMIT_DEFAULT,
    TIMELINE_LIMIT_MAX,
    json_response,
)
from retenta.contacts.traits import LOOKUP_TYPES
from retenta.errors import ApiError
from retenta.tenancy.deps import ROLE_RANK

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/api/v1/contacts/"
# Path ids the route's ``int`` parameter reads as the same number (no sign, no leading zero,
# no ``_``); the range is checked after.
CONTACT_PATH = re.compile(r"([1-9][0-9]{0,18})(/events)?")
LIMIT = re.compile(r"[1-9][0-9]{0,2}")
POINT_READ_THREADS = 16  # concurrent point reads; more wait for a thread (2 cores: CPU-bound)

Read = Callable[[Any, str], dict[str, Any]]  # (contact service, workspace id) -> answer


class PointReads:
    """ASGI middleware: the plain case of the three contacts point reads; the rest → ``app``."""

    def __init__(self, app: ASGIApp, threads: ReadThreads) -> None:
        self.app = app
        self.threads = threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = point_read(scope) if scope["type"] == "http" else None
        secret = bearer_secret(scope) if read is not None else None
        if read is None or secret is None:
            await self.app(scope, receive, send)
            return
        container = scope["app"].state.container
        loop = asyncio.get_running_loop()
        pool = self.threads.executor()
        response = await loop.run_in_executor(pool, answer, container, secret, read)
        await (response or self.app)(scope, receive, send)


class ReadThreads:
    """The point reads' threads (module doc), started with the first read; ``close`` (the
    server's lifespan, or the app's finalizer) ends them and the next read starts new ones."""

    def __init__(self, size: int = POINT_READ_THREADS) -> None:
        self.size = size
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="retenta-point-read")
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def answer(container: Any, secret: str, read: Read) -> Response | None:
    """The route's response, or None where the key or its role does not let the fast path
    answer (FastAPI's route then gives the 401/403 it always gave)."""
    principal = container.tenancy.authenticate_key(secret, kind="api")
    if principal is None or ROLE_RANK.get(principal.role, -1) < ROLE_RANK[READ_ROLE]:
        return None
    try:
        return json_response(read(container.contacts, principal.workspace_id))
    except ApiError as exc:  # as ``errors.install_error_handlers`` renders it
        return JSONResponse(exc.body(), status_code=exc.status)


def bearer_secret(scope: Scope) -> str | None:
    """The API key of a single ``Authorization: Bearer`` header (as ``api_principal`` reads
    it), or None."""
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                return None  # repeated: let FastAPI decide which one counts
            found = value
    if found is None or found[:7].lower() != b"bearer ":
        return None
    try:
        return found[7:].decode("latin-1").strip()
    except UnicodeDecodeError:
        return None


def point_read(scope: Scope) -> Read | None:
    """The service call a request is, when it is one of the three reads in its plain form."""
    path: str = scope["path"]
    if scope["method"] != "GET" or scope.get("root_path") or not path.startswith(PREFIX):
        return None
    params = query_params(scope["query_string"])
    if params is None:
        return None
    rest = path[len(PREFIX) :]
    if rest == "lookup":
        return lookup_read(params)
    match = CONTACT_PATH.fullmatch(rest)
    if match is None or int(match[1]) > MAX_CONTACT_ID:
        return None
    contact_id = int(match[1])
    return timeline_read(contact_id, params) if match[2] else profile_read(contact_id, params)


def query_params(raw: bytes) -> dict[str, str] | None:
    """The query string as Starlette parses it, or None when a name repeats or it is not
    plain ASCII (FastAPI's route then decides)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    pairs = parse_qsl(text, keep_blank_values=True)
    params = dict(pairs)
    return params if len(params) == len(pairs) else None


def lookup_read(params: dict[str, str]) -> Read | None:
    if len(params) != 1:
        return None
    ((id_type, value),) = params.items()
    if id_type not in LOOKUP_TYPES or len(value) > LOOKUP_MAX_LENGTH[id_type]:
        return None
    return lambda svc, ws: svc.lookup(workspace_id=ws, id_type=id_type, value=value)


def profile_read(contact_id: int, params: dict[str, str]) -> Read | None:
    if params:
        return None
    return lambda svc, ws: svc.profile(workspace_id=ws, contact_id=contact_id)


def timeline_read(contact_id: int, params: dict[str, str]) -> Read | None:
    if not params.keys() <= {"limit", "cursor"}:
        return None
    limit, cursor = params.get("limit"), params.get("cursor")
    if limit is not None and (not LIMIT.fullmatch(limit) or int(limit) > TIMELINE_LIMIT_MAX):
        return None
    if cursor is not None and len(cursor) > CURSOR_MAX_LENGTH:
        return None
    size = TIMELINE_LIMIT_DEFAULT if limit is None else int(limit)
    return lambda svc, ws: svc.timeline(
        workspace_id=ws, contact_id=contact_id, limit=size, cursor=cursor
    )
