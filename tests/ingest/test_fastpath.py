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


def test_the_server_app_answers_segment_posts_before_fastapi(client, ws: Workspace) -> None:
    from retenta.ingest.fastpath import SegmentFastAPI

    assert isinstance(client.app, SegmentFastAPI)
    auth = "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()
    event = {"type": "track", "event": "Viewed", "userId": "u-4", "messageId": "fp-4"}
    reached: list[str] = []
    stack = client.app.middleware_stack  # FastAPI's own layers, built by the lifespan

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await stack(scope, receive, send)

    client.app.middleware_stack = recorded
    try:
        res = client.post("/v1/track", json=event, headers={"Authorization": auth})
        assert (res.status_code, res.json()) == (200, {"success": True})
        assert client.get("/healthz").status_code == 200
    finally:
        client.app.middleware_stack = stack
    assert reached == ["/healthz"]


Headers = list[tuple[bytes, bytes]]


def raw_call(
    app: Any, container: Container, headers: Headers, chunks: list[dict[str, Any]]
) -> tuple[int, Headers, bytes]:
    """``POST /v1/track`` with the body in the given ASGI messages; status, headers, body."""
    scope = {
        "type": "http", "method": "POST", "path": "/v1/track", "query_string": b"",
        "headers": headers, "client": ("10.9.8.7", 5000),
        "app": SimpleNamespace(state=SimpleNamespace(container=container)),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    pending = iter(chunks)

    async def receive() -> dict[str, Any]:
        return next(pending)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[0]["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def test_the_fast_path_reads_a_body_in_several_messages_and_sends_starlettes_headers(
    container, ws: Workspace
) -> None:
    app = SegmentFastPath(InnerApp())
    auth = ("Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()).encode()
    body = orjson.dumps({"type": "track", "event": "Viewed", "userId": "u-2", "messageId": "fp-2"})
    parts = [{"type": "http.request", "body": body[:10], "more_body": True},
             {"type": "http.request", "body": body[10:], "more_body": False}]  # fmt: skip
    status, headers, answer = raw_call(app, container, [(b"authorization", auth)], parts)
    assert (status, answer) == (200, b'{"success":true}')
    assert headers == [(b"content-length", b"16"), (b"content-type", b"application/json")]
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM all_events WHERE message_id = 'fp-2'").fetchone()
    # A 401 carries WWW-Authenticate before the length and type, as Starlette orders them.
    whole = [{"type": "http.request", "body": body}]
    status, headers, answer = raw_call(app, container, [], whole)
    assert status == 401
    assert headers[0] == (b"www-authenticate", b'Basic realm="retenta"')
    assert headers[1:] == [(b"content-length", str(len(answer)).encode()),
                           (b"content-type", b"application/json")]  # fmt: skip
    assert orjson.loads(answer)["code"] == "unauthorized"
    # A declared length over the limit is refused before the body is read.
    too_long = [(b"authorization", auth), (b"content-length", b"999999")]
    status, _, answer = raw_call(app, container, too_long, [])
    assert (status, orjson.loads(answer)["code"]) == (413, "payload_too_large")
    # Gone before its body arrived: a quiet 400, nothing stored.
    gone = [{"type": "http.request", "body": body[:10], "more_body": True},
            {"type": "http.disconnect"}]  # fmt: skip
    assert raw_call(app, container, [(b"authorization", auth)], gone) == (
        400, [(b"content-length", b"0")], b"")  # fmt: skip


def test_the_declared_route_answers_as_the_fast_path(container, ws: Workspace) -> None:
    """The routes stay declared (OpenAPI); without the middleware they give the same answers."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from retenta.ingest.router import router

    bare = FastAPI()
    bare.include_router(router)
    bare.state.container = container
    auth = {"Authorization": "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()}
    cases = [
        (auth, orjson.dumps({"event": "Viewed", "userId": "u-3", "messageId": "fp-3"})),
        (auth, b"{"),
        ({}, orjson.dumps({"event": "Viewed", "userId": "u-3"})),
        ({**auth, "Content-Encoding": "br"}, b"{}"),
        (auth, orjson.dumps({"userId": "u-3"})),
    ]
    with TestClient(bare) as declared:
        for headers, body in cases:
            res = declared.post("/v1/track", content=body, headers=headers)
            fast = SegmentFastPath(InnerApp())
            raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            chunks = [{"type": "http.request", "body": body, "more_body": False}]
            status, sent_headers, answer = raw_call(fast, container, raw, chunks)
            assert (res.status_code, res.content) == (status, answer)
            assert [(k.encode(), v.encode()) for k, v in res.headers.items()] == sent_headers
