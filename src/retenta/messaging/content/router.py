"""Content HTTP: ``/api/v1/blocks``, ``/api/v1/messages`` (CRUD, preview, test send) and
``/api/v1/templates/validate``. Reads need any role; changes need ``marketer``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from retenta.errors import ApiError
from retenta.messaging.content import preview as previews
from retenta.messaging.content.checks import source_errors
from retenta.messaging.content.schemas import (
    BlockIn,
    BlockKind,
    Category,
    MessageIn,
    MessagePreviewIn,
    TestSendIn,
    ValidateIn,
)
from retenta.messaging.content.service import ContentService, for_database
from retenta.messaging.content.testsend import EmailChannels, SettingsEmailChannels, test_send
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

blocks = APIRouter(prefix="/api/v1/blocks", tags=["content"])
messages = APIRouter(prefix="/api/v1/messages", tags=["content"])
templates = APIRouter(prefix="/api/v1/templates", tags=["content"])


def content(request: Request) -> ContentService:
    return for_database(container(request).db)


def marketer(p: Principal = Depends(api_principal)) -> Principal:
    require_role(p, "marketer")
    return p


@blocks.get("")
def list_blocks(
    request: Request, kind: BlockKind | None = None, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"items": content(request).blocks(p.workspace_id, kind=kind)}


@blocks.post("", status_code=201)
async def create_block(
    body: BlockIn, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    return await content(request).create_block(p.workspace_id, body)


@blocks.get("/{block_id}")
def get_block(
    block_id: str,
    request: Request,
    version: int | None = Query(default=None, ge=1),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    return content(request).block(p.workspace_id, block_id, version)


@blocks.put("/{block_id}")
async def update_block(
    block_id: str, body: BlockIn, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    """A new version of the block; every message using it renders the new one."""
    return await content(request).update_block(p.workspace_id, block_id, body)


@blocks.delete("/{block_id}")
async def delete_block(
    block_id: str, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    """409 ``block_in_use`` (with the users in ``details``) while anything uses it."""
    await content(request).delete_block(p.workspace_id, block_id)
    return {"deleted": True}


@blocks.get("/{block_id}/versions")
def block_versions(
    block_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"items": content(request).block_versions(p.workspace_id, block_id)}


@blocks.get("/{block_id}/used-by")
def used_by(
    block_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"items": content(request).used_by(p.workspace_id, block_id)}


@messages.get("")
def list_messages(
    request: Request,
    category: Category | None = None,
    tag: str | None = Query(default=None, max_length=50),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    return {"items": content(request).messages(p.workspace_id, category=category, tag=tag)}


@messages.post("", status_code=201)
async def create_message(
    body: MessageIn, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    return await content(request).save_message(p.workspace_id, body)


@messages.get("/{message_id}")
def get_message(
    message_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return content(request).message(p.workspace_id, message_id)


@messages.get("/{message_id}/revisions")
def message_revisions(
    message_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"items": content(request).revisions(p.workspace_id, message_id)}


@messages.put("/{message_id}")
async def update_message(
    message_id: str, body: MessageIn, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    return await content(request).save_message(p.workspace_id, body, message_id)


@messages.delete("/{message_id}")
async def delete_message(
    message_id: str, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    await content(request).delete_message(p.workspace_id, message_id)
    return {"deleted": True}


@messages.post("/{message_id}/preview")
def preview_message(
    message_id: str, body: MessagePreviewIn, request: Request,
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    """The message as one contact (by id or email) gets it; template errors in ``errors``."""
    service = content(request)
    resolved = service.resolve(p.workspace_id, message_id, body.channel)
    products = service.store.sample_products(p.workspace_id)
    return previews.preview(
        resolved, container(request).contacts, p.workspace_id, body, products=products
    )


@messages.post("/{message_id}/test-send")
async def send_test(
    message_id: str, body: TestSendIn, request: Request, p: Principal = Depends(marketer)
) -> dict[str, Any]:
    """Send the email to a few addresses through the workspace's email channel, as a test."""
    from retenta.messaging.channels.smtp import SmtpChannel
    from retenta.messaging.services import services

    profile = email_channels(request).email_profile(p.workspace_id)
    if profile is None:
        raise ApiError(
            409, "no_email_channel",
            "the workspace has no email channel: configure one with"
            " PUT /api/v1/channels/email/{name}",
        )  # fmt: skip
    resolved = content(request).resolve(p.workspace_id, message_id, "email")
    return await test_send(
        resolved=resolved, body=body, profile=profile,
        signer=services(request).keyring.workspace(p.workspace_id),
        contacts=container(request).contacts, workspace_id=p.workspace_id,
        build_channel=SmtpChannel.for_profile,
    )  # fmt: skip


def email_channels(request: Request) -> EmailChannels:
    """Tests put an explicit SMTP target on ``app.state``; otherwise SENDS' settings store."""
    override = getattr(request.app.state, "content_email_channels", None)
    if override is not None:
        return override  # type: ignore[no-any-return]
    return SettingsEmailChannels(settings_store(request))


def settings_store(request: Request) -> Any:
    from retenta.messaging.services import services

    svc = services(request)
    for name in ("channel_settings", "channels", "settings"):
        store = getattr(svc, name, None)
        if store is not None and hasattr(store, "names") and hasattr(store, "get"):
            return store
    raise ApiError(409, "no_email_channel", "channel settings are not available in this build")


@templates.post("/validate")
def validate(body: ValidateIn, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Errors of one source with their own line numbers (the code view)."""
    errors = source_errors(body.source, path=body.kind, kind=body.kind)
    return {"valid": not errors, "errors": errors}


router = APIRouter()
router.include_router(blocks)
router.include_router(messages)
router.include_router(templates)
