"""``/api/v1/rfm``: the workspace's RFM configuration and report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from retenta.segments.rfm import RfmConfig
from retenta.segments.rfm_service import RfmService
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/rfm", tags=["segments"])


def service(request: Request) -> RfmService:
    return RfmService(container(request).db)


@router.get("/config")
def get_config(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """How RFM is scored here (the defaults until a PUT)."""
    require_role(p, "analyst")
    return service(request).config(p.workspace_id).model_dump()


@router.put("/config")
def put_config(
    request: Request, body: RfmConfig, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Replace the configuration (422 naming the field when invalid)."""
    require_role(p, "marketer")
    return service(request).save_config(p.workspace_id, body).model_dump()


@router.get("/report")
def get_report(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Buyers per R × F cell and per named cell, scored now."""
    require_role(p, "analyst")
    return service(request).report(p.workspace_id)
