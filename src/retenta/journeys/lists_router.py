"""``/api/v1/contacts/{id}/lists``: a contact's lists and tags (read, add, remove).

The same writes as a journey's ``list`` node (``lists.py``), with source ``api``; a merged-away
contact id acts on the live contact it was merged into.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from retenta.contacts.queries import live_contact_id
from retenta.errors import ApiError
from retenta.journeys import lists
from retenta.storage.base import Database
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])
ContactId = Path(ge=1, le=2**62, description="Contact id")


class Membership(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["list", "tag"] = "list"
    name: str


class ContactLists:
    """The service behind the routes: checks, then one writer unit per change."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def live(self, workspace_id: str, contact_id: int) -> int:
        with self.db.read() as cur:
            live = live_contact_id(cur, workspace_id, contact_id)
        if live is None:
            raise ApiError(404, "not_found", f"no contact {contact_id}")
        return live

    def read(self, workspace_id: str, contact_id: int, history: bool) -> dict[str, Any]:
        live = self.live(workspace_id, contact_id)
        with self.db.read() as cur:
            items = lists.memberships(cur, workspace_id, live, history=history)
        return {"contact_id": live, "items": items}

    def add(self, workspace_id: str, contact_id: int, kind: str, name: str) -> bool:
        _check(kind, name)
        live = self.live(workspace_id, contact_id)
        now = datetime.now(UTC)
        joined = self.db.write(
            lambda c: lists.join(c, workspace_id, live, kind, name, source="api", at=now)
        )
        return bool(joined)

    def remove(self, workspace_id: str, contact_id: int, kind: str, name: str) -> bool:
        _check(kind, name)
        live = self.live(workspace_id, contact_id)
        now = datetime.now(UTC)
        left = self.db.write(lambda c: lists.leave(c, workspace_id, live, kind, name, at=now))
        return bool(left)


def _check(kind: str, name: str) -> None:
    why = lists.check_name(kind, name)
    if why is not None:
        field = "kind" if kind not in lists.KINDS else "name"
        raise ApiError(422, "validation_error", f"{field}: {why}", field=field)


def service(request: Request) -> ContactLists:
    return ContactLists(container(request).db)


@router.get("/{contact_id}/lists")
def contact_lists(
    request: Request,
    contact_id: int = ContactId,
    history: bool = Query(False, description="every stay, left ones too"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """The contact's current lists and tags (``history``: with the ones it left)."""
    require_role(p, "analyst")
    return service(request).read(p.workspace_id, contact_id, history)


@router.post("/{contact_id}/lists")
def add_to_list(
    request: Request,
    response: Response,
    body: Membership,
    contact_id: int = ContactId,
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Add to a list or give a tag: 201 when it joined, 200 when it was a member already."""
    require_role(p, "marketer")
    joined = service(request).add(p.workspace_id, contact_id, body.kind, body.name)
    response.status_code = 201 if joined else 200
    return {"kind": body.kind, "name": body.name, "member": True, "changed": joined}


@router.delete("/{contact_id}/lists/{kind}/{name}")
def remove_from_list(
    request: Request,
    kind: str,
    name: str,
    contact_id: int = ContactId,
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Remove from a list or take a tag away; 404 when the contact is not in it."""
    require_role(p, "marketer")
    if not service(request).remove(p.workspace_id, contact_id, kind, name):
        raise ApiError(404, "not_member", f"contact {contact_id} has no {kind} {name!r}")
    return {"kind": kind, "name": name, "member": False, "changed": True}
