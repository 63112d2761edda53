"""``/api/v1/journey-templates``: the ready scenarios, and making a journey from one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from retenta.journeys.definition import DefinitionError
from retenta.journeys.router import _invalid
from retenta.journeys.scenarios import service
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/journey-templates", tags=["journeys"])


class InstantiateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, min_length=1, max_length=200)


@router.get("")
def list_templates(p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return {"templates": service.list_templates()}


@router.post("/{key}/preview")
def preview(key: str, body: InstantiateIn, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """The journey the template would make with these parameters (stand-in ids)."""
    try:
        return {"definition": service.preview(key, body.params)}
    except DefinitionError as exc:
        raise _invalid(exc) from exc


@router.post("/{key}/instantiate", status_code=201)
async def instantiate(
    key: str, body: InstantiateIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    try:
        return await service.instantiate(container(request), p, key, body.params, body.name)
    except DefinitionError as exc:
        raise _invalid(exc) from exc
