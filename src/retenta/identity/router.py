"""``GET /api/v1/contacts/{id}/merges`` and ``POST /api/v1/merges/{merge_id}/unmerge``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get("/contacts/{contact_id}/merges")
def contact_merges(
    request: Request,
    contact_id: int = Path(description="The contact, winner or loser of the merges."),
    p: Principal = Depends(api_principal),
) -> list[dict[str, Any]]:
    """The contact's merge history, newest first: inputs, rule, triggering event, reverted_at."""
    require_role(p, "analyst")
    return container(request).identity.merges(workspace_id=p.workspace_id, contact_id=contact_id)


@router.post("/merges/{merge_id}/unmerge")
def unmerge(
    request: Request,
    merge_id: int = Path(description="The merge to revert."),
    p: Principal = Depends(api_principal),
) -> dict[str, int]:
    """Restore both contacts exactly as they were before the merge."""
    require_role(p, "marketer")
    return container(request).identity.unmerge(workspace_id=p.workspace_id, merge_id=merge_id)
