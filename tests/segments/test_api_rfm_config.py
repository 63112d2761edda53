"""An ``rfm`` condition scores with the workspace's saved RFM configuration, like the report."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments import views
from retenta.segments.rfm import RfmConfig, rfm_query
from tests.conftest import Workspace
from tests.segments.conftest import create
from tests.segments.test_rfm import make_orders, store

THRESHOLDS = RfmConfig(
    method="thresholds",
    period_days=None,
    recency_thresholds=[5, 30, 90, 250],
    frequency_thresholds=[1.5, 2.5, 3.5, 4.5],
    monetary_thresholds=[40, 150, 500, 2000],
)
TOP_FREQUENCY = {"version": 1, "root": {"type": "rfm", "f": [5, 5]}}


def _f5_count(container: Container, ws: str, config: RfmConfig) -> int:
    query = views.with_views(rfm_query(config, "duckdb", datetime.now(UTC)), ws, "duckdb")
    with container.db.read() as cur:
        rows = cur.execute(query.sql("duckdb")).fetchall()
    return sum(
        1 for row in rows if row[5] == 5
    )  # (contact_id, recency, frequency, monetary, r, f, …)


def _preview_count(client: TestClient, ws: Workspace) -> int:
    body = {"kind": "rules", "definition": TOP_FREQUENCY, "sample": 0}
    resp = client.post("/api/v1/segments/preview", json=body, headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    return int(resp.json()["count"])


def test_rfm_conditions_follow_the_saved_configuration(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    store(container, ws.id, make_orders(seed=11, buyers=300), first_id=5000)
    default_count = _preview_count(client, ws)
    assert default_count == _f5_count(container, ws.id, RfmConfig())
    saved = client.put("/api/v1/rfm/config", json=THRESHOLDS.model_dump(), headers=ws.api_headers)
    assert saved.status_code == 200, saved.text
    thresholds_count = _preview_count(client, ws)
    assert thresholds_count == _f5_count(container, ws.id, THRESHOLDS)
    assert thresholds_count != default_count


def test_refreshed_membership_scores_with_the_saved_configuration(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    store(container, ws.id, make_orders(seed=12, buyers=300), first_id=9000)
    saved = client.put("/api/v1/rfm/config", json=THRESHOLDS.model_dump(), headers=ws.api_headers)
    assert saved.status_code == 200, saved.text
    seg = create(client, ws, "Most frequent", TOP_FREQUENCY["root"])
    refreshed = client.post(f"/api/v1/segments/{seg}/refresh", headers=ws.api_headers)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["size"] == _f5_count(container, ws.id, THRESHOLDS)
    assert refreshed.json()["size"] != _f5_count(container, ws.id, RfmConfig())
