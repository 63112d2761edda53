"""Web push HTTP: subscribe a browser, hand out the VAPID public key, serve ``/sw.js``.

``/v1/push/*`` is authenticated like ``/v1/track``: the workspace's write key as the HTTP
Basic username, or ``writeKey`` in the body or the query. A subscription's endpoint must be
https on a known push service (:data:`PUSH_SERVICE_HOSTS`), so the server never posts to an
address a caller chose.

Sites call these from their own origin, so they answer CORS: an ``Origin`` listed in the
workspace's web push ``allowed_origins`` (channel settings) gets
``Access-Control-Allow-Origin``; any other origin gets none, and the browser keeps the answer
from the page. A preflight (``OPTIONS``) carries no credentials, so it names the workspace by
``?writeKey=`` in the URL.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from retenta.errors import ApiError
from retenta.ingest.router import read_body
from retenta.messaging import push_subscriptions as store
from retenta.messaging.channels.webpush import (
    PUSH_SERVICE_HOSTS,
    SERVICE_WORKER_JS,
    EndpointNotAllowedError,
    Subscription,
)
from retenta.messaging.channels.webpush_config import DEFAULT_NAME
from retenta.messaging.channels.webpush_config import Config as WebPushConfig
from retenta.messaging.services import services
from retenta.tenancy.deps import basic_username, container, write_principal_from

router = APIRouter(tags=["web push"])
MAX_BODY = 16 * 1024
MAX_ID = 512


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", message, field=field)


def _string(doc: dict[str, Any], name: str, field: str, *, limit: int = 4096) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, f"{field} must be a non-empty string")
    if len(value) > limit:
        raise _invalid(field, f"{field} is longer than {limit} characters")
    return value.strip()


def _optional_id(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise _invalid(name, f"{name} must be a non-empty string of at most {MAX_ID} characters")
    return value.strip()


def parse_subscription(doc: dict[str, Any]) -> Subscription:
    raw = doc.get("subscription")
    if not isinstance(raw, dict):
        raise _invalid("subscription", "subscription must be an object (subscription.toJSON())")
    endpoint = _string(raw, "endpoint", "subscription.endpoint")
    keys = raw.get("keys")
    if not isinstance(keys, dict):
        raise _invalid("subscription.keys", "subscription.keys must be an object")
    p256dh = _string(keys, "p256dh", "subscription.keys.p256dh", limit=200)
    auth = _string(keys, "auth", "subscription.keys.auth", limit=100)
    data = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    try:
        return Subscription.from_json(data, allowed_hosts=PUSH_SERVICE_HOSTS)
    except EndpointNotAllowedError as exc:
        raise ApiError(
            400, "endpoint_not_allowed", str(exc), field="subscription.endpoint"
        ) from exc
    except ValueError as exc:
        field = "subscription.keys.auth" if "auth" in str(exc) else "subscription.keys.p256dh"
        raise _invalid(field, f"{field} is not valid: {exc}") from exc


@router.post("/v1/push/subscriptions")
async def subscribe(request: Request) -> Response:
    """Store a browser's push subscription (201 new, 200 already known)."""
    c = container(request)
    # A Basic header is checked before the body is read; otherwise the body's writeKey.
    header_principal = None
    if basic_username(request.headers.get("authorization")) is not None:
        header_principal = write_principal_from(request, None)
    raw = await read_body(request, MAX_BODY, "subscription")
    error: ApiError | None = None
    try:
        doc = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        doc = None
        error = ApiError(400, "invalid_json", f"the body is not JSON: {exc}")
    body_key = doc.get("writeKey") if isinstance(doc, dict) else None
    if not isinstance(body_key, str):
        body_key = request.query_params.get("writeKey")
    principal = header_principal or write_principal_from(request, body_key)
    if error is not None:
        raise error
    if not isinstance(doc, dict):
        raise _invalid("body", "the body must be a JSON object")
    subscription = parse_subscription(doc)
    anonymous_id = _optional_id(doc, "anonymousId")
    user_id = _optional_id(doc, "userId")
    ws = principal.workspace_id
    contact_id = None
    if user_id is not None:
        contact_id = c.identity.lookup(workspace_id=ws, id_type="external_id", value=user_id)
    if contact_id is None and anonymous_id is not None:
        contact_id = c.identity.lookup(workspace_id=ws, id_type="anonymous_id", value=anonymous_id)
    created = store.upsert(
        c.db,
        ws,
        subscription,
        contact_id=contact_id,
        anonymous_id=anonymous_id,
        user_id=user_id,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
    )
    return JSONResponse(
        {"success": True, "created": created, "contactId": contact_id},
        status_code=201 if created else 200,
        headers=cors_headers(request, ws),
    )


@router.options("/v1/push/subscriptions", include_in_schema=False)
@router.options("/v1/push/vapid-public-key", include_in_schema=False)
def preflight(request: Request) -> Response:
    """CORS preflight: allowed when the Origin is listed for the ``?writeKey=`` workspace."""
    key = request.query_params.get("writeKey")
    principal = container(request).tenancy.authenticate_key(key, kind="write") if key else None
    headers = cors_headers(request, principal.workspace_id) if principal else {}
    if headers:
        headers |= {
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": "600",
        }
    return Response(status_code=204, headers=headers or {"Vary": "Origin"})


def cors_headers(request: Request, workspace_id: str) -> dict[str, str]:
    """``Access-Control-Allow-Origin`` for an Origin the workspace allows, else nothing."""
    origin = request.headers.get("origin")
    if not origin:
        return {}
    config = services(request).channel_settings.get(workspace_id, "webpush", DEFAULT_NAME)
    allowed = config.allowed_origins if isinstance(config, WebPushConfig) else []
    if origin.rstrip("/").lower() not in allowed:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@router.get("/v1/push/vapid-public-key")
def vapid_public_key(request: Request) -> Response:
    """The workspace's application server key for ``pushManager.subscribe``."""
    principal = write_principal_from(request, request.query_params.get("writeKey"))
    key = store.vapid_key(services(request).channel_settings, principal.workspace_id)
    return JSONResponse(
        {"applicationServerKey": key.application_server_key},
        headers=cors_headers(request, principal.workspace_id),
    )


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The service worker that shows the notifications (the site serves it from its root)."""
    return Response(
        SERVICE_WORKER_JS,
        media_type="application/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )
