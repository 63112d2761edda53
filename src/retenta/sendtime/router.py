"""``/api/v1/contacts/{id}/best-time`` and ``/api/v1/send-time/histogram``: a contact's best
local hour to send, and the workspace pattern thin-history contacts fall back to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from retenta.sendtime import service
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["send-time"])


@router.get("/contacts/{contact_id}/best-time")
def contact_best_time(contact_id: int, request: Request, p: Principal = Depends(api_principal)
                      ) -> dict[str, Any]:  # fmt: skip
    """``{"contact_id", "hour", "source", "samples", "timezone", "next_at"}``."""
    require_role(p, "analyst")
    with container(request).db.read() as cur:
        return service.contact_best_time(cur, p.workspace_id, contact_id)


@router.get("/send-time/histogram")
def histogram(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Engaged sends per contact-local hour over the lookback window, and its peak."""
    require_role(p, "analyst")
    with container(request).db.read() as cur:
        return service.workspace_histogram(cur, p.workspace_id).as_dict()
