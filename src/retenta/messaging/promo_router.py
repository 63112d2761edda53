"""``/api/v1/promo-pools``: pools, generated or imported codes, issuing, one code's story."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from retenta.errors import ApiError
from retenta.messaging.promo_store import Claim
from retenta.messaging.schemas import PromoCodesIn, PromoIssueIn, PromoPoolIn
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/promo-pools", tags=["promo codes"])


@router.post("", status_code=201)
async def create_pool(
    body: PromoPoolIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    return await services(request).promo.create_pool(
        p.workspace_id, name=body.name, kind=body.kind, length=body.length, prefix=body.prefix,
        expires_at=body.expires_at,
    )  # fmt: skip


@router.get("/{pool_id}")
def get_pool(
    pool_id: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return services(request).promo.pool(p.workspace_id, pool_id)


@router.post("/{pool_id}/codes", status_code=201)
async def add_codes(
    pool_id: str, body: PromoCodesIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    require_role(p, "marketer")
    store = services(request).promo
    if body.generate is not None:
        if body.expires_at is not None:
            raise ApiError(422, "validation_error", "generated codes take the pool's expiry",
                           field="expires_at")  # fmt: skip
        return {"added": await store.generate(p.workspace_id, pool_id, body.generate), "skipped": 0}
    assert body.codes is not None
    return await store.import_codes(p.workspace_id, pool_id, body.codes, body.expires_at)


@router.post("/{pool_id}/issue")
async def issue_codes(
    pool_id: str, body: PromoIssueIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """One code per contact for ``message_id`` (the same code again on a repeat)."""
    require_role(p, "marketer")
    store = services(request).promo
    store.pool(p.workspace_id, pool_id)  # 404 for another workspace's or an unknown pool
    issued = await store.aissue(
        p.workspace_id, pool_id, body.message_id, [Claim(c) for c in body.contact_ids]
    )
    return {
        "codes": {str(contact): code for contact, code in issued.items()},
        "missing": [contact for contact, code in issued.items() if code is None],
    }


@router.get("/{pool_id}/codes/{code}")
def get_code(
    pool_id: str, code: str, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    return services(request).promo.code(p.workspace_id, pool_id, code)
