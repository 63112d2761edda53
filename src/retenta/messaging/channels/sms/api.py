"""``POST /api/v1/sms/estimate``: segments, encoding, a transliteration hint and the cost of a
text, as the message editor shows them while a marketer types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from retenta.errors import ApiError
from retenta.messaging.channels import sms
from retenta.messaging.channels.sms import segments
from retenta.messaging.channels.sms.common import InvalidNumberError, to_e164
from retenta.messaging.services import services
from retenta.tenancy.deps import api_principal
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1/sms", tags=["sms"])


class EstimateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=10_000)
    to: str | None = Field(default=None, max_length=32, description="E.164, for the price")
    channel: str | None = Field(default=None, max_length=100, description="SMS channel name")


def estimate(text: str, to: str | None, prices: dict[str, Any], currency: str) -> dict[str, Any]:
    """The editor's figures for one text (pure)."""
    counted = segments.count(text)
    hint = segments.transliteration_hint(text)
    transliteration = None
    if hint is not None:
        transliteration = {"segments": hint.transliterated_segments,
                           "text": hint.transliterated, "hint": str(hint)}  # fmt: skip
    result: dict[str, Any] = {
        "encoding": counted.encoding,
        "units": counted.units,
        "segments": counted.segments,
        "per_segment": counted.per_segment,
        "characters": len(text),
        "transliteration": transliteration,
        "cost": None,
    }
    if to is not None:
        cost = segments.estimate_cost(to, text, prices, currency=currency)
        price, total = cost.price_per_segment, cost.total
        result["cost"] = {
            "region": cost.region,
            "price_per_segment": None if price is None else str(price),
            "total": None if total is None else str(total),
            "currency": cost.currency,
        }
    return result


@router.post("/estimate")
def estimate_route(
    body: EstimateIn, request: Request, p: Principal = Depends(api_principal)
) -> dict[str, Any]:
    """Segments and cost of a text; prices come from the named SMS channel's settings."""
    prices: dict[str, Any] = {}
    currency = "USD"
    if body.channel is not None:
        stored = services(request).channel_settings.get(p.workspace_id, "sms", body.channel)
        if stored is None:
            raise ApiError(404, "not_found", "no SMS channel of that name", field="channel")
        cfg = sms.provider_config(stored)  # type: ignore[arg-type]
        prices, currency = dict(cfg.prices), cfg.currency
    to = None
    if body.to is not None:
        try:
            to = to_e164(body.to)
        except InvalidNumberError as exc:
            raise ApiError(422, "validation_error", str(exc), field="to") from exc
    return estimate(body.text, to, prices, currency)
