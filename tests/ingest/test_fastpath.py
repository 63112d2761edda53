"""The ASGI fast path answers the Segment endpoints itself and passes everything else on."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace
from typing import Any

import orjson

from retenta.app import Container
from retenta.ingest.fastpath import SegmentFastPath
from tests.conftest import Workspace


class InnerApp:
    """Stands for FastAPI: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(app: Any, container: Container, method: str, path: str, body: bytes, auth: str) -> Any:
    scope = {
        "type": "http", "method": method, "path": path, "query_string": b"",
        "headers": [(b"authorization", auth.encode()), (b"content-type", b"application/json")],
        "client": ("10.9.8.7", 5000),
        "app": SimpleNamespace(state=SimpleNamespace(container=container)),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_segment_posts_are_answered_without_reaching_the_app(container, ws: Workspace) -> None:
    inner = InnerApp()
    app = SegmentFastPath(inner)
    auth = "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()
    event = {"type": "track", "event": "Viewed", "userId": "u-1", "messageId": "fp-1"}
    status, body = call(app, container, "POST", "/v1/track", orjson.dumps(event), auth)
    assert (status, orjson.loads(body)) == (200, {"success": True})
    status, body = call(app, container, "POST", "/v1/track", b"{", auth)
    assert status == 400
    assert orjson.loads(body)["code"] == "invalid_json"
    assert inner.paths == []
    with container.db.read() as cur:
        rows = cur.execute("SELECT context FROM all_events WHERE message_id = 'fp-1'").fetchall()
    assert orjson.loads(rows[0][0])["ip"] == "10.9.8.7"


def test_everything_else_goes_to_the_app(container, ws: Workspace) -> None:
    inner = InnerApp()
    app = SegmentFastPath(inner)
    assert call(app, container, "GET", "/v1/track", b"", "")[0] == 204
    assert call(app, container, "POST", "/v1/unknown", b"{}", "")[0] == 204
    assert call(app, container, "POST", "/api/v1/contacts", b"{}", "")[0] == 204
    assert inner.paths == ["/v1/track", "/v1/unknown", "/api/v1/contacts"]


def test_the_server_app_has_the_fast_path(client) -> None:
    assert any(m.cls is SegmentFastPath for m in client.app.user_middleware)
