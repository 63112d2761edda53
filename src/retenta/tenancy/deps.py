"""FastAPI dependencies that turn credentials into a workspace-bound Principal."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from retenta.errors import ApiError
from retenta.tenancy.service import Principal

if TYPE_CHECKING:
    from retenta.app import Container

SESSION_COOKIE = "retenta_session"
SESSION_MAX_AGE_S = 14 * 24 * 3600
ROLE_RANK = {"analyst": 0, "marketer": 1, "admin": 2}


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def basic_username(header: str | None) -> str | None:
    """The username of an HTTP Basic header (Segment clients send the write key there)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def session_principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    c = container(request)
    user_id = c.sessions.load(token, max_age=SESSION_MAX_AGE_S)
    return c.tenancy.user_principal(user_id) if user_id else None


CSRF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_csrf_header(request: Request) -> None:
    """Cookie-authenticated changes must carry ``X-Requested-With``: a cross-site form
    cannot set it, and a cross-site script cannot without a CORS grant this API never gives."""
    if request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise ApiError(
            403,
            "csrf_header_missing",
            f"requests authenticated by the session cookie that change data must send the"
            f" {CSRF_HEADER} header",
            field=CSRF_HEADER,
        )


async def api_principal(request: Request) -> Principal:
    """Management API: ``Authorization: Bearer <api key>`` or a UI session cookie.

    Async so that a key already in the cache costs no threadpool hop (FastAPI runs a sync
    dependency on a worker thread, a hop before the route's own); a key not cached yet and
    a session cookie are read on a worker thread.
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        tenancy = container(request).tenancy
        secret = header[7:].strip()
        known, principal = tenancy.cached_key(secret, kind="api")
        if not known:
            principal = await run_in_threadpool(tenancy.authenticate_key, secret, kind="api")
        if principal is None:
            raise ApiError(401, "unauthorized", "invalid or revoked API key", field="Authorization")
        return principal
    return await run_in_threadpool(session_api_principal, request)


def session_api_principal(request: Request) -> Principal:
    """The management API's principal from a UI session cookie (reads the session)."""
    principal = session_principal(request)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing credentials: send 'Authorization: Bearer <api key>'",
            field="Authorization",
        )
    require_csrf_header(request)
    return principal


def require_role(principal: Principal, role: str) -> None:
    if ROLE_RANK.get(principal.role, -1) < ROLE_RANK[role]:
        raise ApiError(403, "forbidden", f"this action needs the {role} role")


def missing_write_key() -> ApiError:
    """The answer to an ingestion request that names no write key."""
    return ApiError(
        401,
        "unauthorized",
        "missing write key: send it as the HTTP Basic username or as writeKey",
        field="Authorization",
    )


def write_principal_from(request: Request, body_write_key: str | None) -> Principal:
    """Ingestion: the write key as the Basic username, or ``writeKey`` in the body."""
    key = basic_username(request.headers.get("authorization")) or body_write_key
    if not key:
        raise missing_write_key()
    principal = container(request).tenancy.authenticate_key(key, kind="write")
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked write key", field="writeKey")
    return principal
