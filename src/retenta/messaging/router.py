"""``/api/v1/messages``: preview a message as a contact (the rest of issue #4 comes next)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from retenta.messaging.preview import preview_email
from retenta.messaging.schemas import PreviewIn
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])


@router.post("/preview")
def preview(
    body: PreviewIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Subject, preheader, HTML and text of a message as one contact (or nobody) would get it."""
    require_role(p, "marketer")
    return preview_email(
        profiles=container(request).contacts, workspace_id=p.workspace_id, body=body
    )
