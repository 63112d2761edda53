"""UI log-in: ``POST /api/v1/auth/login`` sets the signed session cookie; ``logout``; ``me``.

Failed attempts are throttled per (client address, email) and per client address, and a
failure costs one password hash whether or not the email exists, so response time does not
reveal which emails have accounts.
"""

from __future__ import annotations

import contextlib
import time
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from retenta.errors import ApiError
from retenta.tenancy.deps import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    container,
    require_csrf_header,
    session_principal,
)
from retenta.tenancy.service import Principal
from retenta.web.throttle import LoginThrottle

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _throttles(request: Request) -> tuple[LoginThrottle, LoginThrottle]:
    """``(per client, per client+email)`` throttles, one pair per app."""
    state = request.app.state
    if not hasattr(state, "login_throttles"):
        state.login_throttles = (
            LoginThrottle(max_failures=30, window_s=300),
            LoginThrottle(max_failures=5, window_s=300),
        )
    return state.login_throttles  # type: ignore[no-any-return]


class LoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=200)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return PasswordHasher().hash("retenta-decoy-password")


def spend_one_verification() -> None:
    """Burn the time of one argon2 check (used when the email has no account)."""
    with contextlib.suppress(VerificationError):
        PasswordHasher().verify(_decoy_hash(), "not-the-password")


def _throttle_keys(request: Request, email: str) -> tuple[str, str]:
    client = request.client.host if request.client else "unknown"
    return client, f"{client}|{email.strip().lower()}"


def _check_throttle(request: Request, client: str, account: str) -> None:
    per_client, per_account = _throttles(request)
    now = time.monotonic()
    wait = max(per_client.retry_after(client, now), per_account.retry_after(account, now))
    if wait:
        raise ApiError(
            429, "too_many_attempts", f"too many failed log-ins; try again in {wait} seconds"
        )


def _record_failure(request: Request, client: str, account: str) -> None:
    per_client, per_account = _throttles(request)
    now = time.monotonic()
    per_client.fail(client, now)
    per_account.fail(account, now)


def _email_has_account(request: Request, email: str) -> bool:
    with container(request).db.read() as cur:
        row = cur.execute(
            "SELECT 1 FROM users WHERE email = ? LIMIT 1", [email.strip().lower()]
        ).fetchone()
    return row is not None


def _authenticate(request: Request, body: LoginIn) -> Principal:
    client, account = _throttle_keys(request, body.email)
    _check_throttle(request, client, account)
    principal = container(request).tenancy.login(email=body.email.strip(), password=body.password)
    if principal is None:
        if not _email_has_account(request, body.email):
            spend_one_verification()
        _record_failure(request, client, account)
        raise ApiError(401, "invalid_credentials", "wrong email or password", field="password")
    _throttles(request)[1].clear(account)
    return principal


def describe_user(request: Request, principal: Principal) -> dict[str, Any]:
    """``{id, email, role, workspace: {id, name}}`` of a logged-in user."""
    tenancy = container(request).tenancy
    users = tenancy.list_users(workspace_id=principal.workspace_id)
    email = next((u["email"] for u in users if u["id"] == principal.subject), None)
    workspace = tenancy.workspace(principal.workspace_id)
    return {
        "id": principal.subject,
        "email": email,
        "role": principal.role,
        "workspace": {"id": workspace["id"], "name": workspace["name"]},
    }


@router.post("/login")
def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
    """Check the password and set the session cookie (HttpOnly, SameSite=Lax)."""
    require_csrf_header(request)
    principal = _authenticate(request, body)
    response.set_cookie(
        SESSION_COOKIE,
        container(request).sessions.issue(principal.subject),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return describe_user(request, principal)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response) -> None:
    require_csrf_header(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        container(request).sessions.revoke(token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/me")
def me(request: Request) -> dict[str, Any]:
    principal = session_principal(request)
    if principal is None:
        raise ApiError(401, "unauthorized", "not logged in", field=SESSION_COOKIE)
    return describe_user(request, principal)
