"""Shared set-up for the campaign tests: contacts written to the real store, a real
segment over them, messages, the email channel, and calls to the campaigns API."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa
from fastapi.testclient import TestClient
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import PROMO, email_profile

from retenta.app import Container
from retenta.campaigns.service import for_container
from retenta.messaging.outbox.content import StaticEmail
from retenta.messaging.services import for_container as messaging

API = "/api/v1/campaigns"


def seed_contacts(
    container: Container, ws: Workspace, count: int, *, city: str = "Kyiv",
    timezone: str | None = None,
) -> list[int]:  # fmt: skip
    """``count`` contacts in ``city`` (Arrow into ``contacts``; the bulk path a 1M import
    takes); their ids in order."""
    now = datetime.now(UTC)

    def work(conn: Any) -> list[int]:
        ids = [int(r[0]) for r in conn.execute(
            "SELECT nextval('contact_id_seq') FROM range(?)", [count]).fetchall()]  # fmt: skip
        table = pa.table({
            "workspace_id": [ws.id] * count, "id": ids, "created_at": [now] * count,
            "updated_at": [now] * count,
            "attributes": [orjson.dumps({"city": city}).decode()] * count,
            "timezone": [timezone] * count,
        })  # fmt: skip
        conn.register("_seed", table)
        try:
            conn.execute(
                "INSERT INTO contacts (workspace_id, id, created_at, updated_at, attributes,"
                " timezone) SELECT workspace_id, id, created_at, updated_at, attributes::JSON,"
                " timezone FROM _seed"
            )
        finally:
            conn.unregister("_seed")
        return ids

    return list(container.db.write(work))


def segment(client: TestClient, ws: Workspace, city: str = "Kyiv") -> str:
    condition = {"type": "attribute", "field": "city", "value_type": "text", "op": "equals",
                 "value": city}  # fmt: skip
    root = {"type": "all", "conditions": [condition]}
    body = {"name": f"In {city}", "kind": "rules", "definition": {"version": 1, "root": root}}
    r = client.post("/api/v1/segments", headers=ws.api_headers, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def members(client: TestClient, ws: Workspace, segment_id: str) -> set[int]:
    """The segment's members as the segments API pages them."""
    out: set[int] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/api/v1/segments/{segment_id}/members", headers=ws.api_headers,
                       params=params)  # fmt: skip
        assert r.status_code == 200, r.text
        out |= {int(i["contact_id"]) for i in r.json()["items"]}
        cursor = r.json().get("next_cursor")
        if not cursor:
            return out


def setup_sending(client: TestClient, container: Container, ws: Workspace, *message_ids: str,
                  port: int = 2525) -> None:  # fmt: skip
    """Promo messages (static content) and an email/promo channel (an SMTP peer's port)."""
    svc = messaging(container)
    for message_id in message_ids or ("msg_a",):
        svc.static_content.add(ws.id, message_id, "email", StaticEmail(PROMO, "promo"))
    peer: Any = SimpleNamespace(host="127.0.0.1", port=port)
    r = client.put("/api/v1/channels/email/promo", headers=ws.api_headers,
                   json=email_profile(peer, "promo"))  # fmt: skip
    assert r.status_code == 200, r.text


def set_global_control(client: TestClient, ws: Workspace, pct: float) -> None:
    r = client.put("/api/v1/campaign-settings", headers=ws.api_headers,
                   json={"global_control_pct": pct})  # fmt: skip
    assert r.status_code == 200, r.text


def create(client: TestClient, ws: Workspace, **doc: Any) -> str:
    r = client.post(API, headers=ws.api_headers, json={"name": "Sale", **doc})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def schedule(client: TestClient, ws: Workspace, campaign_id: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"{API}/{campaign_id}/schedule", headers=ws.api_headers, json=body or None)
    assert r.status_code == 200, r.text
    return dict(r.json())


def recipients(container: Container, campaign_id: str) -> dict[int, tuple[Any, ...]]:
    """``{contact: (group, variant, send_at, queued_at, timezone)}``."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, grp, variant, send_at, queued_at, timezone"
            " FROM campaign_recipients WHERE campaign_id = ?",
            [campaign_id],
        ).fetchall()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def sends(container: Container, campaign_id: str) -> list[tuple[Any, ...]]:
    """``[(send_id, contact, message, next_attempt_at, status)]`` of the campaign."""
    with container.db.read() as cur:
        return cur.execute(
            "SELECT send_id, contact_id, message_id, next_attempt_at, status FROM sends"
            " WHERE campaign_id = ? ORDER BY contact_id",
            [campaign_id],
        ).fetchall()


def runner(container: Container) -> Any:
    return for_container(container).runner
