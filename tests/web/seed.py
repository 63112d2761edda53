"""Seed data for the browser tests, sent through the real Segment endpoint (`/v1/batch`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Workspace

PASSWORD = "correct horse battery"
# The first batch of a fresh server also warms its caches; on a loaded 2-core machine with two
# test servers starting at once it has taken over 10 s. A slow seed is not what these test.
SEED_TIMEOUT_S = 60
ANNA = {"email": "anna.koval@example.com", "phone": "+380501234567", "external_id": "cust-1001"}
OLENA = {"email": "olena.shevchenko@example.com", "anonymous_id": "anon-olena-1"}
OLENA_ID = "cust-1003"
SCARF = {"product_id": "sku-7", "sku": "sku-7", "name": "Wool scarf", "price": 29.9, "quantity": 1}


def _msg(kind: str, ago_s: int, **fields: Any) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {"type": kind, "messageId": str(uuid.uuid4()), "timestamp": ts.isoformat(), **fields}


def anna() -> list[dict[str, Any]]:
    uid = ANNA["external_id"]
    traits = {
        "email": ANNA["email"],
        "phone": ANNA["phone"],
        "first_name": "Anna",
        "last_name": "Koval",
        "city": "Kyiv",
    }
    product = {"product_id": "sku-1", "sku": "sku-1", "name": "Linen shirt", "price": 49.0}
    order = {
        "order_id": "ord-5001",
        "total": 98.0,
        "currency": "EUR",
        "products": [{**product, "quantity": 2}],
    }
    return [
        _msg("identify", 300, userId=uid, traits=traits),
        _msg("page", 290, userId=uid, name="Home", properties={"url": "https://shop.example/"}),
        _msg("track", 280, userId=uid, event="Product Viewed", properties=product),
        _msg(
            "track", 270, userId=uid, event="Product Added", properties={**product, "quantity": 2}
        ),
        _msg("track", 260, userId=uid, event="Order Completed", properties=order),
        _msg("track", 250, userId=uid, event="Product Added", properties=SCARF),
    ]


def olena() -> list[dict[str, Any]]:
    """An anonymous visitor who later logs in with an account of her own: a merge."""
    anon = OLENA["anonymous_id"]
    return [
        _msg(
            "page",
            250,
            anonymousId=anon,
            name="Sale",
            properties={"url": "https://shop.example/sale"},
        ),
        _msg("identify", 240, anonymousId=anon, traits={"email": OLENA["email"]}),
        _msg(
            "identify",
            230,
            userId=OLENA_ID,
            traits={"first_name": "Olena", "phone": "+380931234567"},
        ),
        _msg("track", 220, userId=OLENA_ID, anonymousId=anon, event="Signed In"),
    ]


def crowd(n: int = 56) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        uid = f"cust-2{i:03d}"  # more people than one page of the contacts list (50)
        traits = {"email": f"shopper{i}@example.com", "first_name": f"Shopper{i}"}
        out.append(_msg("identify", 200 - i, userId=uid, traits=traits))
        out.append(
            _msg(
                "track",
                100 - i,
                userId=uid,
                event="Products Searched",
                properties={"query": f"dress {i}"},
            )
        )
    return out


def send(url: str, ws: Workspace, messages: list[dict[str, Any]]) -> None:
    """One ``/v1/batch`` request, authenticated as Segment clients do (Basic, write key)."""
    resp = httpx.post(
        f"{url}/v1/batch", json={"batch": messages}, auth=ws.write_auth, timeout=SEED_TIMEOUT_S
    )
    resp.raise_for_status()


def seed_events(url: str, ws: Workspace) -> None:
    for batch in (anna(), olena(), crowd()):
        send(url, ws, batch)
    seed_consents(url, ws)


def seed_consents(url: str, ws: Workspace) -> None:
    """Anna subscribes to e-mail and to SMS promos, then leaves the SMS promos."""
    with httpx.Client(base_url=url, headers=ws.api_headers, timeout=SEED_TIMEOUT_S) as api:
        found = api.get("/api/v1/contacts/lookup", params={"email": ANNA["email"]})
        found.raise_for_status()
        path = f"/api/v1/contacts/{found.json()['id']}/consents"
        for body in (
            {"channel": "email", "status": "subscribed", "source": "checkout"},
            {"channel": "sms", "topic": "promo", "status": "subscribed", "source": "checkout"},
            {"channel": "sms", "topic": "promo", "status": "unsubscribed", "source": "sms-stop"},
        ):
            api.post(path, json=body).raise_for_status()


def live_events(n: int = 5) -> list[dict[str, Any]]:
    """Fresh events from the crowd, to make the dashboard move."""
    return [
        _msg(
            "track",
            0,
            userId=f"cust-2{i % 8:03d}",
            event="Product Viewed",
            properties={"sku": f"sku-{i}"},
        )
        for i in range(n)
    ]
