"""``GET /metrics``: the server's metrics in Prometheus' text format (``access`` says who)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from retenta.errors import ApiError
from retenta.metrics.access import FORWARDING_HEADERS, refusal
from retenta.metrics.collector import registry_for

if TYPE_CHECKING:
    from retenta.app import Container

router = APIRouter()


@router.get("/metrics", tags=["ops"], response_class=Response)
async def metrics(request: Request) -> Response:
    """Ingestion, the writer, compaction, the store and the process, for Prometheus."""
    container: Container = request.app.state.container
    token = container.settings.metrics_token
    client = request.client
    refused = refusal(
        token=token.get_secret_value() if token is not None else None,
        authorization=request.headers.get("authorization"),
        peer=client.host if client else None,
        forwarded=any(name in request.headers for name in FORWARDING_HEADERS),
    )
    if refused is not None:
        status, why = refused
        raise ApiError(status, "unauthorized" if status == 401 else "forbidden", why)
    registry = _registry(request, container)
    body = await asyncio.to_thread(generate_latest, registry)  # one small read of the store
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _registry(request: Request, container: Container) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = request.app.state.metrics_registry = registry_for(container)
    return registry
