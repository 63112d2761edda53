"""Segment test helpers: people seeded through the real Segment HTTP API, segment bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace

BASE = "/api/v1/segments"
XRW = {"X-Requested-With": "retenta-ui"}
PASSWORD = "password123"


@dataclass
class Person:
    user_id: str
    email: str
    traits: dict[str, Any] = field(default_factory=dict)
    views: int = 0  # "Product Viewed" events in the last days


PEOPLE = [
    Person("u1", "olena@shop.example", {"first_name": "Olena", "city": "Kyiv", "age": 31}, 3),
    Person("u2", "ivan@shop.example", {"name": "Ivan Petrenko", "city": "Kyiv", "age": 45}, 1),
    Person("u3", "maria@shop.example", {"name": "Maria", "city": "Lviv", "age": 28}, 4),
    Person("u4", "taras@shop.example", {"name": "Taras", "city": "Odesa", "vip": True}, 0),
]


def batch_of(people: list[Person], now: datetime) -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = []
    for p in people:
        batch.append(
            {
                "type": "identify",
                "userId": p.user_id,
                "messageId": f"id-{p.user_id}",
                "traits": {"email": p.email, **p.traits},
                "timestamp": (now - timedelta(days=3)).isoformat(),
            }
        )
        for i in range(p.views):
            at = now - timedelta(hours=10 + i)
            batch.append(
                {
                    "type": "track",
                    "userId": p.user_id,
                    "event": "Product Viewed",
                    "messageId": f"view-{p.user_id}-{i}",
                    "properties": {"product_id": f"sku-{i % 2}", "category": "Shoes"},
                    "timestamp": at.isoformat(),
                }
            )
    return batch


def seed(client: TestClient, ws: Workspace, people: list[Person] = PEOPLE) -> dict[str, int]:
    """Send the people through ``/v1/batch``; returns ``{email: contact_id}``."""
    now = datetime.now(UTC)
    resp = client.post("/v1/batch", json={"batch": batch_of(people, now)}, auth=ws.write_auth)
    assert resp.status_code == 200, resp.text
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT value, contact_id FROM identities WHERE workspace_id = ? AND type = 'email'",
            [ws.id],
        ).fetchall()
    ids = {r[0]: int(r[1]) for r in rows}
    assert set(ids) == {p.email for p in people}
    return ids


def rules(root: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": "rules", "definition": {"version": 1, "root": root}, **extra}


def in_city(city: str) -> dict[str, Any]:
    return {
        "type": "attribute",
        "field": "city",
        "value_type": "text",
        "op": "equals",
        "value": city,
    }


def viewed(at_least: int, days: int = 7) -> dict[str, Any]:
    return {
        "type": "event",
        "event": "Product Viewed",
        "window": {"kind": "last", "amount": days, "unit": "days"},
        "aggregate": {"fn": "count"},
        "compare": {"op": "gte", "value": at_least},
    }


def includes(segment_id: str, member: bool = True) -> dict[str, Any]:
    return {"type": "segment", "segment_id": segment_id, "member": member}


def create(client: TestClient, ws: Workspace, name: str, root: dict[str, Any], **extra: Any) -> str:
    resp = client.post(BASE, json={"name": name, **rules(root), **extra}, headers=ws.api_headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def error_of(resp: Any) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def login_as(client: TestClient, container: Container, ws: Workspace, role: str) -> None:
    """Log the client in as a new UI user with ``role`` (the session cookie is kept)."""
    email = f"{role}@shop.example"
    container.tenancy.create_user(workspace_id=ws.id, email=email, password=PASSWORD, role=role)
    resp = client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=XRW
    )
    assert resp.status_code == 200, resp.text


@pytest.fixture
def people(client: TestClient, ws: Workspace) -> dict[str, int]:
    return seed(client, ws)
