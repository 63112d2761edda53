"""Messaging HTTP: ``/api/v1/messages`` (preview, engagement) and the public tracking links.

The public routes (``/t/o/…``, ``/t/c/…``) take no credentials: the signed token is the
authority, and anything but a genuine token gets a 404 — never a redirect.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from retenta.errors import ApiError
from retenta.messaging import promo_router, push_router
from retenta.messaging.channels.sms import webhooks as sms_webhooks
from retenta.messaging.content import router as content_router
from retenta.messaging.outbox import router as outbox_router
from retenta.messaging.preview import preview_email
from retenta.messaging.schemas import PreviewIn, SuppressionIn
from retenta.messaging.services import services
from retenta.messaging.suppression import Entry
from retenta.messaging.track_store import Request as HitRequest
from retenta.messaging.unsubscribe import read_token
from retenta.messaging.unsubscribe_page import page
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

messages = APIRouter(prefix="/api/v1/messages", tags=["messages"])
suppressions = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"])
public = APIRouter(tags=["tracking"])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, no-cache, private", "Pragma": "no-cache"}


@messages.post("/preview")
def preview(
    body: PreviewIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Subject, preheader, HTML and text of a message as one contact (or nobody) would get it."""
    require_role(p, "marketer")
    return preview_email(
        profiles=container(request).contacts, workspace_id=p.workspace_id, body=body
    )


@messages.get("/engagement")
def engagement(
    request: Request,
    campaign_id: str | None = Query(default=None, max_length=200),
    message_id: str | None = Query(default=None, max_length=200),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Sends, human opens and clicks (machine ones counted apart), and the human rates."""
    return services(request).tracking.engagement(
        p.workspace_id, campaign_id=campaign_id, message_id=message_id
    )


def _hit_request(request: Request) -> HitRequest:
    return HitRequest(user_agent=request.headers.get("user-agent", ""), method=request.method)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "unknown or tampered link")


@public.api_route("/t/o/{token}.gif", methods=["GET", "HEAD"], include_in_schema=False)
async def open_pixel(token: str, request: Request) -> Response:
    svc = services(request)
    hit = svc.tracker("").read_open(token)
    if hit is None:
        raise _not_found()
    await svc.tracking.record_open(hit, _hit_request(request))
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@public.api_route("/t/c/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def click(token: str, request: Request) -> Response:
    """302 to the URL inside a genuine token (never to anything the request supplies)."""
    svc = services(request)
    hit = svc.tracker("").read_click(token)
    if hit is None or hit.url is None:
        raise _not_found()
    await svc.tracking.record_click(hit, _hit_request(request))
    headers = NO_STORE | {"Referrer-Policy": "no-referrer"}
    return RedirectResponse(hit.url, status_code=302, headers=headers)


@suppressions.get("")
def list_suppressions(
    request: Request,
    reason: str | None = Query(default=None, max_length=30),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=64),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    return services(request).suppressions.list(
        p.workspace_id, reason=reason, limit=limit, after=cursor
    )


@suppressions.post("", status_code=201)
async def add_suppression(
    body: SuppressionIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    kind, value = ("email", body.address) if body.address is not None else ("phone", body.phone)
    assert value is not None
    entry = Entry(kind, value, body.reason, body.source)  # type: ignore[arg-type]
    added = await services(request).suppressions.add(p.workspace_id, [entry])
    return {"added": bool(added), "kind": kind, "reason": body.reason}


@suppressions.delete("/{value}")
async def remove_suppression(
    value: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Remove by address, phone number or the listed hash."""
    require_role(p, "marketer")
    if not await services(request).suppressions.remove(p.workspace_id, value):
        raise ApiError(404, "not_found", "not on the suppression list", field="value")
    return {"removed": True}


@public.get("/u/{token}", include_in_schema=False)
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The hosted page: shows the state and a one-button form (a GET changes nothing)."""
    svc = services(request)
    link = read_token(svc.keyring, token)
    if link is None:
        raise _not_found()
    status = svc.unsubscriber.status(link)
    return HTMLResponse(page(action=f"/u/{token}", status=status), headers=NO_STORE)


@public.post("/u/{token}", include_in_schema=False)
async def one_click_unsubscribe(token: str, request: Request) -> HTMLResponse:
    """RFC 8058: a POST with ``List-Unsubscribe=One-Click`` unsubscribes at once, idempotently."""
    svc = services(request)
    link = read_token(svc.keyring, token)
    if link is None:
        raise _not_found()
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("List-Unsubscribe") != ["One-Click"]:
        raise ApiError(
            400, "invalid_request", "the body must be List-Unsubscribe=One-Click",
            field="List-Unsubscribe",
        )  # fmt: skip
    await svc.unsubscriber.unsubscribe(link)
    return HTMLResponse(page(action=f"/u/{token}", status="unsubscribed", done=True))


router = APIRouter()
router.include_router(messages)
router.include_router(suppressions)
router.include_router(promo_router.router)
router.include_router(push_router.router)
router.include_router(outbox_router.router)
router.include_router(public)
router.include_router(content_router.router)  # after `messages`: /preview, /engagement win
router.include_router(sms_webhooks.routes())  # /hooks/sms/…, /hooks/viber/…, /api/v1/sms/…
