"""Provider callbacks: Twilio and Infobip SMS status, Vonage Viber status → message events.

``POST /hooks/sms/twilio/{workspace}/{channel}/{send_id}`` — Twilio's StatusCallback (the
channel puts this URL on every message when ``status_callback_base`` is
``https://<host>/hooks/sms/twilio/<workspace>/<channel>``). ``POST
/hooks/sms/infobip/{workspace}/{channel}/{send_id}/{token}`` — Infobip's ``notifyUrl`` (the
token is the send's HMAC under the channel's ``webhook_secret``: Infobip does not sign). ``POST
/hooks/viber/vonage/{workspace}/{channel}/{send_id}`` — Vonage's per-message
``webhook_url``. None takes credentials: the provider's signature (``X-Twilio-Signature``
with the channel's auth token; a Vonage HS256 JWT with its signature secret) or the
per-send token is the authority, checked against what the channel configured (not the URL
a proxy passed on). A bad signature is 403; an unknown workspace or channel is 404.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from retenta.errors import ApiError
from retenta.messaging.channels import sms, viber
from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.sms import infobip
from retenta.messaging.channels.sms.common import SmsMessage
from retenta.messaging.channels.sms.fallback import FallbackStore, SmsSender, fall_back
from retenta.messaging.channels.sms.infobip import InfobipConfig
from retenta.messaging.channels.sms.reports import record_reports
from retenta.messaging.channels.sms.twilio import (
    TwilioConfig,
    opt_out_of,
    report_of,
    signature_valid,
)
from retenta.messaging.services import services
from retenta.messaging.suppression import Entry, reasons_for
from retenta.storage.base import Database
from retenta.tenancy.deps import container

router = APIRouter(prefix="/hooks", include_in_schema=False)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such channel")


def _forbidden() -> ApiError:
    return ApiError(403, "forbidden", "the signature does not match")


def _twilio_config(request: Request, workspace_id: str, name: str) -> TwilioConfig:
    config = services(request).channel_settings.get(workspace_id, "sms", name)
    if config is None:
        raise _not_found()
    cfg = sms.provider_config(config)  # type: ignore[arg-type]
    if not isinstance(cfg, TwilioConfig) or cfg.status_callback_base is None:
        raise _not_found()
    return cfg


@router.post("/sms/twilio/{workspace_id}/{name}/{send_id}")
async def twilio_status(workspace_id: str, name: str, send_id: str, request: Request) -> Response:
    """Twilio's status callback: ``delivered`` / ``undelivered`` / ``failed`` become events."""
    cfg = _twilio_config(request, workspace_id, name)
    form = await request.form()
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    url = f"{cfg.status_callback_base}/{send_id}"
    if request.url.query:
        url += f"?{request.url.query}"
    token = cfg.auth_token.get_secret_value()
    if not signature_valid(token, url, params, request.headers.get("X-Twilio-Signature", "")):
        raise _forbidden()
    report = report_of(send_id, dict(params))
    if report is not None:
        await record_reports(container(request).db, workspace_id, [report])
    return Response(status_code=204)


@router.post("/sms/twilio-inbound/{workspace_id}/{name}")
async def twilio_inbound(workspace_id: str, name: str, request: Request) -> Response:
    """An incoming SMS: STOP (and Twilio's other opt-out words) suppresses the number; START
    lifts a suppression that a STOP made. Answers empty TwiML (Twilio replies by itself)."""
    config = services(request).channel_settings.get(workspace_id, "sms", name)
    cfg = None if config is None else sms.provider_config(config)  # type: ignore[arg-type]
    if not isinstance(cfg, TwilioConfig) or cfg.inbound_url is None:
        raise _not_found()
    form = await request.form()
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    token = cfg.auth_token.get_secret_value()
    if not signature_valid(token, cfg.inbound_url, params,
                           request.headers.get("X-Twilio-Signature", "")):  # fmt: skip
        raise _forbidden()
    fields = dict(params)
    action = opt_out_of(fields)
    if action is not None and fields.get("From"):
        await _apply_opt_out(request, workspace_id, fields["From"], action)
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', media_type="text/xml")


async def _apply_opt_out(request: Request, workspace_id: str, phone: str, action: str) -> None:
    store = services(request).suppressions
    if action == "stop":
        await store.add(workspace_id, [Entry("phone", phone, "unsubscribed", "sms_stop")])
        return
    with container(request).db.read() as cur:
        reason = reasons_for(cur, workspace_id, "phone", [phone]).get(phone)
    if reason == "unsubscribed":  # START never lifts a hard bounce or a manual entry
        await store.remove(workspace_id, phone)


def _infobip_config(request: Request, workspace_id: str, name: str) -> InfobipConfig:
    config = services(request).channel_settings.get(workspace_id, "sms", name)
    if config is None:
        raise _not_found()
    cfg = sms.provider_config(config)  # type: ignore[arg-type]
    if not isinstance(cfg, InfobipConfig) or cfg.webhook_secret is None:
        raise _not_found()
    return cfg


@router.post("/sms/infobip/{workspace_id}/{name}/{send_id}/{token}")
async def infobip_report(
    workspace_id: str, name: str, send_id: str, token: str, request: Request
) -> Response:
    """Infobip's delivery report for one send; the per-send token in the URL authenticates it."""
    cfg = _infobip_config(request, workspace_id, name)
    secret = cfg.webhook_secret.get_secret_value() if cfg.webhook_secret else ""
    if not infobip.token_valid(secret, send_id, token):
        raise _forbidden()
    try:
        payload: Any = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_request", "the body is not JSON") from exc
    reports = infobip.reports_of(send_id, payload)
    if reports:
        await record_reports(container(request).db, workspace_id, reports)
    return Response(status_code=204)


def _viber_config(request: Request, workspace_id: str, name: str) -> viber.Config:
    config = services(request).channel_settings.get(workspace_id, "viber", name)
    if not isinstance(config, viber.Config) or config.signature_secret is None:
        raise _not_found()
    return config


@router.post("/viber/vonage/{workspace_id}/{name}/{send_id}")
async def vonage_status(workspace_id: str, name: str, send_id: str, request: Request) -> Response:
    """Vonage's Viber status: delivered/read close the fallback; rejected/undeliverable use it."""
    cfg = _viber_config(request, workspace_id, name)
    body = await request.body()
    secret = cfg.signature_secret.get_secret_value() if cfg.signature_secret else ""
    if not viber.signature_valid(secret, request.headers.get("Authorization", ""), body):
        raise _forbidden()
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_request", "the body is not JSON") from exc
    reports = viber.reports_of(send_id, payload if isinstance(payload, dict) else {})
    if not reports:
        return Response(status_code=204)
    db = container(request).db
    await record_reports(db, workspace_id, reports)
    store = FallbackStore(db, workspace_id)
    if reports[0].status == "delivered":
        await store.delivered(send_id)
    else:
        await fall_back(store, [send_id], reports[0].reason or "viber failed",
                        sms_sender(request, workspace_id))  # fmt: skip
    return Response(status_code=204)


def sms_sender(request: Request, workspace_id: str) -> SmsSender:
    """Sends one SMS through the workspace's SMS channel of a given name."""
    return settings_sms_sender(services(request).channel_settings, workspace_id)


def settings_sms_sender(settings: Any, workspace_id: str) -> SmsSender:
    """An :data:`SmsSender` over a ``ChannelSettingsStore`` (also for the TTL sweep)."""

    async def send(channel_name: str, message: SmsMessage) -> SendResult:
        config = settings.get(workspace_id, "sms", channel_name)
        if config is None:
            raise LookupError(f"no SMS channel named {channel_name!r}")
        channel = sms.build(config)
        try:
            [result] = await channel.send([message])
        finally:
            await channel.close()
        return result

    return send


async def sweep_workspace(db: Database, settings: Any, workspace_id: str) -> int:
    """Fall back the workspace's Viber messages whose TTL passed; returns SMS sent."""
    from retenta.messaging.channels.sms.fallback import sweep

    return await sweep(FallbackStore(db, workspace_id), settings_sms_sender(settings, workspace_id))


def routes() -> APIRouter:
    """Everything the SMS package serves: the provider callbacks and the estimate API."""
    from retenta.messaging.channels.sms import api

    combined = APIRouter()
    combined.include_router(router)
    combined.include_router(api.router)
    return combined
