"""``/api/v1/signals``: a workspace's signal thresholds, and a pass run on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from retenta.signals.service import for_container
from retenta.signals.settings import SignalSettings, load_settings, save_settings
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/signals", tags=["journeys"])


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily: bool = True


def _shown(settings: SignalSettings) -> dict[str, Any]:
    fields = SignalSettings.model_fields
    return {"settings": settings.model_dump(),
            "help": {name: f.description or "" for name, f in fields.items()}}  # fmt: skip


@router.get("/settings")
def get_settings(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    with container(request).db.read() as cur:
        return _shown(load_settings(cur, p.workspace_id))


@router.put("/settings")
async def put_settings(
    body: SignalSettings, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Replace the thresholds (absent fields take their defaults)."""
    require_role(p, "admin")
    now = datetime.now(UTC)
    await container(request).db.awrite(lambda c: save_settings(c, p.workspace_id, body, now))
    return _shown(body)


@router.post("/run")
async def run_now(
    body: RunIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """The catalog pass, and (``daily``) today's daily pass of this workspace, now."""
    require_role(p, "admin")
    service = for_container(container(request))
    now = datetime.now(UTC)
    changes, catalog = await service.catalog_pass(now)
    daily = await service.daily_pass(now, force=True, only=p.workspace_id) if body.daily else (0, 0)
    return {"catalog_changes": changes, "catalog_signals": catalog, "daily_signals": daily[1]}
