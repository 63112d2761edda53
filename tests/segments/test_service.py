"""The segment service beyond single requests: the daily size job, the fields cache, and
real-time segments kept current by the membership engine while the app runs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.segments.fields import FieldsCache
from retenta.settings import Settings
from tests.conftest import Workspace, make_workspace
from tests.segments.conftest import BASE, create, in_city, viewed


def test_the_daily_job_records_every_live_segment_once_per_day(
    client: TestClient, container: Container, ws: Workspace, people: dict[str, int]
) -> None:
    kyiv = create(client, ws, "Kyiv", in_city("Kyiv"))
    viewers = create(client, ws, "Viewers", viewed(1))
    gone = create(client, ws, "Gone", in_city("Odesa"))
    assert client.delete(f"{BASE}/{gone}", headers=ws.api_headers).status_code == 204
    service = container.segments
    assert service._days_missing()
    assert asyncio.run(service.refresh_all()) == 2
    assert not service._days_missing()
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT segment_id, day, size FROM segment_sizes ORDER BY segment_id"
        ).fetchall()
    today = datetime.now(UTC).date()
    assert sorted(rows) == sorted([(kyiv, today, 2), (viewers, today, 3)])


def test_fields_are_cached_for_a_minute() -> None:
    clock = [100.0]
    cache = FieldsCache(ttl_s=60, monotonic=lambda: clock[0])
    loads: list[int] = []

    def load() -> dict[str, object]:
        loads.append(1)
        return {"n": len(loads)}

    assert cache.get("ws_a", load) == {"n": 1}
    clock[0] += 59
    assert cache.get("ws_a", load) == {"n": 1}
    assert cache.get("ws_b", load) == {"n": 2}  # per workspace
    clock[0] += 2
    assert cache.get("ws_a", load) == {"n": 3}


def test_a_realtime_segment_follows_events_while_the_app_runs(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=True))
    try:
        ws = make_workspace(container)
        with TestClient(create_app(container)) as client:
            h = ws.api_headers
            body = {"name": "Cart now", "realtime": True, "kind": "rules", "definition": {
                "root": {"type": "event", "event": "Product Added",
                         "window": {"kind": "last", "amount": 1, "unit": "hours"}}}}  # fmt: skip
            resp = client.post(BASE, json=body, headers=h)
            assert resp.status_code == 201, resp.text
            seg = resp.json()["id"]
            # the first full pass (the engine would also make it on its own, soon)
            assert client.post(f"{BASE}/{seg}/refresh", headers=h).json()["size"] == 0
            track = {"userId": "rt-1", "event": "Product Added", "messageId": "rt-m1",
                     "traits": {"email": "rt@shop.example"}}  # fmt: skip
            assert client.post("/v1/track", json=track, auth=ws.write_auth).status_code == 200
            deadline = time.monotonic() + 15
            events: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                events = client.get(f"{BASE}/{seg}/events", headers=h).json()["items"]
                if events:
                    break
                time.sleep(0.2)
            assert [(e["kind"], e["cause"]) for e in events] == [("entered", "event")]
            members = client.get(f"{BASE}/{seg}/members", headers=h).json()["items"]
            assert len(members) == 1
            assert members[0]["entered_at"] is not None
    finally:
        container.close()


def test_a_realtime_segment_follows_consent_changes_made_through_the_api(tmp_path: Path) -> None:
    """Changes made outside the ingest pipeline (here a consent change) reach real-time
    segments the same way, without waiting for the periodic full pass."""
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=True))
    try:
        ws = make_workspace(container)
        with TestClient(create_app(container)) as client:
            h = ws.api_headers
            track = {"userId": "c-1", "event": "Signed Up", "messageId": "c-m1",
                     "traits": {"email": "c1@shop.example"}}  # fmt: skip
            assert client.post("/v1/track", json=track, auth=ws.write_auth).status_code == 200
            body = {"name": "Email subscribers", "realtime": True, "kind": "rules",
                    "definition": {"root": {"type": "consent", "channel": "email",
                                            "status": "subscribed"}}}  # fmt: skip
            seg = client.post(BASE, json=body, headers=h).json()["id"]
            assert client.post(f"{BASE}/{seg}/refresh", headers=h).json()["size"] == 0
            contact = client.get("/api/v1/contacts/lookup?external_id=c-1", headers=h).json()
            consent = {"channel": "email", "status": "subscribed", "source": "form"}
            resp = client.post(
                f"/api/v1/contacts/{contact['id']}/consents", json=consent, headers=h
            )
            assert resp.status_code in (200, 201), resp.text
            deadline = time.monotonic() + 15
            events: list[dict[str, object]] = []
            while time.monotonic() < deadline and not events:
                events = client.get(f"{BASE}/{seg}/events", headers=h).json()["items"]
                time.sleep(0.2)
            assert [(e["kind"], e["cause"]) for e in events] == [("entered", "event")]
    finally:
        container.close()
