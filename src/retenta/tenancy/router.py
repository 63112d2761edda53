"""Management API for workspaces, keys and users."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["workspaces"])


class KeyIn(BaseModel):
    kind: Literal["write", "api"]
    name: str = Field(default="default", min_length=1, max_length=100)


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=200)
    role: Literal["admin", "marketer", "analyst"]


class WorkspaceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.get("/workspace")
def get_workspace(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return container(request).tenancy.workspace(p.workspace_id)


@router.post("/workspaces", status_code=201)
def create_workspace(
    body: WorkspaceIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Create another workspace, with its first write and API keys (shown once)."""
    require_role(p, "admin")
    t = container(request).tenancy
    ws_id = t.create_workspace(name=body.name)
    write = t.issue_key(workspace_id=ws_id, kind="write")
    api = t.issue_key(workspace_id=ws_id, kind="api")
    return {"workspace_id": ws_id, "write_key": write.secret, "api_key": api.secret}


@router.get("/keys")
def list_keys(request: Request, p: Principal = Depends(api_principal)) -> list[dict[str, Any]]:
    require_role(p, "admin")
    return container(request).tenancy.list_keys(workspace_id=p.workspace_id)


@router.post("/keys", status_code=201)
def create_key(
    body: KeyIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "admin")
    key = container(request).tenancy.issue_key(
        workspace_id=p.workspace_id, kind=body.kind, name=body.name
    )
    return {"id": key.id, "kind": key.kind, "secret": key.secret}


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, request: Request, p: Principal = Depends(api_principal)) -> None:
    require_role(p, "admin")
    container(request).tenancy.revoke_key(workspace_id=p.workspace_id, key_id=key_id)


@router.get("/users")
def list_users(request: Request, p: Principal = Depends(api_principal)) -> list[dict[str, Any]]:
    require_role(p, "admin")
    return container(request).tenancy.list_users(workspace_id=p.workspace_id)


@router.post("/users", status_code=201)
def create_user(
    body: UserIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "admin")
    user_id = container(request).tenancy.create_user(
        workspace_id=p.workspace_id, email=body.email, password=body.password, role=body.role
    )
    return {"id": user_id, "email": body.email.lower(), "role": body.role}
