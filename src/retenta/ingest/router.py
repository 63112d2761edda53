"""HTTP routes: the Segment Tracking API (``/v1/*``) and the dead-letter API.

The ``/v1`` handlers take the raw request (no pydantic model: the hand-written checker in
``schemas.py`` is the validation) and answer with Segment's ``{"success": true}``. Their
errors carry the project's ``{"error": {...}}`` shape plus top-level ``code`` and
``message``, which is what the official clients read from a failed response.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from retenta.errors import ApiError
from retenta.ingest import intake
from retenta.ingest.service import DeadLetterService
from retenta.tenancy.deps import (
    api_principal,
    basic_username,
    container,
    require_role,
    write_principal_from,
)
from retenta.tenancy.service import Principal

log = logging.getLogger(__name__)
router = APIRouter()
_JSON = "application/json"


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The raw (possibly compressed) body; 413 as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise intake.too_large(int(declared), limit, what)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise intake.too_large(size, limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def _error_response(exc: ApiError) -> Response:
    body = {**exc.body(), "success": False, "code": exc.code, "message": exc.message}
    headers = {"WWW-Authenticate": 'Basic realm="retenta"'} if exc.status == 401 else None
    retry_after = getattr(exc, "retry_after_s", None)  # OverloadedError, here or in a worker
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return Response(orjson.dumps(body), status_code=exc.status, media_type=_JSON, headers=headers)


async def _track(request: Request, endpoint: str) -> Response:
    """Read → authenticate → parse → store durably → Segment's answer."""
    c = container(request)
    limits = intake.Limits(c.settings.ingest_max_event_bytes, c.settings.ingest_max_batch_bytes)
    received_at = intake.received_now()
    principal = await _header_principal(request)  # before reading a body we may not want
    doc, size = await _read_document(request, endpoint, limits)
    if principal is None:
        body_key = intake.body_write_key(doc)
        await _warm_key(request, body_key)
        principal = write_principal_from(request, body_key)
    ip = request.client.host if request.client else None
    defaults = intake.batch_defaults(
        doc, workspace_id=principal.workspace_id, received_at=received_at, ip=ip
    )
    parsed = intake.parse_request(doc, endpoint, defaults, limits, size)
    status, content = await intake.accept(c.ingest, doc=doc, endpoint=endpoint, parsed=parsed)
    return Response(content, status_code=status, media_type=_JSON)


async def _read_document(request: Request, endpoint: str, limits: intake.Limits) -> tuple[Any, int]:
    """The decoded JSON document and its decompressed size, within Segment's limits."""
    limit = limits.for_endpoint(endpoint)
    what = "batch" if endpoint in intake.BATCH_ENDPOINTS else "event"
    raw = await read_body(request, limit, what)
    body = intake.decode_body(raw, request.headers.get("content-encoding"), limit, what)
    return intake.load_json(body), len(body)


async def _header_principal(request: Request) -> Principal | None:
    key = basic_username(request.headers.get("authorization"))
    if key is None:
        return None
    await _warm_key(request, key)
    return write_principal_from(request, None)


async def _warm_key(request: Request, key: str | None) -> None:
    """In an ingest worker (``ingest/worker.py``) the keys live in the writer process: its
    key book fetches one it does not hold before the (synchronous) check. The server's own
    ``Tenancy`` reads its cache or the database in the check itself, and has no ``warm``."""
    warm = getattr(container(request).tenancy, "warm", None)
    if warm is not None and key:
        await warm(key)


def segment_handler(endpoint: str) -> Any:
    """The handler of ``POST /v1/<endpoint>`` (also served by ``fastpath.SegmentFastPath``)."""

    async def handler(request: Request) -> Response:
        try:
            return await _track(request, endpoint)
        except ApiError as exc:
            return _error_response(exc)
        except ClientDisconnect:  # gone before its body arrived: nothing read, nothing stored
            return Response(status_code=400)
        except Exception:  # storage failed: nothing was acknowledged, the client may retry
            log.exception("ingestion failed on /v1/%s", endpoint)
            return _error_response(
                ApiError(503, "unavailable", "the events could not be stored; retry the request")
            )

    handler.__name__ = f"segment_{endpoint}"
    handler.__doc__ = f"Segment HTTP Tracking API: ``{endpoint}``."
    return handler


for _endpoint in (*intake.SINGLE_TYPES, *intake.BATCH_ENDPOINTS):
    router.add_api_route(
        f"/v1/{_endpoint}",
        segment_handler(_endpoint),
        methods=["POST"],
        tags=["tracking"],
        response_class=Response,
    )


class ReplayIn(BaseModel):
    payload: dict[str, Any] | None = None


def _dead_letters(request: Request) -> DeadLetterService:
    c = container(request)
    return DeadLetterService(db=c.db, pipeline=c.ingest)


@router.get("/api/v1/dead-letters", tags=["dead letters"])
def list_dead_letters(
    request: Request,
    status: str = Query("pending", description="pending, replayed, discarded or all"),
    limit: int = Query(50, ge=1, le=500),
    cursor: int | None = Query(None, description="next_cursor of the previous page"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Invalid events kept with the reasons they were refused, newest first."""
    require_role(p, "analyst")
    return _dead_letters(request).list(
        workspace_id=p.workspace_id,
        status=None if status == "all" else status,
        limit=limit,
        cursor=cursor,
    )


@router.post("/api/v1/dead-letters/{letter_id}/replay", tags=["dead letters"])
async def replay_dead_letter(
    letter_id: int,
    request: Request,
    body: ReplayIn | None = None,
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Validate again (with ``payload`` if given, as the fix) and store; status → replayed."""
    require_role(p, "marketer")
    payload = body.payload if body is not None else None
    return await _dead_letters(request).replay(
        workspace_id=p.workspace_id, letter_id=letter_id, payload=payload
    )


@router.post("/api/v1/dead-letters/{letter_id}/discard", tags=["dead letters"])
async def discard_dead_letter(
    letter_id: int, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    return await _dead_letters(request).discard(workspace_id=p.workspace_id, letter_id=letter_id)
