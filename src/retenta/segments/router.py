"""``/api/v1/segments``: segments as objects, preview, validate, explain, members, history,
events, refresh, export, flow, schema and the builder's field lists.

Analysts read and preview; marketers and admins change. Bodies are taken as raw JSON and
checked by the service so every problem comes back as 400 ``details: [{path, reason}]``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from retenta.errors import ApiError
from retenta.segments import export as export_mod
from retenta.segments.definition import json_schema
from retenta.segments.service import SegmentService
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
SegmentId = str
SEGMENT_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "example": {
                    "name": "Repeat buyers",
                    "tags": ["lifecycle"],
                    "kind": "rules",
                    "definition": {
                        "version": 1,
                        "root": {"type": "trait", "trait": "orders", "op": "gte", "value": 2},
                    },
                }
            }
        }
    }
}


def service(request: Request) -> SegmentService:
    return container(request).segments


# --- collection-level routes (before /{segment_id}) -----------------------------------------


@router.get("")
def list_segments(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Live segments with size, where-used and owner, most recently changed first."""
    require_role(p, "analyst")
    return service(request).list_segments(workspace_id=p.workspace_id)


@router.post("", status_code=201, openapi_extra=SEGMENT_BODY)
async def create_segment(
    request: Request, body: Any = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Create a rules or SQL segment; 400 with the path of every problem, nothing saved."""
    require_role(p, "marketer")
    return await service(request).create(principal=p, body=body)


@router.post("/validate", openapi_extra=SEGMENT_BODY)
def validate_segment(
    request: Request, body: Any = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """``{valid, errors: [{path, reason}]}`` without saving."""
    require_role(p, "analyst")
    return service(request).validate(workspace_id=p.workspace_id, body=body)


@router.post("/preview", openapi_extra=SEGMENT_BODY)
def preview_segment(
    request: Request, body: Any = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Count, SQL and sample members (``sample``, default 10) each with why they are in."""
    require_role(p, "analyst")
    return service(request).preview(workspace_id=p.workspace_id, body=body)


@router.get("/schema")
def definition_schema(p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """The JSON Schema of the definition language."""
    require_role(p, "analyst")
    return json_schema()


@router.get("/fields")
def builder_fields(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Attributes, events with their properties, traits, channels and RFM cells, from the data."""
    require_role(p, "analyst")
    return service(request).fields(workspace_id=p.workspace_id)


@router.get("/flow")
def flow_report(
    request: Request,
    ids: str = Query(..., max_length=2000, description="segment ids, comma-separated"),
    from_: date = Query(..., alias="from"),
    to: date = Query(...),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """How many members of each segment at ``from`` were in each segment (or none) at ``to``."""
    require_role(p, "analyst")
    wanted = [s.strip() for s in ids.split(",") if s.strip()]
    if not wanted:
        raise ApiError(422, "validation_error", "ids: give at least one segment id", field="ids")
    return service(request).flow(workspace_id=p.workspace_id, ids=wanted, day_from=from_, day_to=to)


# --- one segment ----------------------------------------------------------------------------


@router.get("/{segment_id}")
def get_segment(
    request: Request, segment_id: SegmentId, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "analyst")
    return service(request).get(workspace_id=p.workspace_id, segment_id=segment_id)


@router.put("/{segment_id}", openapi_extra=SEGMENT_BODY)
async def update_segment(
    request: Request,
    segment_id: SegmentId,
    body: Any = Body(...),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Change any of the fields; the previous state is kept as a revision."""
    require_role(p, "marketer")
    return await service(request).update(principal=p, segment_id=segment_id, body=body)


@router.delete("/{segment_id}", status_code=204)
async def delete_segment(
    request: Request, segment_id: SegmentId, p: Principal = Depends(api_principal)
) -> Response:
    """Soft delete; 409 while another segment, a campaign or a journey uses it."""
    require_role(p, "marketer")
    await service(request).delete(principal=p, segment_id=segment_id)
    return Response(status_code=204)


@router.get("/{segment_id}/revisions")
def segment_revisions(
    request: Request, segment_id: SegmentId, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Every saved state of the segment, oldest first (who changed what, when)."""
    require_role(p, "analyst")
    return service(request).revisions(workspace_id=p.workspace_id, segment_id=segment_id)


@router.get("/{segment_id}/members")
def segment_members(
    request: Request,
    segment_id: SegmentId,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    require_role(p, "analyst")
    return service(request).members(
        workspace_id=p.workspace_id, segment_id=segment_id, limit=limit, cursor=cursor
    )


@router.get("/{segment_id}/history")
def segment_history(
    request: Request,
    segment_id: SegmentId,
    days: int = Query(90, ge=1, le=3660),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Daily sizes, oldest first."""
    require_role(p, "analyst")
    return service(request).history(workspace_id=p.workspace_id, segment_id=segment_id, days=days)


@router.get("/{segment_id}/events")
def segment_events(
    request: Request,
    segment_id: SegmentId,
    limit: int = Query(50, ge=1, le=500),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:
    """Entries and exits, newest first."""
    require_role(p, "analyst")
    return service(request).events(workspace_id=p.workspace_id, segment_id=segment_id, limit=limit)


@router.post("/{segment_id}/refresh")
async def refresh_segment(
    request: Request, segment_id: SegmentId, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Recompute membership now (entries/exits recorded) and today's size."""
    require_role(p, "marketer")
    return await service(request).refresh(workspace_id=p.workspace_id, segment_id=segment_id)


@router.get("/{segment_id}/explain")
def explain_segment(
    request: Request, segment_id: SegmentId, p: Principal = Depends(api_principal)
) -> dict[str, str]:
    """The member query as DuckDB and as ClickHouse SQL."""
    require_role(p, "analyst")
    return service(request).explain(workspace_id=p.workspace_id, segment_id=segment_id)


@router.get("/{segment_id}/export")
def export_segment(
    request: Request,
    segment_id: SegmentId,
    format: str = Query("csv", pattern="^(csv|parquet)$"),
    p: Principal = Depends(api_principal),
) -> StreamingResponse:
    """The members as a CSV or Parquet file (contact id, identifiers, name, dates)."""
    require_role(p, "analyst")
    path, filename = service(request).export(
        workspace_id=p.workspace_id, segment_id=segment_id, fmt=format
    )
    return StreamingResponse(
        export_mod.stream_and_remove(path),
        media_type=export_mod.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
