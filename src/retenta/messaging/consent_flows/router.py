"""Consent flows over HTTP: the double opt-in API, the hosted confirm and preference pages.

Public routes (``/c/{token}``, ``/p/{token}``) take no credentials: the signed token is the
authority, anything but a genuine token is a 404, and only a POST changes anything.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, model_validator

from retenta.contacts.schemas import ContactUpsert, IdentifiersIn
from retenta.errors import ApiError
from retenta.messaging.consent_flows.doi import DoubleOptIn
from retenta.messaging.consent_flows.doi import read_token as read_optin
from retenta.messaging.consent_flows.pages import confirm_page, preferences_page
from retenta.messaging.consent_flows.preferences import (
    PreferenceCentre,
    PreferenceLink,
    Topic,
    from_form,
    make_token,
    read_token,
)
from retenta.messaging.outbox.ledger import NewSend
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex"}

api = APIRouter(prefix="/api/v1/consent", tags=["consent"])
links = APIRouter(prefix="/api/v1/contacts", tags=["consent"])
public = APIRouter(include_in_schema=False)


class ContactRef(BaseModel):
    model_config = {"extra": "forbid"}
    contact_id: int | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ContactRef:
        if sum(v is not None for v in self.model_dump().values()) != 1:
            raise ValueError("give exactly one of contact_id, email, phone, external_id")
        return self


class OptInIn(BaseModel):
    model_config = {"extra": "forbid"}
    contact: ContactRef
    channel: str = "email"
    topics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=50)
    source: str = Field(default="api", min_length=1, max_length=80)
    message_id: str | None = Field(default=None, description="the confirmation message to send")
    create: bool = Field(default=True, description="create the contact when none has the email")


class TopicIn(BaseModel):
    model_config = {"extra": "forbid"}
    topic: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)


def _doi(request: Request) -> DoubleOptIn:
    return DoubleOptIn(container(request).db, services(request).keyring)


def _centre(request: Request) -> PreferenceCentre:
    return PreferenceCentre(container(request).db, services(request).keyring)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@api.post("/double-opt-in", status_code=202)
async def double_opt_in(
    body: OptInIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Mark the subscription pending and (with ``message_id``) send the confirmation."""
    require_role(p, "marketer")
    contact_id = await _contact(request, p.workspace_id, body)
    token = await _doi(request).request(
        p.workspace_id, contact_id, channel=body.channel, topics=body.topics, source=body.source
    )
    url = f"{_base(request)}/c/{token}"
    send_id = _send_confirmation(request, p.workspace_id, contact_id, body, url)
    return {"contact_id": contact_id, "status": "pending", "confirm_url": url, "send_id": send_id}


async def _contact(request: Request, workspace_id: str, body: OptInIn) -> int:
    ref, contacts = body.contact, container(request).contacts
    if ref.contact_id is not None:
        return ref.contact_id
    id_type, value = next((k, v) for k, v in ref.model_dump().items() if v is not None)
    try:
        return int(contacts.lookup(workspace_id=workspace_id, id_type=id_type, value=value)["id"])
    except ApiError as exc:
        if exc.status != 404 or not body.create or id_type != "email":
            raise
    upsert = ContactUpsert(identifiers=IdentifiersIn(email=value))
    profile, _ = await contacts.upsert(workspace_id=workspace_id, body=upsert)
    return int(profile["id"])


def _send_confirmation(
    request: Request, workspace_id: str, contact_id: int, body: OptInIn, url: str
) -> str | None:
    if body.message_id is None:
        return None
    send = NewSend(
        workspace_id=workspace_id, contact_id=contact_id, message_id=body.message_id,
        cascade=(body.channel,), category="transactional",
        data={"confirm_url": url, "links": {"confirm": url}},
    )  # fmt: skip
    return services(request).ledger.enqueue([send])[0]


@api.get("/topics")
def list_topics(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    items = _centre(request).topics(p.workspace_id)
    return {"items": [{"topic": t.topic, "name": t.name, "description": t.description}
                      for t in items]}  # fmt: skip


@api.put("/topics")
async def put_topics(
    body: list[TopicIn], request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    if len({t.topic for t in body}) != len(body):
        raise ApiError(422, "validation_error", "topics must be unique", field="topic")
    await _centre(request).set_topics(
        p.workspace_id, [Topic(t.topic, t.name, t.description) for t in body]
    )
    return list_topics(request, p)


@links.get("/{contact_id}/preference-link")
def preference_link(
    contact_id: int, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, str]:
    token = make_token(services(request).keyring, PreferenceLink(p.workspace_id, contact_id))
    return {"url": f"{_base(request)}/p/{token}"}


def _gone() -> ApiError:
    return ApiError(404, "not_found", "unknown or tampered link")


@public.get("/c/{token}")
def confirm_form(token: str, request: Request) -> HTMLResponse:
    if read_optin(services(request).keyring, token) is None:
        raise _gone()
    return HTMLResponse(confirm_page(f"/c/{token}"), headers=NO_STORE)


@public.post("/c/{token}")
async def confirm(token: str, request: Request) -> HTMLResponse:
    client = request.client.host if request.client else None
    done = await _doi(request).confirm(
        token, ip=client, user_agent=request.headers.get("user-agent")
    )
    if done is None:
        raise _gone()
    return HTMLResponse(confirm_page(f"/c/{token}", done.status), headers=NO_STORE)


@public.get("/p/{token}")
def preferences(token: str, request: Request) -> HTMLResponse:
    return _preferences(token, request, saved=False)


@public.post("/p/{token}")
async def save_preferences(token: str, request: Request) -> HTMLResponse:
    centre = _centre(request)
    link = read_token(centre.keyring, token)
    if link is None:
        raise _gone()
    form = parse_qs((await request.body()).decode("utf-8", "replace")[:20_000])
    await centre.save(link, from_form(form, centre.topics(link.workspace_id)))
    return _preferences(token, request, saved=True)


def _preferences(token: str, request: Request, *, saved: bool) -> HTMLResponse:
    centre = _centre(request)
    link = read_token(centre.keyring, token)
    current = centre.current(link) if link is not None else None
    if link is None or current is None:
        raise _gone()
    page = preferences_page(f"/p/{token}", current, centre.topics(link.workspace_id), saved=saved)
    return HTMLResponse(page, headers=NO_STORE)


router = APIRouter()
router.include_router(api)
router.include_router(links)
router.include_router(public)
