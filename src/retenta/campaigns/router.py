"""``/api/v1/campaigns``: mass campaigns to segments — CRUD, schedule, pause, resume,
cancel, progress and the report (A/B results, holdout comparison)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from retenta.campaigns import report
from retenta.campaigns.definition import parse
from retenta.campaigns.service import services
from retenta.campaigns.store import CampaignRow
from retenta.errors import ApiError
from retenta.tenancy.deps import api_principal, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["campaigns"])
# action → (statuses it applies to, the status it moves to)
ACTIONS = {
    "pause": (("sending",), "paused"),
    "resume": (("paused",), "sending"),
    "cancel": (("draft", "scheduled", "sending", "paused"), "cancelled"),
}


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    global_control_pct: float = Field(ge=0, le=50)


@router.get("/campaign-settings")
def get_settings(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return {"global_control_pct": services(request).store.global_control_pct(p.workspace_id)}


@router.put("/campaign-settings")
async def put_settings(
    body: SettingsIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """The share of contacts (stable by contact id) kept out of every promo campaign."""
    require_role(p, "admin")
    store = services(request).store
    return {
        "global_control_pct": await store.set_global_control_pct(
            p.workspace_id, body.global_control_pct
        )
    }


@router.get("/campaigns")
def list_campaigns(
    request: Request, status: str | None = None, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"items": [r.as_dict() for r in services(request).store.all(p.workspace_id, status)]}


@router.post("/campaigns", status_code=201)
async def create(
    request: Request, doc: Any = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    row = await services(request).store.create(p.workspace_id, parse(doc))
    return row.as_dict()


@router.get("/campaigns/{campaign_id}")
def get(campaign_id: str, request: Request, p: Principal = Depends(api_principal)
        ) -> dict[str, Any]:  # fmt: skip
    """The campaign with its progress (audience, queued, sent, delivered, opened, clicked)."""
    svc = services(request)
    row = svc.store.get(p.workspace_id, campaign_id)
    with svc.store.db.read() as cur:
        return {**row.as_dict(), "progress": report.progress(cur, row)}


@router.put("/campaigns/{campaign_id}")
async def update(
    campaign_id: str, request: Request, doc: Any = Body(...),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    require_role(p, "marketer")
    row = await services(request).store.update(p.workspace_id, campaign_id, parse(doc))
    return row.as_dict()


@router.delete("/campaigns/{campaign_id}", status_code=204)
async def delete(campaign_id: str, request: Request, p: Principal = Depends(api_principal)
                 ) -> None:  # fmt: skip
    require_role(p, "marketer")
    await services(request).store.delete(p.workspace_id, campaign_id)


@router.post("/campaigns/{campaign_id}/schedule")
async def schedule(
    campaign_id: str, request: Request, body: Any = Body(default=None),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    """Check the campaign (segment, messages, channels) and schedule it; ``{"schedule": …}``
    in the body replaces its schedule first."""
    require_role(p, "marketer")
    row: CampaignRow = await services(request).schedule(p.workspace_id, campaign_id, body)
    return row.as_dict()


@router.get("/campaigns/{campaign_id}/report")
def campaign_report(
    campaign_id: str, request: Request, days: int = Query(default=7, ge=1, le=90),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    """Progress, A/B results (rates, z, p-values, the winner and why) and the holdout
    comparison (conversion and revenue from orders within ``days`` of the start)."""
    svc = services(request)
    row = svc.store.get(p.workspace_id, campaign_id)
    with svc.store.db.read() as cur:
        return {"id": row.id, "status": row.status, "progress": report.progress(cur, row),
                "ab_test": report.ab_results(cur, row),
                "holdout": report.holdout(cur, row, days)}  # fmt: skip


@router.post("/campaigns/{campaign_id}/{action}")
async def change_status(
    campaign_id: str, action: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"unknown action {action!r}")
    allowed, status = ACTIONS[action]
    row = await services(request).store.transition(p.workspace_id, campaign_id, allowed, status)
    return row.as_dict()
