"""RFM: quantile scores against numpy, thresholds, the named cells, chdb, and the HTTP report."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from chdb import session as chdb_session
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments import views
from retenta.segments.rfm import CELL_MAP, CELLS, RfmConfig, cell_of, rfm_query
from tests.conftest import Workspace

NOW = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
STATUSES = ("paid", "shipped", "placed", "cancelled", "returned")


def make_orders(seed: int, buyers: int) -> list[tuple[int, str, str, float, datetime]]:
    """(contact, order id, status, amount, placed_at); integer-ish values make many ties."""
    rng = random.Random(seed)
    rows = []
    for cid in range(1, buyers + 1):
        for n in range(rng.choice([1, 1, 1, 2, 2, 3, 5, 8])):
            days = rng.choice([0, 3, 10, 45, 45, 100, 200, 300, 400])
            at = NOW - timedelta(days=days, hours=rng.random() * 20)
            amount = rng.choice([10, 25.5, 40, 99.99, 150, 500, 1200])
            rows.append((cid, f"o-{cid}-{n}", rng.choice(STATUSES), amount, at))
    return rows


def store(container: Container, ws: str, rows: list[tuple[Any, ...]], first_id: int) -> None:
    """Contacts and orders in two Arrow inserts (row-by-row INSERT is slow in DuckDB)."""
    ids = sorted({first_id + r[0] for r in rows})
    contacts = pa.table({"id": ids})
    orders = pa.table(
        {
            "order_id": [f"{ws}-{r[1]}" for r in rows],
            "contact_id": [first_id + r[0] for r in rows],
            "status": [r[2] for r in rows],
            "total": [r[3] for r in rows],
            "placed_at": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )

    def work(conn: Any) -> None:
        conn.register("_t_contacts", contacts)
        conn.register("_t_orders", orders)
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
            " SELECT ?, id, ?, ? FROM _t_contacts",
            [ws, NOW, NOW],
        )
        conn.execute(
            "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
            " updated_at) SELECT ?, order_id, contact_id, status, total, placed_at, placed_at"
            " FROM _t_orders",
            [ws],
        )
        conn.unregister("_t_contacts")
        conn.unregister("_t_orders")

    container.db.write(work)


def reference(rows: list[tuple[Any, ...]], config: RfmConfig) -> dict[int, tuple[int, ...]]:
    """R, F, M per buyer in plain numpy, from the raw orders."""
    since = NOW - timedelta(days=config.period_days or 10**5)
    per: dict[int, list[Any]] = {}
    for cid, _, status, amount, at in rows:
        if status in config.statuses and since < at <= NOW:
            per.setdefault(cid, []).append((amount, at))
    ids = sorted(per)
    rec = np.array([(NOW - max(a for _, a in per[c])) // timedelta(days=1) for c in ids])
    freq = np.array([len(per[c]) for c in ids])
    mon = np.array([round(sum(v for v, _ in per[c]), 2) for c in ids])
    if config.method == "quantiles":
        levels = [0.2, 0.4, 0.6, 0.8]
        r = 5 - np.searchsorted(np.quantile(rec, levels), rec, side="left")
        f = 1 + np.searchsorted(np.quantile(freq, levels), freq, side="left")
        m = 1 + np.searchsorted(np.quantile(mon, levels), mon, side="left")
    else:
        r = 5 - np.searchsorted(np.array(config.recency_thresholds), rec, side="left")
        f = 1 + np.searchsorted(np.array(config.frequency_thresholds), freq, side="right")
        m = 1 + np.searchsorted(np.array(config.monetary_thresholds), mon, side="right")
    return {
        c: (int(rec[i]), int(freq[i]), int(r[i]), int(f[i]), int(m[i])) for i, c in enumerate(ids)
    }


def scored(container: Container, ws: str, config: RfmConfig, first_id: int) -> dict[int, Any]:
    query = views.with_views(rfm_query(config, "duckdb", NOW), ws, "duckdb")
    with container.db.read() as cur:
        rows = cur.execute(query.sql("duckdb")).fetchall()
    return {r[0] - first_id: r[1:] for r in rows}


@pytest.mark.parametrize(
    "config",
    [
        RfmConfig(),
        RfmConfig(period_days=None, statuses=["paid", "shipped", "placed", "returned"]),
        RfmConfig(
            method="thresholds",
            recency_thresholds=[5, 30, 90, 250],
            frequency_thresholds=[2, 3, 4, 6],
            monetary_thresholds=[40, 150, 500, 2000],
        ),
    ],
)
def test_scores_match_a_numpy_reference(
    container: Container, ws: Workspace, config: RfmConfig
) -> None:
    rows = make_orders(seed=7, buyers=400)
    store(container, ws.id, rows, first_id=1000)
    got = scored(container, ws.id, config, first_id=1000)
    want = reference(rows, config)
    assert set(got) == set(want)
    for cid, (rec, freq, r, f, m) in want.items():
        g = got[cid]
        assert (g[0], g[1], g[3], g[4], g[5]) == (rec, freq, r, f, m), cid
        assert g[6] == cell_of(r, f)
    if config.method == "quantiles":  # every score is used when values spread
        assert {g[3] for g in got.values()} == {1, 2, 3, 4, 5}


def test_thresholds_score_the_documented_examples(container: Container, ws: Workspace) -> None:
    rows = [
        (1, "a", "paid", 1000.0, NOW - timedelta(days=30)),  # R 5 (≤ 30 d), M 5 (≥ 1000)
        (2, "b", "paid", 99.99, NOW - timedelta(days=31)),  # R 4, M 1
        (3, "c", "paid", 10.0, NOW - timedelta(days=364)),  # R 2
        *[(4, f"d{i}", "paid", 50.0, NOW - timedelta(days=200)) for i in range(10)],  # F 5, M 4
    ]
    store(container, ws.id, rows, first_id=0)
    got = scored(container, ws.id, RfmConfig(method="thresholds"), first_id=0)
    assert [got[c][3:6] for c in (1, 2, 3, 4)] == [(5, 1, 5), (4, 1, 1), (2, 1, 1), (2, 5, 4)]
    assert [got[c][6] for c in (1, 2, 3, 4)] == [
        "new_customers", "promising", "hibernating", "cannot_lose"
    ]  # fmt: skip


def test_the_named_cells_cover_the_grid_once() -> None:
    seen = [(r, f) for _, rs, fs in CELL_MAP for r in rs for f in fs]
    assert sorted(seen) == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert {name for name, _, _ in CELL_MAP} == set(CELLS)
    assert cell_of(5, 5) == "champions"
    assert cell_of(1, 5) == "cannot_lose"
    assert cell_of(1, 1) == "lost"


def test_clickhouse_scores_the_same(
    container: Container, ws: Workspace, other_ws: Workspace, tmp_path: Path
) -> None:
    rows = make_orders(seed=11, buyers=150)
    store(container, ws.id, rows, first_id=0)
    store(container, other_ws.id, make_orders(seed=12, buyers=50), first_id=5000)
    sess = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        with container.db.read() as cur:
            for w in (ws.id, other_ws.id):
                views.load_into_chdb(sess, views.materialize_for_clickhouse(cur, w, tmp_path / w))
        for config in (RfmConfig(), RfmConfig(method="thresholds")):
            duck = scored(container, ws.id, config, first_id=0)
            query = views.with_views(rfm_query(config, "clickhouse", NOW), ws.id, "clickhouse")
            table = sess.query(query.sql("clickhouse"), "ArrowTable").to_pylist()
            click = {r["contact_id"]: tuple(list(r.values())[1:]) for r in table}
            assert click == duck
    finally:
        sess.close()


def test_config_and_report_over_http(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    assert (
        client.get("/api/v1/rfm/config", headers=ws.api_headers).json() == RfmConfig().model_dump()
    )
    bad = client.put(
        "/api/v1/rfm/config", headers=ws.api_headers,
        json={"method": "thresholds", "frequency_thresholds": [3, 2, 5, 10]},
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "frequency_thresholds"
    config = {"method": "thresholds", "period_days": 730}
    put = client.put("/api/v1/rfm/config", headers=ws.api_headers, json=config)
    assert put.status_code == 200, put.text
    assert client.get("/api/v1/rfm/config", headers=ws.api_headers).json()["period_days"] == 730
    assert (
        client.get("/api/v1/rfm/config", headers=other_ws.api_headers).json()["period_days"] == 365
    )

    now = datetime.now(UTC)
    rows = [
        (1, "a", "paid", 2000.0, now - timedelta(days=2)),
        (2, "b", "paid", 10.0, now - timedelta(days=500)),
        (3, "c", "cancelled", 10.0, now - timedelta(days=5)),  # not counted
    ]
    store(container, ws.id, rows, first_id=0)
    store(container, other_ws.id, [(9, "z", "paid", 5.0, now)], first_id=100)
    body = client.get("/api/v1/rfm/report", headers=ws.api_headers).json()
    assert body["buyers"] == 2
    assert len(body["grid"]) == 25
    by_cell = {c["name"]: c for c in body["cells"]}
    assert [c["name"] for c in body["cells"]] == list(CELLS)
    assert by_cell["new_customers"]["count"] == 1  # R 5, F 1
    assert by_cell["lost"]["count"] == 1  # 500 days: R 1, F 1
    assert by_cell["lost"]["share"] == 0.5
    assert by_cell["lost"]["label"] == "Lost"
    cell = next(g for g in body["grid"] if (g["r"], g["f"]) == (5, 1))
    assert (cell["count"], cell["monetary_avg"]) == (1, 2000.0)
    assert body["computed_at"]
    assert body["elapsed_ms"] >= 0
    assert client.get("/api/v1/rfm/report").status_code == 401


def test_no_config_means_the_defaults() -> None:
    default = rfm_query(RfmConfig(), "clickhouse", NOW).sql("clickhouse")
    assert rfm_query(None, "clickhouse", NOW).sql("clickhouse") == default
