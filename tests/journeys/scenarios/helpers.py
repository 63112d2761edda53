"""A small demo store shared by a test module, and the moves every scenario test makes:
instantiate a template through the API, send events as a shop would, tick the runner with
a controlled clock, read who entered and what was queued."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.demo.generate import generate_store
from retenta.journeys.service import for_container
from retenta.settings import Settings
from retenta.signals.service import for_container as signals
from tests.conftest import Workspace, make_workspace

DEMO_CONTACTS = 80
_ids = itertools.count(1)


@dataclass
class Store:
    container: Container
    client: TestClient
    ws: Workspace

    # --- scenarios ---------------------------------------------------------------------

    def instantiate(self, key: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        made = self.client.post(
            f"/api/v1/journey-templates/{key}/instantiate",
            headers=self.ws.api_headers, json={"params": params or {}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        assert body["journey"]["status"] == "draft"
        live = self.client.post(f"/api/v1/journeys/{body['journey']['id']}/activate",
                                headers=self.ws.api_headers)  # fmt: skip
        assert live.status_code == 200, live.text
        return body

    # --- the shop ----------------------------------------------------------------------

    def person(self, name: str) -> str:
        """A new shopper's external id (unique per call)."""
        return f"{name}-{next(_ids)}"

    def track(self, user: str, event: str, properties: dict[str, Any] | None = None,
              at: datetime | None = None, traits: dict[str, Any] | None = None
              ) -> None:  # fmt: skip
        body: dict[str, Any] = {"userId": user, "event": event, "properties": properties or {}}
        if at is not None:
            body["timestamp"] = at.isoformat()
        if traits:
            body["context"] = {"traits": traits}
        answer = self.client.post("/v1/track", json=body, auth=self.ws.write_auth)
        assert answer.status_code == 200, answer.text

    def identify(self, user: str, traits: dict[str, Any]) -> None:
        answer = self.client.post("/v1/identify", json={"userId": user, "traits": traits},
                                  auth=self.ws.write_auth)  # fmt: skip
        assert answer.status_code == 200, answer.text

    def contact(self, user: str) -> int:
        with self.container.db.read() as cur:
            row = cur.execute(
                "SELECT contact_id FROM identities WHERE workspace_id = ? AND type ="
                " 'external_id' AND value = ?",
                [self.ws.id, user],
            ).fetchone()
        assert row is not None, f"no contact {user}"
        return int(row[0])

    def order(self, user: str, order_id: str, placed_at: datetime, *items: tuple[str, float],
              status: str = "paid", category: str = "Home/Tea") -> None:  # fmt: skip
        body = {"orders": [{
            "order_id": order_id, "identifiers": {"external_id": user}, "status": status,
            "placed_at": placed_at.isoformat(), "currency": "UAH",
            "total": sum(p for _, p in items),
            "items": [{"sku": s, "price": p, "name": s, "category": category}
                      for s, p in items]}]}  # fmt: skip
        answer = self.client.post("/api/v1/orders", json=body, headers=self.ws.api_headers)
        assert answer.status_code in (200, 201), answer.text

    def products(self, *products: dict[str, Any]) -> None:
        answer = self.client.put("/api/v1/catalog/products", json={"products": list(products)},
                                 headers=self.ws.api_headers)  # fmt: skip
        assert answer.status_code == 200, answer.text

    # --- time --------------------------------------------------------------------------

    def tick(self, now: datetime, times: int = 3) -> None:
        """Advance every due run at ``now`` (a few ticks: a woken run, then its next step)."""
        runner = for_container(self.container).runner
        for _ in range(times):
            runner.tick(now)

    def signals(self, now: datetime, *, daily: bool = True) -> Any:
        """One signal pass at ``now``, on the app's event loop (where ingestion runs)."""
        service = signals(self.container)
        portal = self.client.portal
        assert portal is not None
        if daily:
            return portal.call(_both, service, now)
        return portal.call(partial(service.run_once, now, daily=False))

    # --- what happened -----------------------------------------------------------------

    def entered(self, journey_id: str) -> set[int]:
        with self.container.db.read() as cur:
            rows = cur.execute(
                "SELECT DISTINCT contact_id FROM journey_runs WHERE journey_id = ?", [journey_id]
            ).fetchall()
        return {int(r[0]) for r in rows}

    def sends(self, journey_id: str, contact_id: int | None = None) -> list[tuple[Any, ...]]:
        """``(contact_id, message_id, category, cascade, trigger properties)`` per send."""
        where, args = "campaign_id = ?", [journey_id]
        if contact_id is not None:
            where, args = where + " AND contact_id = ?", [*args, contact_id]
        with self.container.db.read() as cur:
            rows = cur.execute(
                "SELECT contact_id, message_id, category, cascade,"
                f" data->'$.trigger.properties' FROM sends WHERE {where}"
                " ORDER BY created_at, message_id",
                args,
            ).fetchall()
        return [tuple(r) for r in rows]

    def run_states(self, journey_id: str, contact_id: int) -> list[str]:
        with self.container.db.read() as cur:
            rows = cur.execute(
                "SELECT state FROM journey_runs WHERE journey_id = ? AND contact_id = ?",
                [journey_id, contact_id],
            ).fetchall()
        return [str(r[0]) for r in rows]


async def _both(service: Any, now: datetime) -> Any:
    await service.catalog_pass(now)
    return await service.daily_pass(now, force=True)


def demo_store(path: Path, now: datetime | None = None) -> Iterator[Store]:
    """A generated demo store (a year of a small shop) behind the real app."""
    container = build_container(Settings(data_dir=path, background_workers=False))
    ws = make_workspace(container, "Demo shop")
    generate_store(container.db, ws.id, contacts=DEMO_CONTACTS, seed=7,
                   now=now or datetime.now(UTC) - timedelta(minutes=5))  # fmt: skip
    with TestClient(create_app(container)) as client:
        yield Store(container, client, ws)
    container.close()
