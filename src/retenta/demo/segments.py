"""A handful of example segments for the demo store, so the segment pages show real content.

Created through the same service as the API (validated, with revisions and where-used),
then refreshed once so each has its membership and a first size. A segment the current
build cannot evaluate is skipped with a warning: the demo never fails because of one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from retenta.errors import ApiError
from retenta.tenancy.service import Principal

log = logging.getLogger(__name__)


def _last(amount: int, unit: str) -> dict[str, Any]:
    return {"kind": "last", "amount": amount, "unit": unit}


def _rules(root: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"kind": "rules", "definition": {"version": 1, "params": params, "root": root}}


CHAMPIONS = _rules({"type": "rfm", "cells": ["champions"]})
CART_ABANDONERS = _rules(
    {
        "type": "all",
        "conditions": [
            {"type": "event", "event": "Product Added", "window": _last(24, "hours")},
            {
                "type": "not",
                "condition": {"type": "order", "window": _last(24, "hours")},
            },
        ],
    }
)
LAPSED_BUYERS = _rules(
    {
        "type": "all",
        "conditions": [
            {"type": "trait", "trait": "orders", "op": "gte", "value": 1},
            {"type": "not", "condition": {"type": "order", "window": _last(180, "days")}},
        ],
    }
)
REPEAT_BUYERS = _rules(
    {
        "type": "order",
        "window": _last(90, "days"),
        "aggregate": {"fn": "count"},
        "compare": {"op": "gte", "value": "@orders"},
    },
    orders={"type": "number", "default": 2, "label": "Orders in 90 days"},
)
BROWSED_NOT_BOUGHT = _rules(
    {
        "type": "event",
        "event": "Product Viewed",
        "window": {"kind": "this", "unit": "week"},
        "per": "sku",
        "compare": {"op": "gte", "value": 3},
        "unless": {
            "source": "purchase",
            "property": "sku",
            "window": {"kind": "this", "unit": "week"},
        },
    }
)
BIG_SPENDERS_SQL = {
    "kind": "sql",
    "sql": (
        "SELECT contact_id FROM orders\n"
        "WHERE placed_at >= now() - INTERVAL 365 DAY\n"
        "GROUP BY contact_id\n"
        "HAVING sum(total) >= @min_total"
    ),
    "params": {"min_total": {"type": "number", "default": 500}},
}

EXAMPLES: list[dict[str, Any]] = [
    {
        "name": "Champions",
        "description": "Bought recently, often and for the most (RFM cell).",
        "tags": ["rfm", "loyalty"],
        **CHAMPIONS,
    },
    {
        "name": "Cart abandoners last 24 h",
        "description": "Added to cart in the last 24 hours and placed no order since.",
        "tags": ["cart", "realtime"],
        "realtime": True,
        **CART_ABANDONERS,
    },
    {
        "name": "Lapsed buyers",
        "description": "Have bought before, but not in the last 180 days.",
        "tags": ["win-back"],
        **LAPSED_BUYERS,
    },
    {
        "name": "Repeat buyers (90 days)",
        "description": "At least @orders orders in the last 90 days (parameter, default 2).",
        "tags": ["loyalty"],
        **REPEAT_BUYERS,
    },
    {
        "name": "Browsed the same product, did not buy",
        "description": "Viewed one product at least 3 times this week and did not buy it.",
        "tags": ["browse-abandonment"],
        **BROWSED_NOT_BOUGHT,
    },
    {
        "name": "Big spenders (SQL)",
        "description": "SQL template: spent at least @min_total in the last 365 days.",
        "tags": ["sql", "value"],
        **BIG_SPENDERS_SQL,
    },
]


async def _install(segments: Any, workspace_id: str) -> list[str]:
    principal = Principal(workspace_id=workspace_id, kind="cli", subject="demo", role="admin")
    made: list[str] = []
    for body in EXAMPLES:
        try:
            seg = await segments.create(principal=principal, body=body)
            await segments.refresh(workspace_id=workspace_id, segment_id=seg["id"])
        except ApiError as exc:
            log.warning("demo segment %r skipped: %s %s", body["name"], exc.message, exc.details)
            continue
        except Exception:  # the demo must come up even if one example cannot be evaluated
            log.exception("demo segment %r skipped", body["name"])
            continue
        made.append(str(seg["id"]))
    return made


def add_demo_segments(container: Any, workspace_id: str) -> list[str]:
    """Create the example segments in a demo workspace; returns the ids created."""
    return asyncio.run(_install(container.segments, workspace_id))
