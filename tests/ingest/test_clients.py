"""The official Segment and RudderStack Python clients, unchanged, against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from retenta.app import create_app
from tests.ingest.servers import readable, threaded_server

CONTEXT = {
    "ip": "203.0.113.9",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
    "page": {"url": "https://shop.example/cart", "path": "/cart"},
    "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
    "locale": "uk-UA",
    "timezone": "Europe/Kyiv",
}


@pytest.fixture
def server_url(container) -> Iterator[str]:
    with threaded_server(create_app(container)) as url:
        yield url


def send_every_call(client: Any, prefix: str) -> None:
    client.identify(
        "user-1", {"email": "olena@example.com"}, context=CONTEXT, message_id=f"{prefix}-identify"
    )
    client.track(
        "user-1",
        "Product Viewed",
        {"sku": "SKU-1", "price": 9.5},
        context=CONTEXT,
        message_id=f"{prefix}-track",
    )
    client.page(
        "user-1", "Shop", "Cart", {"title": "Cart"}, context=CONTEXT, message_id=f"{prefix}-page"
    )
    client.screen("user-1", "App", "Home", context=CONTEXT, message_id=f"{prefix}-screen")
    client.group(
        "user-1", "company-1", {"name": "Acme"}, context=CONTEXT, message_id=f"{prefix}-group"
    )
    client.alias("anon-previous", "user-1", context=CONTEXT, message_id=f"{prefix}-alias")


def stored(container, ws_id: str) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT message_id, type, event, context FROM all_events WHERE workspace_id = ?",
            [ws_id],
        ).fetchall()
    return {r[0]: (r[1], r[2], orjson.loads(r[3])) for r in rows}


def check_all_calls_stored(container, ws_id: str, prefix: str) -> None:
    rows = stored(container, ws_id)
    expected_types = ["identify", "track", "page", "screen", "group", "alias"]
    assert sorted(rows) == sorted(f"{prefix}-{t}" for t in expected_types)
    assert [rows[f"{prefix}-{t}"][0] for t in expected_types] == expected_types
    assert rows[f"{prefix}-track"][1] == "Product Viewed"
    assert rows[f"{prefix}-page"][1] == "Cart"
    for _, _, context in rows.values():
        for key in ("ip", "userAgent", "page", "campaign", "locale", "timezone"):
            assert context[key] == CONTEXT[key]
        assert "library" in context  # the SDK's own context is kept too


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_client_sync_mode(server_url, container, ws, gzip) -> None:
    errors: list[Exception] = []
    client = SegmentClient(
        ws.write_key,
        host=server_url,
        sync_mode=True,
        gzip=gzip,
        on_error=lambda e, batch: errors.append(e),
    )
    send_every_call(client, "seg")
    assert errors == []
    readable(server_url, ws.api_key)
    check_all_calls_stored(container, ws.id, "seg")


def test_segment_client_background_queue_and_retry_dedup(server_url, container, ws) -> None:
    errors: list[Exception] = []
    client = SegmentClient(ws.write_key, host=server_url, on_error=lambda e, b: errors.append(e))
    send_every_call(client, "q")
    send_every_call(client, "q")  # the same messageIds again: a retry
    client.flush()
    client.shutdown()
    assert errors == []
    readable(server_url, ws.api_key)
    check_all_calls_stored(container, ws.id, "q")


@pytest.mark.parametrize("gzip", [True, False])
def test_rudderstack_client(server_url, container, ws, gzip) -> None:
    errors: list[Exception] = []
    client = RudderClient(
        ws.write_key,
        host=server_url,
        gzip=gzip,
        sync_mode=True,
        on_error=lambda e, batch: errors.append(e),
    )
    send_every_call(client, "rs")
    client.flush()
    assert errors == []
    readable(server_url, ws.api_key)
    check_all_calls_stored(container, ws.id, "rs")


def test_client_with_a_wrong_key_reports_the_error_without_retrying_forever(server_url, ws) -> None:
    errors: list[Exception] = []
    client = SegmentClient(
        "wk_wrong",
        host=server_url,
        sync_mode=True,
        max_retries=2,
        on_error=lambda e, batch: errors.append(e),
    )
    with pytest.raises(Exception, match="invalid or revoked write key"):
        client.track("user-1", "X")
