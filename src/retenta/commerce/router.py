"""HTTP routes of the commerce capability: catalog, orders, a contact's commerce, data tables."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from retenta.commerce.contact_ref import ContactResolver
from retenta.commerce.schemas import (
    CatalogUpsert,
    DataTableIn,
    OrdersUpsert,
    RowKeys,
    RowsUpsert,
    StatusChange,
)
from retenta.commerce.service import CommerceService
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["commerce"])


def commerce(request: Request) -> CommerceService:
    return container(request).commerce


def resolver(request: Request) -> ContactResolver:
    c = container(request)
    return ContactResolver(db=c.db, identity=c.identity, ingest=c.ingest)


def reader(p: Principal = Depends(api_principal)) -> Principal:
    require_role(p, "analyst")
    return p


def writer(p: Principal = Depends(api_principal)) -> Principal:
    require_role(p, "marketer")
    return p


@router.put("/catalog/products")
async def put_products(
    body: CatalogUpsert, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    """Bulk upsert; fields left out keep their stored values. Watched fields are logged."""
    return await commerce(request).put_products(workspace_id=p.workspace_id, products=body.products)


@router.get("/catalog/products")
def list_products(
    request: Request,
    q: str | None = Query(None, max_length=200, description="A sku, or part of a name."),
    category: str | None = Query(None, max_length=200),
    brand: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
    p: Principal = Depends(reader),
) -> dict[str, Any]:
    return commerce(request).list_products(
        workspace_id=p.workspace_id, q=q, category=category, brand=brand, limit=limit, cursor=cursor
    )


@router.get("/catalog/products/{sku}")
def get_product(sku: str, request: Request, p: Principal = Depends(reader)) -> dict[str, Any]:
    return commerce(request).get_product(workspace_id=p.workspace_id, sku=sku)


@router.post("/orders")
async def put_orders(
    body: OrdersUpsert, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    """Upsert orders (with items) for contacts given by ``contact_id`` or ``identifiers``."""
    return await commerce(request).put_orders(
        workspace_id=p.workspace_id, orders=body.orders, resolver=resolver(request)
    )


@router.get("/orders/{order_id}")
def get_order(order_id: str, request: Request, p: Principal = Depends(reader)) -> dict[str, Any]:
    return commerce(request).get_order(workspace_id=p.workspace_id, order_id=order_id)


@router.post("/orders/{order_id}/status")
async def set_order_status(
    order_id: str, body: StatusChange, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    return await commerce(request).set_order_status(
        workspace_id=p.workspace_id,
        order_id=order_id,
        status=body.status,
        changed_at=body.changed_at,
    )


def timeline_ids(request: Request, workspace_id: str, contact_id: int) -> list[int]:
    identity = container(request).identity
    return commerce(request).timeline_ids(
        workspace_id=workspace_id, contact_id=contact_id, identity=identity
    )


@router.get("/contacts/{contact_id}/orders")
def contact_orders(
    contact_id: int,
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
    p: Principal = Depends(reader),
) -> dict[str, Any]:
    ids = timeline_ids(request, p.workspace_id, contact_id)
    return commerce(request).contact_orders(
        workspace_id=p.workspace_id, contact_ids=ids, limit=limit, cursor=cursor
    )


@router.get("/contacts/{contact_id}/cart")
def contact_cart(
    contact_id: int, request: Request, p: Principal = Depends(reader)
) -> dict[str, Any]:
    ids = timeline_ids(request, p.workspace_id, contact_id)
    return commerce(request).contact_cart(workspace_id=p.workspace_id, contact_ids=ids)


@router.get("/contacts/{contact_id}/wishlist")
def contact_wishlist(
    contact_id: int, request: Request, p: Principal = Depends(reader)
) -> dict[str, Any]:
    ids = timeline_ids(request, p.workspace_id, contact_id)
    return commerce(request).contact_wishlist(workspace_id=p.workspace_id, contact_ids=ids)


@router.post("/data-tables", status_code=201)
async def create_data_table(
    body: DataTableIn, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    return await commerce(request).tables.create(workspace_id=p.workspace_id, spec=body)


@router.get("/data-tables")
def list_data_tables(request: Request, p: Principal = Depends(reader)) -> list[dict[str, Any]]:
    return commerce(request).tables.all(workspace_id=p.workspace_id)


@router.get("/data-tables/{name}")
def get_data_table(name: str, request: Request, p: Principal = Depends(reader)) -> dict[str, Any]:
    return commerce(request).tables.get(workspace_id=p.workspace_id, name=name)


@router.delete("/data-tables/{name}")
async def drop_data_table(
    name: str, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    return await commerce(request).tables.drop(workspace_id=p.workspace_id, name=name)


@router.put("/data-tables/{name}/rows")
async def put_rows(
    name: str, body: RowsUpsert, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    """Upsert rows by the table's key; all or nothing, every problem listed in the 422."""
    return await commerce(request).tables.put_rows(
        workspace_id=p.workspace_id, name=name, rows=body.rows, resolver=resolver(request)
    )


@router.get("/data-tables/{name}/rows")
def get_rows(
    name: str,
    request: Request,
    contact_id: int | None = Query(None, gt=0),
    sku: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, max_length=2000),
    p: Principal = Depends(reader),
) -> dict[str, Any]:
    ids = None if contact_id is None else timeline_ids(request, p.workspace_id, contact_id)
    return commerce(request).tables.rows(
        workspace_id=p.workspace_id, name=name, contact_ids=ids, sku=sku, limit=limit, cursor=cursor
    )


@router.delete("/data-tables/{name}/rows")
async def delete_rows(
    name: str, body: RowKeys, request: Request, p: Principal = Depends(writer)
) -> dict[str, Any]:
    """Delete rows by their key values: ``{"keys": [{"card_no": "A1"}, ...]}``."""
    return await commerce(request).tables.delete_rows(
        workspace_id=p.workspace_id, name=name, keys=body.keys
    )
