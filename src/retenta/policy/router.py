"""``/api/v1/policy``: the workspace's contact policy and the log of held-back messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from retenta.errors import ApiError
from retenta.policy.rules import Policy
from retenta.policy.store import PolicyStore
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])


def _store(request: Request) -> PolicyStore:
    return PolicyStore(container(request).db)


@router.get("")
def get_policy(request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    return _store(request).get(p.workspace_id).model_dump(mode="json")


@router.put("")
async def put_policy(
    body: dict[str, Any], request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "admin")
    policy = parse_policy(body)
    await _store(request).put(p.workspace_id, policy)
    return policy.model_dump(mode="json")


def parse_policy(body: Any) -> Policy:
    """The body as a policy; a 422 naming every refused field (``caps.0.max``) and why."""
    try:
        return Policy.model_validate(body)
    except ValidationError as exc:
        details = [{"field": _dotted(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        first = details[0]
        raise ApiError(422, "validation_error", f"{first['field']}: {first['reason']}",
                       field=first["field"], details=details) from exc  # fmt: skip


def _dotted(loc: tuple[Any, ...]) -> str:
    """The field's path as the policy page names it: ``("caps", 0, "max")`` → ``caps.0.max``."""
    return ".".join(str(part) for part in loc) or "body"


@router.get("/held")
def held(
    request: Request, contact_id: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000), p: Principal = Depends(api_principal),
) -> dict[str, Any]:  # fmt: skip
    """Messages the policy deferred or dropped, newest first, each with its rule."""
    return {"items": _store(request).held(p.workspace_id, contact_id=contact_id, limit=limit)}
