"""The services behind the HTTP API: the transactional send and the channel settings.

``accept_send`` validates synchronously — every 400 names the field — and adds one send to
the ledger; delivery is the dispatcher's. Idempotency follows Stripe: the key is optional;
a request that fails validation stores nothing (fix it and retry with the same key); the
same key with the same body answers the first answer and sends nothing; the same key with
another body is a 409.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from retenta.errors import ApiError
from retenta.identity.service import IdentityService
from retenta.messaging.channels.registry import channel_types
from retenta.messaging.outbox.content import ContentSource
from retenta.messaging.outbox.ledger import IdempotencyConflictError, NewSend, SendLedger
from retenta.messaging.outbox.model import (
    SEND_CHANNELS,
    RequestError,
    check_key,
    parse_request,
    request_hash,
)
from retenta.messaging.settings_store import (
    ChannelSettingsStore,
    keep_unchanged_secrets,
    masked,
    secret_paths,
)
from retenta.storage.base import Database

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def bad_request(exc: RequestError) -> ApiError:
    return ApiError(400, "invalid_request", str(exc), field=exc.field)


def accept_send(
    *,
    db: Database,
    identity: IdentityService,
    ledger: SendLedger,
    content: ContentSource,
    settings: ChannelSettingsStore,
    workspace_id: str,
    body: Any,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """``(answer, replayed)`` for ``POST /messages/send``."""
    try:
        key = check_key(idempotency_key)
        spec = parse_request(body)
    except RequestError as exc:
        raise bad_request(exc) from None
    contact_id = _contact(db, identity, workspace_id, spec.identifier)
    category, topic = _message(content, workspace_id, spec.message_id, spec.cascade)
    _configured(settings, workspace_id, spec.cascade)
    new = NewSend(
        workspace_id=workspace_id,
        contact_id=contact_id,
        message_id=spec.message_id,
        cascade=spec.cascade,
        category=category,
        topic=topic,
        language=spec.language,
        data=spec.data,
    )
    try:
        return ledger.create(new, idempotency_key=key, request_hash=request_hash(body))
    except IdempotencyConflictError:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used with another request body",
            field="Idempotency-Key",
        ) from None


def _contact(
    db: Database, identity: IdentityService, workspace_id: str, identifier: tuple[str, Any]
) -> int:
    kind, value = identifier
    field = f"contact.{kind}"
    if kind == "contact_id":
        with db.read() as cur:
            row = cur.execute(
                "SELECT 1 FROM contacts WHERE workspace_id = ? AND id = ? AND erased_at IS NULL",
                [workspace_id, value],
            ).fetchone()
        if row is None:
            raise ApiError(
                400, "unknown_contact", f"no contact {value} in this workspace", field=field
            )
        return int(value)
    found = identity.lookup(workspace_id=workspace_id, id_type=kind, value=str(value))
    if found is None:
        raise ApiError(400, "unknown_contact", f"no contact with this {kind}", field=field)
    return int(found)


def _message(
    content: ContentSource, workspace_id: str, message_id: str, cascade: tuple[str, ...]
) -> tuple[str, str | None]:
    """The message's category and topic; 400 when it is unknown or has none of the channels."""
    problems = []
    for channel in cascade:
        try:
            resolved = content.resolve(workspace_id, message_id, channel)
        except Exception as exc:  # unknown message, or no content for this channel
            problems.append(str(exc))
            continue
        return resolved.category, resolved.topic
    reason = "; ".join(dict.fromkeys(problems)) or f"unknown message {message_id!r}"
    raise ApiError(400, "unknown_message", reason, field="message_id")


def _configured(
    settings: ChannelSettingsStore, workspace_id: str, cascade: tuple[str, ...]
) -> None:
    """Every channel of the request must have a config in this workspace (in-app needs none)."""
    for index, channel in enumerate(cascade):
        kinds = SEND_CHANNELS[channel]
        if kinds and not any(settings.names(workspace_id, kind) for kind in kinds):
            field = "channel" if len(cascade) == 1 else f"cascade[{index}]"
            raise ApiError(
                400,
                "channel_not_configured",
                f"the {channel} channel is not configured in this workspace",
                field=field,
            )


# --- channel settings ---------------------------------------------------------------------


def list_channels(settings: ChannelSettingsStore, workspace_id: str) -> dict[str, Any]:
    types = channel_types()
    return {
        "types": sorted(types),
        "channels": [
            {
                "type": item.channel,
                "name": item.name,
                "config": masked(item.config),
                "secrets_set": secret_paths(item.config),
                "updated_at": item.updated_at,
            }
            for item in settings.all(workspace_id)
        ],
    }


def put_channel(
    settings: ChannelSettingsStore, workspace_id: str, kind: str, name: str, body: Any
) -> dict[str, Any]:
    """Validate with the type's Config and store; masked or omitted secrets keep their value."""
    config_type = _type(kind).config
    _check_name(name)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object", field="body")
    previous = settings.get(workspace_id, kind, name)
    doc = keep_unchanged_secrets(body, previous)
    if "name" in config_type.model_fields:
        doc["name"] = name
    try:
        config = config_type.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {first['msg']}", field=where) from None
    created = settings.put(workspace_id, kind, name, config)
    return {
        "type": kind,
        "name": name,
        "created": created,
        "config": masked(config),
        "secrets_set": secret_paths(config),
    }


async def check_channel(
    settings: ChannelSettingsStore, workspace_id: str, kind: str, name: str
) -> dict[str, Any]:
    channel_type = _type(kind)
    config = settings.get(workspace_id, kind, name)
    if config is None:
        raise ApiError(404, "not_found", f"no {kind} channel named {name!r}", field="name")
    result = await channel_type.check(config)
    return {"ok": bool(result.ok), "message": str(result.message)}


def _type(kind: str) -> Any:
    types = channel_types()
    if kind not in types:
        raise ApiError(
            404, "not_found", f"unknown channel type {kind!r}; one of {sorted(types)}", field="type"
        )
    return types[kind]


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise ApiError(400, "invalid_request", "name must be 1-64 of a-z 0-9 _ -", field="name")
