"""Inbox HTTP: the app's ``/v1/inbox`` and the management routes.

App requests carry three credentials: the workspace's write key as the HTTP Basic username
(public: it ships in the app), ``Retenta-User-Id`` and ``Retenta-User-Token``
(``hex(HMAC-SHA256(identity secret, user id))``, made by the workspace's backend; see
``identity.py``). A wrong or missing token is a 401, so one user never reads another's inbox.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from retenta.errors import ApiError
from retenta.messaging.inbox.channel import Config as InAppConfig
from retenta.messaging.inbox.service import (
    AppUser,
    UnknownUserTokenError,
    inbox_service,
)
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal, container, require_role, write_principal_from
from retenta.tenancy.service import Principal

USER_ID_HEADER = "Retenta-User-Id"
USER_TOKEN_HEADER = "Retenta-User-Token"  # noqa: S105 (a header name)
MAX_USER_ID = 512

app = APIRouter(prefix="/v1/inbox", tags=["app inbox"])
manage = APIRouter(tags=["app inbox"])
MessageId = Path(min_length=1, max_length=200)


def _header(request: Request, name: str, limit: int) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise ApiError(401, "unauthorized", f"send the {name} header", field=name)
    if len(value) > limit:
        raise ApiError(401, "unauthorized", f"{name} is longer than {limit}", field=name)
    return value


def app_user(request: Request) -> AppUser:
    """The workspace (write key) and the verified user (user id + user token)."""
    principal = write_principal_from(request, None)
    user_id = _header(request, USER_ID_HEADER, MAX_USER_ID)
    token = _header(request, USER_TOKEN_HEADER, 128)
    try:
        return inbox_service(request).app_user(principal.workspace_id, user_id, token)
    except UnknownUserTokenError as exc:
        raise ApiError(
            401, "unauthorized", f"{USER_TOKEN_HEADER} does not match {USER_ID_HEADER}",
            field=USER_TOKEN_HEADER,
        ) from exc  # fmt: skip


def allowed_origin(request: Request, workspace_id: str) -> str | None:
    """The request's Origin when the workspace's in-app config lists it, else None."""
    sent = request.headers.get("origin")
    if not sent:
        return None
    config = services(request).channel_settings.get(workspace_id, "inapp", "default")
    allowed = config.allowed_origins if isinstance(config, InAppConfig) else []
    return sent if sent.rstrip("/").lower() in allowed else None


def cors(request: Request, response: Response, user: AppUser) -> None:
    """Let a listed web app's browser read the answer (``Access-Control-Allow-Origin``)."""
    response.headers["Vary"] = "Origin"
    found = allowed_origin(request, user.workspace_id)
    if found is not None:
        response.headers["Access-Control-Allow-Origin"] = found


@app.options("", include_in_schema=False)
@app.options("/{rest:path}", include_in_schema=False)
def preflight(request: Request) -> Response:
    """CORS preflight: allowed when the Origin is listed for the ``?writeKey=`` workspace."""
    key = request.query_params.get("writeKey")
    principal = container(request).tenancy.authenticate_key(key, kind="write") if key else None
    found = allowed_origin(request, principal.workspace_id) if principal else None
    headers = {"Vary": "Origin"}
    if found is not None:
        headers |= {
            "Access-Control-Allow-Origin": found,
            "Access-Control-Allow-Methods": "GET, POST, DELETE",
            "Access-Control-Allow-Headers": (
                f"Authorization, Content-Type, {USER_ID_HEADER}, {USER_TOKEN_HEADER}"
            ),
            "Access-Control-Max-Age": "600",
        }
    return Response(status_code=204, headers=headers)


@app.get("")
def list_inbox(
    request: Request,
    response: Response,
    limit: int = Query(default=20, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=200),
    unread_only: bool = Query(default=False),
    user: AppUser = Depends(app_user),
) -> dict[str, Any]:
    """The user's messages, newest first, with the unread count and the next page's cursor."""
    cors(request, response, user)
    try:
        found = inbox_service(request).page(
            user, limit=limit, cursor=cursor, unread_only=unread_only
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_cursor", str(exc), field="cursor") from exc
    return {"items": found.items, "unread": found.unread, "next_cursor": found.next_cursor}


@app.post("/read-all")
async def read_all(
    request: Request, response: Response, user: AppUser = Depends(app_user)
) -> dict[str, Any]:
    """Mark every message read (each newly read one records an ``opened`` event)."""
    cors(request, response, user)
    marked, _ = await inbox_service(request).mark_read(user, None)
    return {"marked": marked}


@app.post("/{message_id}/read")
async def read(
    request: Request,
    response: Response,
    message_id: str = MessageId,
    user: AppUser = Depends(app_user),
) -> dict[str, Any]:
    """Mark one message read; the first time records its ``opened`` event."""
    cors(request, response, user)
    marked, found = await inbox_service(request).mark_read(user, message_id)
    if not found:
        raise ApiError(404, "not_found", "no such message in this inbox", field="message_id")
    return {"id": message_id, "read": True, "newly_read": bool(marked)}


@app.post("/{message_id}/click")
async def click(
    request: Request,
    response: Response,
    message_id: str = MessageId,
    user: AppUser = Depends(app_user),
) -> dict[str, Any]:
    """The user tapped the message's link: records ``clicked`` (and ``opened`` if unread)."""
    cors(request, response, user)
    url = await inbox_service(request).click(user, message_id)
    if url is False:
        raise ApiError(404, "not_found", "no such message in this inbox", field="message_id")
    return {"id": message_id, "url": url}


@app.delete("/{message_id}")
async def delete(
    request: Request,
    response: Response,
    message_id: str = MessageId,
    user: AppUser = Depends(app_user),
) -> dict[str, Any]:
    cors(request, response, user)
    if not await inbox_service(request).delete(user, message_id):
        raise ApiError(404, "not_found", "no such message in this inbox", field="message_id")
    return {"id": message_id, "deleted": True}


@manage.get("/api/v1/contacts/{contact_id}/inbox")
def contact_inbox(
    request: Request,
    contact_id: int,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=200),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Every in-app message of a contact (deleted and expired included, marked as such)."""
    try:
        found = inbox_service(request).contact_inbox(
            p.workspace_id, contact_id, limit=limit, cursor=cursor
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_cursor", str(exc), field="cursor") from exc
    if found is None:
        raise ApiError(404, "not_found", "no such contact", field="contact_id")
    items, following = found
    return {"items": items, "next_cursor": following}


@manage.post("/api/v1/inbox/identity-secret", status_code=201)
async def rotate_identity_secret(
    request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Create (or rotate) the identity-verification secret; shown only in this answer."""
    require_role(p, "admin")
    generation, secret = await inbox_service(request).rotate_secret(p.workspace_id)
    return {"generation": generation, "secret": secret}


class UserTokenIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=MAX_USER_ID)


@manage.post("/api/v1/inbox/user-tokens")
def make_user_token(
    body: UserTokenIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """A user token made server-side, for backends that would rather not hold the secret."""
    require_role(p, "marketer")
    token = inbox_service(request).user_token(p.workspace_id, body.user_id)
    if token is None:
        raise ApiError(
            409, "no_identity_secret",
            "create the identity secret first: POST /api/v1/inbox/identity-secret",
        )  # fmt: skip
    return {"user_id": body.user_id, "user_token": token}


router = APIRouter()
router.include_router(app)
router.include_router(manage)
