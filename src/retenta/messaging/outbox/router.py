"""HTTP: ``/api/v1/messages/send``, ``/api/v1/sends`` (the delivery log), ``/api/v1/channels``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from retenta.errors import ApiError
from retenta.messaging.outbox import service
from retenta.messaging.outbox.model import FINAL, RequestError
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(tags=["sends"])
STATUSES = sorted(FINAL | {"queued", "sending"})


@router.post("/api/v1/messages/send", status_code=202)
async def send(
    request: Request,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    p: Principal = Depends(api_principal),
) -> JSONResponse:
    """Queue one message to one contact; 202 ``{"send_id", "status": "queued"}``."""
    require_role(p, "marketer")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}", field="body") from None
    c, svc = container(request), services(request)
    answer, replayed = service.accept_send(
        db=c.db,
        identity=c.identity,
        ledger=svc.ledger,
        content=svc.content,
        settings=svc.channel_settings,
        workspace_id=p.workspace_id,
        body=body,
        idempotency_key=idempotency_key,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(answer, status_code=202, headers=headers)


@router.get("/api/v1/sends/{send_id}")
def get_send(
    send_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """One send: its status, attempts, channel, and every message event it has."""
    found = services(request).ledger.get(p.workspace_id, send_id)
    if found is None:
        raise ApiError(404, "not_found", "no such send in this workspace", field="send_id")
    return found


@router.get("/api/v1/sends")
def list_sends(
    request: Request,
    contact_id: int | None = Query(default=None, ge=1),
    message_id: str | None = Query(default=None, max_length=200),
    status: str | None = Query(default=None, max_length=30),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=400),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """The delivery log, newest first; ``next_cursor`` pages on."""
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid_request", f"status must be one of {STATUSES}", field="status")
    try:
        return services(request).ledger.list(
            p.workspace_id,
            contact_id=contact_id,
            message_id=message_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    except RequestError as exc:
        raise service.bad_request(exc) from None


@router.get("/api/v1/channels")
def list_channels(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Every channel config of the workspace, secrets masked."""
    return service.list_channels(services(request).channel_settings, p.workspace_id)


@router.put("/api/v1/channels/{kind}/{name}")
async def put_channel(
    kind: str, name: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Create or replace one named config; a masked (``********``) or absent secret is kept."""
    require_role(p, "admin")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}", field="body") from None
    return service.put_channel(services(request).channel_settings, p.workspace_id, kind, name, body)


@router.post("/api/v1/channels/{kind}/{name}/check")
async def check_channel(
    kind: str, name: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Try the config against its provider: ``{"ok", "message"}``."""
    require_role(p, "marketer")
    return await service.check_channel(
        services(request).channel_settings, p.workspace_id, kind, name
    )
