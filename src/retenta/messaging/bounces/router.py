"""Feedback HTTP: the providers' webhook endpoints and the settings behind them.

``POST /hooks/email/{provider}/{token}`` takes no credentials: the signed token in the URL
names the workspace, and the provider's own signature (SNS certificate, SendGrid ECDSA,
Mailgun HMAC) proves the request. ``/api/v1/feedback/endpoints`` is where a workspace
reads the URL to paste into its provider and stores what verification needs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from retenta.errors import ApiError
from retenta.messaging.bounces.endpoints import PROVIDERS, EndpointIn, Provider
from retenta.messaging.bounces.providers import WebhookRejectedError
from retenta.messaging.bounces.service import feedback_services
from retenta.tenancy.deps import api_principal, require_role
from retenta.tenancy.service import Principal

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024

hooks = APIRouter(tags=["feedback"])
settings = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])


@hooks.post("/hooks/email/{provider}/{token}", include_in_schema=False)
async def webhook(provider: str, token: str, request: Request) -> dict[str, Any]:
    svc = feedback_services(request)
    named = svc.read_webhook_token(token)
    if named is None or named[1] != provider or provider not in PROVIDERS:
        raise ApiError(404, "not_found", "unknown or tampered webhook URL")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, "payload_too_large", "webhook bodies are limited to 5 MB")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        applied = await svc.receive(named[0], provider, body, headers)
    except WebhookRejectedError as exc:
        raise ApiError(exc.status, "webhook_rejected", exc.reason) from exc
    return {"applied": applied.applied, "duplicates": applied.duplicates,
            "unmatched": applied.unmatched}  # fmt: skip


@settings.get("/endpoints")
def endpoints(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Per provider: the webhook URL to give it, and what is configured (secrets masked)."""
    svc = feedback_services(request)
    configured = svc.endpoints.shown(p.workspace_id)
    base = str(request.base_url).rstrip("/")
    items = [
        {
            "provider": provider,
            "url": f"{base}/hooks/email/{provider}/{svc.webhook_token(p.workspace_id, provider)}",
            "configured": provider in configured,
            "settings": configured.get(provider),
        }
        for provider in PROVIDERS
    ]
    return {"items": items}


@settings.put("/endpoints/{provider}")
async def put_endpoint(
    provider: Provider, body: EndpointIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "admin")
    needs = {"ses": bool(body.topic_arns), "sendgrid": bool(body.verification_key),
             "mailgun": body.signing_key is not None}  # fmt: skip
    if not needs[provider]:
        field = {"ses": "topic_arns", "sendgrid": "verification_key", "mailgun": "signing_key"}
        raise ApiError(422, "validation_error", f"{provider} needs {field[provider]}",
                       field=field[provider])  # fmt: skip
    svc = feedback_services(request)
    await svc.endpoints.put(p.workspace_id, provider, body)
    return {"provider": provider, "settings": svc.endpoints.shown(p.workspace_id)[provider]}


router = APIRouter()
router.include_router(hooks)
router.include_router(settings)
