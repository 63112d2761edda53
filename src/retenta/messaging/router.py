"""Messaging HTTP: ``/api/v1/messages`` (preview, engagement) and the public tracking links.

The public routes (``/t/o/…``, ``/t/c/…``) take no credentials: the signed token is the
authority, and anything but a genuine token gets a 404 — never a redirect.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from retenta.errors import ApiError
from retenta.messaging.preview import preview_email
from retenta.messaging.schemas import PreviewIn
from retenta.messaging.services import services
from retenta.messaging.track_store import Request as HitRequest
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

messages = APIRouter(prefix="/api/v1/messages", tags=["messages"])
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


router = APIRouter()
router.include_router(messages)
router.include_router(public)
