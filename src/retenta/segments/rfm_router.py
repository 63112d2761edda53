"""VIEWS' endpoints: ``/api/v1/rfm`` (configuration, report) and the SQL-template check
``POST /api/v1/segments/sql/check`` (a static path beside the segment routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from retenta.segments import sqlsegments
from retenta.segments.rfm import RfmConfig
from retenta.segments.rfm_service import RfmService
from retenta.segments.sqlcheck import MAX_SQL_CHARS
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(tags=["segments"])
RFM = "/api/v1/rfm"


class SqlCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(max_length=MAX_SQL_CHARS)
    params: dict[str, Any] = Field(default_factory=dict)


def service(request: Request) -> RfmService:
    return RfmService(container(request).db)


@router.get(f"{RFM}/config")
def get_config(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """How RFM is scored here (the defaults until a PUT)."""
    require_role(p, "analyst")
    return service(request).config(p.workspace_id).model_dump()


@router.put(f"{RFM}/config")
def put_config(
    request: Request, body: RfmConfig, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Replace the configuration (422 naming the field when invalid)."""
    require_role(p, "marketer")
    return service(request).save_config(p.workspace_id, body).model_dump()


@router.get(f"{RFM}/report")
def get_report(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Buyers per R × F cell and per named cell, scored now."""
    require_role(p, "analyst")
    return service(request).report(p.workspace_id)


@router.post("/api/v1/segments/sql/check")
def check_sql(
    request: Request, body: SqlCheckIn, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """``{"ok", "errors": [{reason, position?}], "views_used"}``; nothing runs."""
    require_role(p, "analyst")
    with container(request).db.read() as cur:
        return sqlsegments.check_report(cur, p.workspace_id, body.sql, body.params)
