"""HTTP routes: the Segment Tracking API (``/v1/*``) and the dead-letter API.

The ``/v1`` handlers take the raw request (no pydantic model: the hand-written checker in
``schemas.py`` is the validation) and answer with Segment's ``{"success": true}``. Their
errors carry the project's ``{"error": {...}}`` shape plus top-level ``code`` and
``message``, which is what the official clients read from a failed response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

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
    missing_write_key,
    require_role,
)
from retenta.tenancy.service import Principal

if TYPE_CHECKING:
    from retenta.app import Container

log = logging.getLogger(__name__)
router = APIRouter()
_JSON = "application/json"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


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


Answer = tuple[int, bytes, dict[str, str] | None]  # status, body, extra headers


def _error_answer(exc: ApiError) -> Answer:
    body = {**exc.body(), "success": False, "code": exc.code, "message": exc.message}
    headers = {"WWW-Authenticate": 'Basic realm="retenta"'} if exc.status == 401 else None
    retry_after = getattr(exc, "retry_after_s", None)  # OverloadedError, here or in a worker
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return exc.status, orjson.dumps(body), headers


async def answer(c: Container, endpoint: str, scope: Scope, receive: Receive) -> Answer:
    """``POST /v1/<endpoint>`` on the raw ASGI request: ``(status, body, extra headers)``.
    The fast path (``fastpath.py``) sends it as raw ASGI messages; the declared route wraps
    it in a ``Response``. Both give the same status, body and headers. Each answer is
    counted and timed for ``/metrics`` (``telemetry.py``)."""
    started = time.perf_counter()
    result = await _answer(c, endpoint, scope, receive)
    c.ingest.telemetry.answered(endpoint, result[0], time.perf_counter() - started)
    return result


async def _answer(c: Container, endpoint: str, scope: Scope, receive: Receive) -> Answer:
    try:
        status, content = await _track(c, endpoint, scope, receive)
        return status, content, None
    except ApiError as exc:
        return _error_answer(exc)
    except ClientDisconnect:  # gone before its body arrived: nothing read, nothing stored
        return 400, b"", None
    except Exception:  # storage failed: nothing was acknowledged, the client may retry
        log.exception("ingestion failed on /v1/%s", endpoint)
        return _error_answer(
            ApiError(503, "unavailable", "the events could not be stored; retry the request")
        )


async def _track(c: Container, endpoint: str, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """Read → authenticate → parse → store durably → Segment's answer."""
    limits = intake.Limits(c.settings.ingest_max_event_bytes, c.settings.ingest_max_batch_bytes)
    received_at = intake.received_now()
    authorization, declared, encoding = _head(scope["headers"])
    key = basic_username(authorization)
    if key is not None:  # checked before reading a body we may not want
        principal = await _write_principal(c, key)
    doc, size = await _read_document(receive, endpoint, limits, declared, encoding)
    if key is None:
        principal = await _write_principal(c, intake.body_write_key(doc))
    client = scope.get("client")
    defaults = intake.batch_defaults(
        doc, workspace_id=principal.workspace_id, received_at=received_at,
        ip=client[0] if client else None,
    )  # fmt: skip
    parsed = intake.parse_request(doc, endpoint, defaults, limits, size)
    return await intake.accept(c.ingest, doc=doc, endpoint=endpoint, parsed=parsed)


def _head(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None]:
    """``Authorization``, ``Content-Length`` and ``Content-Encoding`` (the first of each), in
    one pass over the ASGI headers (names arrive lower-cased).

    >>> _head([(b"content-length", b"2"), (b"authorization", b"Basic eA==")])
    ('Basic eA==', '2', None)
    """
    authorization = declared = encoding = None
    for name, value in headers:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
        elif name == b"content-encoding" and encoding is None:
            encoding = value.decode("latin-1")
    return authorization, declared, encoding


async def _read_document(
    receive: Receive, endpoint: str, limits: intake.Limits, declared: str | None,
    encoding: str | None,
) -> tuple[Any, int]:  # fmt: skip
    """The decoded JSON document and its decompressed size, within Segment's limits."""
    limit = limits.for_endpoint(endpoint)
    what = "batch" if endpoint in intake.BATCH_ENDPOINTS else "event"
    raw = await _receive_body(receive, limit, what, declared)
    body = intake.decode_body(raw, encoding, limit, what)
    return intake.load_json(body), len(body)


async def _receive_body(receive: Receive, limit: int, what: str, declared: str | None) -> bytes:
    """``read_body`` on the raw ASGI ``receive`` (what ``Request.stream`` does, without it)."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise intake.too_large(int(declared), limit, what)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise intake.too_large(size, limit, what)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _write_principal(c: Container, key: str | None) -> Principal:
    """The write key's principal; the answers of ``tenancy.deps.write_principal_from``. In an
    ingest worker (``ingest/worker.py``) the keys live in the writer process: its key book
    fetches one it does not hold before the (synchronous) check. The server's own
    ``Tenancy`` reads its cache or the database in the check itself, and has no ``warm``."""
    if not key:
        raise missing_write_key()
    warm = getattr(c.tenancy, "warm", None)
    if warm is not None:
        await warm(key)
    principal = c.tenancy.authenticate_key(key, kind="write")
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked write key", field="writeKey")
    return principal


def segment_handler(endpoint: str) -> Any:
    """The declared route of ``POST /v1/<endpoint>`` (the docs; the server answers these
    paths in ``fastpath.SegmentFastPath`` with the same ``answer``)."""

    async def handler(request: Request) -> Response:
        status, body, headers = await answer(
            container(request), endpoint, request.scope, request.receive
        )
        return Response(body, status_code=status, media_type=_JSON if body else None,
                        headers=headers)  # fmt: skip

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


@router.post("/api/v1/dead-letters/replay-pending", tags=["dead letters"])
async def replay_pending_dead_letters(
    request: Request,
    limit: int = Query(500, ge=1, le=5_000, description="letters replayed at most, oldest first"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Replay the pending letters as they are (after a fix on the server's side); those
    still refused stay pending and are listed with their first reason."""
    require_role(p, "marketer")
    return await _dead_letters(request).replay_pending(workspace_id=p.workspace_id, limit=limit)


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
