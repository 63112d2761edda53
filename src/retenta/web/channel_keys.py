"""What a channel config lets others see: the DKIM TXT record to publish and the web push
``applicationServerKey`` (the workspace's web push key is made on first use, as the public
key endpoint for sites does). Both come from private keys the channels API never returns, so
the settings page asks here (``GET /api/v1/ui/channels/{kind}/{name}/public``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from retenta.errors import ApiError
from retenta.messaging.channels.webpush_config import DEFAULT_NAME as WEBPUSH_NAME
from retenta.messaging.channels.webpush_config import Config as WebPushConfig
from retenta.messaging.email.dkim import DkimError, dns_record
from retenta.messaging.email.profiles import SendingProfile
from retenta.messaging.push_subscriptions import vapid_key
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal
from retenta.tenancy.service import Principal

router = APIRouter(tags=["ui"])


def public_parts(config: BaseModel) -> dict[str, Any]:
    """The public halves of a config's keys (``None`` where it has none)."""
    dkim: dict[str, str | None] | None = None
    if isinstance(config, SendingProfile) and config.dkim is not None:
        host = f"{config.dkim.selector}._domainkey.{config.dkim.domain}"
        try:
            dkim = {"host": host, "type": "TXT", "value": dns_record(config.dkim.key())}
        except DkimError as exc:
            dkim = {"host": host, "type": "TXT", "value": None, "error": str(exc)}
    vapid = None
    if isinstance(config, WebPushConfig) and config.vapid_private_key_pem is not None:
        vapid = config.key().application_server_key
    return {"dkim": dkim, "vapid_public_key": vapid}


@router.get("/api/v1/ui/channels/{kind}/{name}/public")
def channel_public_parts(
    kind: str, name: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    settings = services(request).channel_settings
    if (kind, name) == ("webpush", WEBPUSH_NAME):
        # The key sites subscribe with is made on first use, as /v1/push/vapid-public-key does.
        vapid_key(settings, p.workspace_id)
    config = settings.get(p.workspace_id, kind, name)
    if config is None:
        raise ApiError(404, "not_found", f"no {kind} channel named {name!r}", field="name")
    return {"type": kind, "name": name, **public_parts(config)}
