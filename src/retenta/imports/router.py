"""Import API: upload a file, see its columns and a suggested mapping, start and watch jobs."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from retenta.imports.fields import ENTITIES
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["imports"])


class JobIn(BaseModel):
    upload_id: str = Field(min_length=1, max_length=100)
    entity: str = Field(description=f"One of {', '.join(ENTITIES)}")
    mapping: dict[str, str | None] | None = Field(
        default=None, description="{column: field}; omitted = saved mapping_name or suggested"
    )
    mapping_name: str | None = Field(default=None, max_length=200)
    save_mapping_as: str | None = Field(default=None, min_length=1, max_length=200)


class MappingIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    entity: str
    mapping: dict[str, str | None]


@router.post("/imports/uploads", status_code=201)
def upload(
    request: Request,
    file: UploadFile = File(description="A .csv or .xlsx file with a header row"),
    entity: str = Query("contacts", description="Entity whose mapping to suggest first"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Store a file; returns its columns, sample rows and a suggested mapping."""
    require_role(p, "marketer")
    svc = container(request).imports
    out = svc.upload(
        workspace_id=p.workspace_id, file_name=file.filename or "upload.csv", stream=file.file
    )
    if entity in out["suggested_mappings"]:
        out["suggested_mapping"] = out["suggested_mappings"][entity]
    return out


@router.get("/imports/uploads/{upload_id}")
def preview(
    upload_id: str,
    request: Request,
    entity: str = Query("contacts"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    require_role(p, "analyst")
    return container(request).imports.preview(
        workspace_id=p.workspace_id, upload_id=upload_id, entity=entity
    )


@router.get("/imports/fields")
def fields(
    request: Request, entity: str = Query(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """The fields a column can be mapped to, for one entity."""
    require_role(p, "analyst")
    return container(request).imports.fields(entity=entity)


@router.post("/imports", status_code=201)
def create_job(
    body: JobIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Start an import job (runs in the background; poll ``GET /imports/{id}``)."""
    require_role(p, "marketer")
    return container(request).imports.create_job(workspace_id=p.workspace_id, **body.model_dump())


@router.get("/imports")
def list_jobs(
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    p: Principal = Depends(api_principal),
) -> list[dict[str, Any]]:
    require_role(p, "analyst")
    return container(request).imports.jobs(workspace_id=p.workspace_id, limit=limit)


@router.get("/imports/{job_id}")
def get_job(job_id: str, request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    require_role(p, "analyst")
    return container(request).imports.job(workspace_id=p.workspace_id, job_id=job_id)


@router.post("/imports/{job_id}/retry")
def retry_job(
    job_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Queue a failed job again, from its checkpoint (after fixing what made it fail)."""
    require_role(p, "marketer")
    return container(request).imports.retry(workspace_id=p.workspace_id, job_id=job_id)


@router.get("/imports/{job_id}/rejects", response_model=None)
def rejects(
    job_id: str,
    request: Request,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    format: str = Query("json", pattern="^(json|csv)$"),
    p: Principal = Depends(api_principal),
) -> dict[str, Any] | Response:
    """Every rejected row: row number (header = row 1), field, reason, the raw cells."""
    require_role(p, "analyst")
    out = container(request).imports.rejects(
        workspace_id=p.workspace_id, job_id=job_id, limit=limit, offset=offset
    )
    if format == "csv":
        return Response(rejects_csv(out["items"]), media_type="text/csv; charset=utf-8")
    return out


def rejects_csv(items: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["row_number", "field", "reason", "raw"])
    for r in items:
        raw = orjson.dumps(r["raw"]).decode() if r["raw"] is not None else ""
        writer.writerow([r["row_number"], r["field"] or "", r["reason"], raw])
    return buf.getvalue()


@router.get("/import-mappings")
def list_mappings(request: Request, p: Principal = Depends(api_principal)) -> list[dict[str, Any]]:
    require_role(p, "analyst")
    return container(request).imports.mappings(workspace_id=p.workspace_id)


@router.post("/import-mappings", status_code=201)
def save_mapping(
    body: MappingIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    return container(request).imports.save_mapping(workspace_id=p.workspace_id, **body.model_dump())
