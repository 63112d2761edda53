"""``/api/v1/journeys``: journeys as documents, their status, runs and decision traces."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from pydantic import BaseModel, Field

from retenta.errors import ApiError
from retenta.journeys.definition import DefinitionError, parse
from retenta.journeys.service import services
from retenta.journeys.sources import enter_by_api
from retenta.journeys.versions import parse_migrate
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["journeys"])
ACTIONS = {"activate": "live", "pause": "paused", "resume": "live", "stop": "stopped"}


def _invalid(exc: DefinitionError) -> ApiError:
    return ApiError(
        422, "invalid_journey", str(exc), field=exc.errors[0]["path"], details=list(exc.errors)
    )


@router.get("/journeys")
def list_journeys(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return {"items": services(request).store.all(p.workspace_id)}


@router.post("/journeys/validate")
def validate(
    doc: dict[str, Any] = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    try:
        parse(doc)
    except DefinitionError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": []}


@router.post("/journeys", status_code=201)
async def create(
    request: Request, doc: dict[str, Any] = Body(...), p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    try:
        return await services(request).store.create(p.workspace_id, doc)
    except DefinitionError as exc:
        raise _invalid(exc) from exc


@router.get("/journeys/{journey_id}")
def get(journey_id: str, request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return services(request).store.get(p.workspace_id, journey_id)


@router.put("/journeys/{journey_id}")
async def update(
    journey_id: str, request: Request, doc: dict[str, Any] = Body(...),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    require_role(p, "marketer")
    migrate = parse_migrate(doc.pop("migrate")) if "migrate" in doc else None
    try:
        return await services(request).store.update(p.workspace_id, journey_id, doc, migrate)
    except DefinitionError as exc:
        raise _invalid(exc) from exc


@router.get("/journeys/{journey_id}/versions")
def versions(
    journey_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return {"versions": services(request).store.versions(p.workspace_id, journey_id)}


@router.get("/journeys/{journey_id}/versions/{version}")
def version(
    journey_id: str, version: int, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return services(request).store.definition(p.workspace_id, journey_id, version)


@router.get("/journeys/{journey_id}/stats")
def stats(journey_id: str, request: Request, p: Principal = Depends(api_principal)
          ) -> dict[str, Any]:  # fmt: skip
    """Live counts per node (entered, waiting, converted, exited) for the canvas."""
    return services(request).store.stats(p.workspace_id, journey_id)


class EnterIn(BaseModel):
    model_config = {"extra": "forbid"}
    contact_id: int | None = None
    email: str | None = None
    external_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


@router.post("/journeys/{journey_id}/runs", status_code=202)
async def enter(
    journey_id: str, body: EnterIn, request: Request, p: Principal = Depends(api_principal),
    idempotency_key: str | None = Header(default=None, max_length=255),
) -> dict[str, Any]:  # fmt: skip
    """Start a run of an ``api``-triggered journey; the same Idempotency-Key starts one run."""
    require_role(p, "marketer")
    contact_id = _contact(request, p.workspace_id, body)
    key = idempotency_key or secrets.token_hex(16)
    svc = services(request)
    run_id = await enter_by_api(container(request).db, svc.store, p.workspace_id, journey_id,
                                contact_id, key, body.data)  # fmt: skip
    if run_id is not None:
        svc.runner.wake()  # its first step now, not after the runner's idle sleep
    return {"run_id": run_id, "started": run_id is not None, "contact_id": contact_id}


def _contact(request: Request, workspace_id: str, body: EnterIn) -> int:
    if body.contact_id is not None:
        return body.contact_id
    for id_type in ("email", "external_id"):
        value = getattr(body, id_type)
        if value is not None:
            found = container(request).contacts.lookup(
                workspace_id=workspace_id, id_type=id_type, value=value
            )
            return int(found["id"])
    raise ApiError(422, "validation_error", "give contact_id, email or external_id",
                   field="contact_id")  # fmt: skip


@router.post("/journeys/{journey_id}/{action}")
async def change_status(
    journey_id: str, action: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"unknown action {action!r}")
    return await services(request).store.set_status(p.workspace_id, journey_id, ACTIONS[action])


@router.get("/journeys/{journey_id}/runs")
def runs(
    journey_id: str, request: Request, contact_id: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000), p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    where = ["workspace_id = ?", "journey_id = ?"]
    args: list[Any] = [p.workspace_id, journey_id]
    if contact_id is not None:
        where.append("contact_id = ?")
        args.append(contact_id)
    with container(request).db.read() as cur:
        rows = cur.execute(
            "SELECT run_id, contact_id, version, state, node_id, entered_at, wake_at, waiting_for,"
            f" finished_at FROM journey_runs WHERE {' AND '.join(where)}"
            " ORDER BY entered_at DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
    names = ("run_id", "contact_id", "version", "state", "node_id", "entered_at", "wake_at",
             "waiting_for", "finished_at")  # fmt: skip
    return {"items": [dict(zip(names, r, strict=True)) for r in rows]}


@router.get("/contacts/{contact_id}/journey-trace")
def trace(
    contact_id: int, request: Request, limit: int = Query(default=200, ge=1, le=2000),
    p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    """Why she did (or did not) get something: every journey decision about the contact."""
    with container(request).db.read() as cur:
        rows = cur.execute(
            'SELECT t."at", t.journey_id, j.name, t.run_id, t.node_id, t.decision, t.reason'
            " FROM journey_trace t LEFT JOIN journeys j ON j.workspace_id = t.workspace_id"
            " AND j.id = t.journey_id WHERE t.workspace_id = ? AND t.contact_id = ?"
            ' ORDER BY t."at" DESC, t.rowid DESC LIMIT ?',
            [p.workspace_id, contact_id, limit],
        ).fetchall()
    names = ("at", "journey_id", "journey", "run_id", "node_id", "decision", "reason")
    return {"items": [dict(zip(names, r, strict=True)) for r in rows]}
