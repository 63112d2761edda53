"""``GET /metrics`` through the real app: what ingestion and the writer did, as counted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.settings import IdentitySettings, Settings
from retenta.storage.duckdb.compaction import CompactionPolicy
from tests.conftest import Workspace, make_workspace
from tests.identity.helpers import msg, resolve
from tests.ingest.servers import init_data_dir, serve_subprocess
from tests.metrics.samples import parsed, value

TOKEN = "scrape-me-4f2a"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[Container, TestClient]]:
    settings = Settings(data_dir=tmp_path / "data", background_workers=False, metrics_token=TOKEN)
    container = build_container(settings)
    try:
        with TestClient(create_app(container)) as client:
            yield container, client
    finally:
        container.close()


def scrape(client: TestClient) -> list[Any]:
    res = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain; version=")
    return parsed(res.text)


def event(mid: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": mid, **extra}


def test_ingestion_answers_outcomes_and_the_writer_are_counted(
    scraped: tuple[Container, TestClient],
) -> None:
    container, client = scraped
    ws: Workspace = make_workspace(container)
    batch = {"batch": [event("a"), event("b"), {"type": "track", "userId": "u1"}, event("c")]}
    for _ in range(2):  # the second time, the three valid events are duplicates
        res = client.post("/v1/batch", json=batch, headers=basic(ws.write_key))
        assert res.status_code == 200, res.text
    assert client.post("/v1/track", json=event("d"), headers=basic("wrong")).status_code == 401
    assert client.post("/v1/track", json=event("e"), headers=basic(ws.write_key)).status_code == 200

    got = scrape(client)
    assert value(got, "retenta_ingest_requests_total", endpoint="batch", status="200") == 2
    assert value(got, "retenta_ingest_requests_total", endpoint="track", status="401") == 1
    assert value(got, "retenta_ingest_requests_total", endpoint="track", status="200") == 1
    assert value(got, "retenta_ingest_request_duration_seconds_count", endpoint="batch") == 2
    assert value(got, "retenta_ingest_request_duration_seconds_count", endpoint="track") == 2
    top = value(got, "retenta_ingest_request_duration_seconds_bucket", endpoint="batch", le="+Inf")
    assert top == 2
    assert value(got, "retenta_ingest_events_total", outcome="stored") == 4  # a, b, c, e
    assert value(got, "retenta_ingest_events_total", outcome="duplicate") == 3
    assert value(got, "retenta_ingest_dead_letters_total") == 2  # the invalid one, twice
    assert value(got, "retenta_dead_letters_pending") == 2
    assert value(got, "retenta_ingest_units_total") == 3
    assert value(got, "retenta_ingest_backlog_events") == 0
    resolve = value(got, "retenta_ingest_phase_seconds_total", phase="resolve")
    assert resolve is not None
    assert resolve > 0
    committed = value(got, "retenta_storage_writer_units_total", outcome="committed")
    assert committed is not None
    assert committed >= 3
    assert value(got, "retenta_storage_writer_unit_duration_seconds_count") == committed
    wal = value(got, "retenta_storage_wal_bytes")
    assert wal is not None
    assert wal > 0
    limit = value(got, "retenta_storage_pool_limit_bytes")
    assert limit is not None
    assert limit > 0
    rss = value(got, "process_resident_memory_bytes")
    assert rss is not None
    assert rss > 50 * 2**20


def test_a_failed_unit_is_counted_as_rolled_back(scraped: tuple[Container, TestClient]) -> None:
    container, client = scraped

    def fails(cur: Any) -> None:
        cur.execute("CREATE TEMP TABLE metrics_probe (x INTEGER)")
        raise RuntimeError("this unit fails")

    with pytest.raises(RuntimeError):
        container.db.write(fails)
    assert value(scrape(client), "retenta_storage_writer_units_total", outcome="rolled_back") == 1


def test_the_token_is_required_and_an_api_key_is_not_it(
    scraped: tuple[Container, TestClient],
) -> None:
    container, client = scraped
    ws = make_workspace(container)
    for headers in ({}, ws.api_headers, {"Authorization": "Bearer not-the-token"}):
        res = client.get("/metrics", headers=headers)
        assert res.status_code == 401
        assert res.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in res.json()["error"]["message"]


def test_without_a_token_a_test_client_is_not_this_machine(client: TestClient) -> None:
    res = client.get("/metrics")
    assert res.status_code == 403
    assert "RETENTA_METRICS_TOKEN" in res.json()["error"]["message"]


def test_a_served_store_is_scraped_from_this_machine_only(tmp_path: Path) -> None:
    """``retenta serve`` without a token: a scraper on 127.0.0.1 reads the metrics, the same
    request through a local proxy (forwarding headers) does not, and the counters are the
    server's, for what its raw HTTP protocol answered (``ingest/protocol.py``)."""
    data = tmp_path / "data"
    keys = init_data_dir(data)
    with serve_subprocess(data) as (url, _):
        events = [event(f"m{i}", userId=f"u{i % 7}") for i in range(300)]
        sent = httpx.post(f"{url}/v1/batch", json={"batch": events}, timeout=30,
                          auth=(keys["write_key"], ""))  # fmt: skip
        assert sent.status_code == 200, sent.text
        refused = httpx.get(f"{url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.status_code == 403
        res = httpx.get(f"{url}/metrics", timeout=30)
    assert res.status_code == 200, res.text
    got = parsed(res.text)
    assert value(got, "retenta_ingest_events_total", outcome="stored") == 300
    assert value(got, "retenta_ingest_requests_total", endpoint="batch", status="200") == 1
    assert value(got, "retenta_ingest_request_duration_seconds_count", endpoint="batch") == 1


def test_compaction_steps_are_counted_once_committed(
    scraped: tuple[Container, TestClient],
) -> None:
    """A flush as the server's compaction loop runs it (``ContactService``): the step in the
    writer, then ``record`` once it has committed."""
    container, client = scraped
    ws = make_workspace(container)
    batch = {"batch": [event(f"m{i}") for i in range(20)]}
    assert client.post("/v1/batch", json=batch, headers=basic(ws.write_key)).status_code == 200
    compactor = container.contacts.compactor
    compactor.policy = CompactionPolicy(flush_rows=10)
    action, took = container.db.write(compactor.timed_step)
    compactor.record(action, took)
    got = scrape(client)
    assert action == "flush"
    assert value(got, "retenta_compaction_steps_total", kind="flush", tier="") == 1
    assert value(got, "retenta_compaction_seconds_total", kind="flush", tier="") == pytest.approx(
        took
    )


def test_the_identifier_map_reports_its_misses(tmp_path: Path) -> None:
    """After a restart the map holds the most recently seen owners (here at most 16): an
    older person's id is read from the store and found; a new one is ruled out unread."""
    settings = Settings(
        data_dir=tmp_path / "data", background_workers=False, metrics_token=TOKEN,
        identity=IdentitySettings(cache_entries=16),
    )  # fmt: skip
    first = build_container(settings)
    ws = make_workspace(first)
    resolve(first, [msg(ws.id, "identify", user=f"u{i}", minutes=i) for i in range(40)])
    first.close()
    container = build_container(settings)
    try:
        with TestClient(create_app(container)) as client:
            before = scrape(client)
            assert value(before, "retenta_identity_map_capacity") == 16
            held = value(before, "retenta_identity_map_entries")
            assert held is not None
            assert 0 < held <= 16
            assert value(before, "retenta_identity_map_misses_total", outcome="read") == 0
            for user in ("u0", "someone-new"):  # the oldest person, then nobody known
                sent = client.post("/v1/track", json={**event(f"m-{user}"), "userId": user},
                                   headers=basic(ws.write_key))  # fmt: skip
                assert sent.status_code == 200, sent.text
            got = scrape(client)
    finally:
        container.close()
    assert value(got, "retenta_identity_map_misses_total", outcome="read") == 1
    assert value(got, "retenta_identity_map_misses_total", outcome="found") == 1
    assert value(got, "retenta_identity_map_misses_total", outcome="ruled_new") == 1


def test_the_intake_journal_is_counted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", background_workers=False, metrics_token=TOKEN,
        ingest_acknowledge="journal",
    )  # fmt: skip
    container = build_container(settings)
    try:
        with TestClient(create_app(container)) as client:
            ws: Workspace = make_workspace(container)
            for i in range(3):
                batch = {"batch": [event(f"j{i}a"), event(f"j{i}b")]}
                res = client.post("/v1/batch", json=batch, headers=basic(ws.write_key))
                assert res.status_code == 200, res.text
            # an API read waits for what was answered from the journal to be committed
            assert client.get("/api/v1/dead-letters", headers=ws.api_headers).status_code == 200
            got = scrape(client)
    finally:
        container.close()
    assert value(got, "retenta_ingest_journal_answered_requests_total") == 3
    syncs = value(got, "retenta_ingest_journal_syncs_total")
    assert syncs is not None
    assert 1 <= syncs <= 3
    assert value(got, "retenta_ingest_journal_lag_events") == 0
    assert value(got, "retenta_ingest_journal_unapplied_records") == 0
    assert value(got, "retenta_ingest_journal_held") == 0
    assert value(got, "retenta_ingest_events_total", outcome="stored") == 6
