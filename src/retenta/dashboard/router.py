"""``GET /api/v1/stats/live``: the dashboard's numbers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from retenta.dashboard.service import MAX_MINUTES, live_stats
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["dashboard"])


@router.get("/stats/live")
def stats_live(
    request: Request,
    minutes: int = Query(60, ge=1, le=MAX_MINUTES, description="Window length in minutes."),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Events, new contacts, merges and imports per minute over the last ``minutes``."""
    require_role(p, "analyst")
    return live_stats(container(request).db, workspace_id=p.workspace_id, minutes=minutes)
