"""``/api/v1/contacts``: list/search, lookup, profile, timeline, upsert, consent, erase, export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic_core import to_json

from retenta.contacts.schemas import ConsentIn, ContactUpsert
from retenta.contacts.service import ContactService
from retenta.contacts.traits import LOOKUP_TYPES
from retenta.errors import ApiError
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])
# The point reads' limits, shared with their fast path (``web/point_reads.py``).
MAX_CONTACT_ID = 2**62
LOOKUP_MAX_LENGTH = {"email": 512, "phone": 64, "external_id": 512, "anonymous_id": 512}
TIMELINE_LIMIT_DEFAULT, TIMELINE_LIMIT_MAX = 50, 100
CURSOR_MAX_LENGTH = 700
READ_ROLE = "analyst"
ContactId = Path(ge=1, le=MAX_CONTACT_ID, description="Contact id")
LIST_PARAMS = frozenset({"q", "limit", "cursor"})
PAGE_PARAMS = frozenset({"limit", "cursor"})


def service(request: Request) -> ContactService:
    return container(request).contacts


def only_params(request: Request, allowed: frozenset[str]) -> None:
    """422 naming the first query parameter this route does not know."""
    for name in request.query_params:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            msg = f"{name}: unknown query parameter (this route takes: {known})"
            raise ApiError(422, "validation_error", msg, field=name)


def json_response(data: dict[str, Any]) -> Response:
    """``data`` as the JSON FastAPI would send for a ``dict[str, Any]`` answer, byte for byte
    (pydantic's serializer), made in the route's worker thread: returned as a response,
    FastAPI skips validating and serializing it in a second threadpool hop (~0.3 ms of a
    point read's CPU)."""
    return Response(content=to_json(data), media_type="application/json")


def lookup_key(request: Request) -> tuple[str, str]:
    """The one ``type=value`` pair of a lookup request."""
    only_params(request, frozenset(LOOKUP_TYPES))
    given = [(k, v) for k, v in request.query_params.items() if k in LOOKUP_TYPES]
    if len(given) != 1:
        msg = f"give exactly one of {', '.join(LOOKUP_TYPES)}"
        raise ApiError(422, "validation_error", msg, field=given[1][0] if given else None)
    return given[0]


@router.get("")
def list_contacts(
    request: Request,
    q: str | None = Query(None, max_length=512, description="identifier, or email/name prefix"),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=200),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Live contacts, newest first; ``q`` matches any identifier exactly or an email/name prefix."""
    require_role(p, "analyst")
    only_params(request, LIST_PARAMS)
    return service(request).search(workspace_id=p.workspace_id, query=q, limit=limit, cursor=cursor)


@router.get("/lookup", response_model=dict[str, Any])
def lookup_contact(
    request: Request,
    email: str | None = Query(None, max_length=LOOKUP_MAX_LENGTH["email"]),
    phone: str | None = Query(None, max_length=LOOKUP_MAX_LENGTH["phone"]),
    external_id: str | None = Query(None, max_length=LOOKUP_MAX_LENGTH["external_id"]),
    anonymous_id: str | None = Query(None, max_length=LOOKUP_MAX_LENGTH["anonymous_id"]),
    p: Principal = Depends(api_principal),
) -> Response:
    """The profile of the contact with this email, phone, external id or anonymous id."""
    require_role(p, READ_ROLE)
    id_type, value = lookup_key(request)
    return json_response(
        service(request).lookup(workspace_id=p.workspace_id, id_type=id_type, value=value)
    )


@router.post("")
async def upsert_contact(
    request: Request, response: Response, body: ContactUpsert, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Create or update a contact by its identifiers (as an ``identify`` from source ``api``)."""
    require_role(p, "marketer")
    profile, created = await service(request).upsert(workspace_id=p.workspace_id, body=body)
    response.status_code = 201 if created else 200
    return profile


@router.get("/{contact_id}", response_model=dict[str, Any])
def get_contact(
    request: Request, contact_id: int = ContactId, p: Principal = Depends(api_principal)
) -> Response:
    """The 360° profile. A merged-away id answers with the live contact it was merged into."""
    require_role(p, READ_ROLE)
    only_params(request, frozenset())
    return json_response(
        service(request).profile(workspace_id=p.workspace_id, contact_id=contact_id)
    )


@router.get("/{contact_id}/events", response_model=dict[str, Any])
def contact_events(
    request: Request,
    contact_id: int = ContactId,
    limit: int = Query(TIMELINE_LIMIT_DEFAULT, ge=1, le=TIMELINE_LIMIT_MAX),
    cursor: str | None = Query(None, max_length=CURSOR_MAX_LENGTH),
    p: Principal = Depends(api_principal),
) -> Response:
    """The timeline, newest first, including every contact merged into this one."""
    require_role(p, READ_ROLE)
    only_params(request, PAGE_PARAMS)
    page = service(request).timeline(
        workspace_id=p.workspace_id, contact_id=contact_id, limit=limit, cursor=cursor
    )
    return json_response(page)


@router.post("/{contact_id}/consents")
async def change_consent(
    request: Request,
    body: ConsentIn,
    contact_id: int = ContactId,
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Record a consent change per channel (and topic); the history is kept."""
    require_role(p, "marketer")
    return await service(request).change_consent(
        workspace_id=p.workspace_id, contact_id=contact_id, consent=body
    )


@router.delete("/{contact_id}")
async def erase_contact(
    request: Request, contact_id: int = ContactId, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """GDPR erasure: delete the person's data and suppress their identifiers."""
    require_role(p, "admin")
    return await service(request).erase(
        workspace_id=p.workspace_id, contact_id=contact_id, requested_by=p.subject
    )


@router.get("/{contact_id}/export")
def export_contact(
    request: Request, contact_id: int = ContactId, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Everything stored about the person, as JSON (GDPR access request)."""
    require_role(p, "admin")
    data = service(request).export(workspace_id=p.workspace_id, contact_id=contact_id)
    encoded: dict[str, Any] = jsonable_encoder(data)
    return encoded
