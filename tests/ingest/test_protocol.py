"""The lean HTTP protocol writes, byte for byte, what uvicorn writes through the ASGI path."""

from __future__ import annotations

import base64
import gzip
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import uvicorn

from retenta.app import Container, create_app
from retenta.ingest.protocol import SegmentHttpProtocol
from tests.conftest import Workspace
from tests.ingest.servers import free_port, wait_healthy


@contextmanager
def serving(container: Container, http: Any) -> Iterator[int]:
    """uvicorn in a thread with the given HTTP protocol; no lifespan, so both servers of a
    test may share the container (the pipeline writes each request as its own unit)."""
    port = free_port()
    config = uvicorn.Config(create_app(container), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", http=http)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def exchange(port: int, raw: bytes, responses: int = 1) -> tuple[list[bytes], bool]:
    """Send ``raw`` on one connection; the responses read back (the ``date`` header's value
    blanked) and whether the server closed the connection after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        buf, out = b"", []
        while len(out) < responses:
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0 and buf.startswith(b"HTTP/1.1 100 "):
                out.append(buf[: head_end + 4])
                buf = buf[head_end + 4 :]
                continue
            if head_end >= 0:
                head = buf[:head_end].decode("latin-1")
                length = int(next(line.split(":", 1)[1] for line in head.split("\r\n")
                                  if line.lower().startswith("content-length:")))  # fmt: skip
                if len(buf) >= head_end + 4 + length:
                    out.append(buf[: head_end + 4 + length])
                    buf = buf[head_end + 4 + length :]
                    continue
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {len(out)} responses: {buf!r}")
            buf += chunk
        sock.settimeout(0.3)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    return [_blank_date(r) for r in out], closed


def _blank_date(response: bytes) -> bytes:
    lines = response.split(b"\r\n")
    return b"\r\n".join(b"date: -" if line.startswith(b"date: ") else line for line in lines)


def post(
    body: bytes, headers: dict[str, str], path: str = "/v1/track", version: str = "1.1"
) -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: localhost"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if "Transfer-Encoding" not in headers and "Content-Length" not in headers:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def cases(ws: Workspace) -> list[tuple[str, bytes, int, int]]:
    """``(name, raw request bytes, responses expected, status of the last)`` for every way
    a ``/v1`` request is answered."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()}
    event = orjson.dumps({"event": "Viewed", "userId": "u-1", "messageId": "pr-1"})
    identify = orjson.dumps({"userId": "u-1", "traits": {"a": 1}})
    batch = orjson.dumps({"batch": [{"type": "track", "event": "E", "userId": "u"},
                                    {"type": "track", "userId": "u"}]})  # fmt: skip
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, event[:10], len(event) - 10, event[10:])
    return [
        ("stored", post(event, auth), 1, 200),
        ("duplicate", post(event, auth), 1, 200),
        ("identify", post(identify, auth, "/v1/identify"), 1, 200),
        ("batch", post(batch, auth, "/v1/batch"), 1, 200),
        ("query string", post(event, auth, "/v1/track?x=1"), 1, 200),
        ("bad json", post(b"{", auth), 1, 400),
        ("invalid event", post(orjson.dumps({"userId": "u-1"}), auth), 1, 400),
        ("no key", post(event, {}), 1, 401),
        ("wrong key", post(event, {"Authorization": "Basic eHg6"}), 1, 401),
        ("declared too large", post(b"", {**auth, "Content-Length": "999999"}), 1, 413),
        ("unknown encoding", post(b"{}", {**auth, "Content-Encoding": "br"}), 1, 415),
        ("gzip", post(gzip.compress(event), {**auth, "Content-Encoding": "gzip"}), 1, 200),
        ("chunked", post(chunked, {**auth, "Transfer-Encoding": "chunked"}), 1, 200),
        ("pipelined", post(event, auth) + post(b"{", auth) + post(event, {}), 3, 401),
        ("http/1.0", post(event, auth, version="1.0"), 1, 200),
        ("connection close", post(event, {**auth, "Connection": "close"}), 1, 200),
        ("100-continue", post(event, {**auth, "Expect": "100-continue"}), 2, 200),
    ]


def test_lean_answers_are_uvicorns_bytes(container: Container, ws: Workspace, monkeypatch) -> None:
    lean_calls: list[str] = []
    answer = SegmentHttpProtocol._answer

    async def counted(self: SegmentHttpProtocol, cycle: Any, endpoint: str) -> None:
        lean_calls.append(endpoint)
        await answer(self, cycle, endpoint)

    monkeypatch.setattr(SegmentHttpProtocol, "_answer", counted)
    with serving(container, "httptools") as plain, serving(container, SegmentHttpProtocol) as lean:
        for name, raw, n, status in cases(ws):
            expected = exchange(plain, raw, n)
            assert exchange(lean, raw, n) == expected, name
            assert expected[0][-1].startswith(b"HTTP/1.1 %d " % status), name
        assert exchange(lean, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0][0].startswith(
            b"HTTP/1.1 200 "
        )
    # every request went the lean way (the 100-continue case has one request, two responses)
    assert len(lean_calls) == sum(c[2] for c in cases(ws)) - 1
    with container.db.read() as cur:
        stored = cur.execute("SELECT count(*) FROM all_events WHERE message_id = 'pr-1'").fetchone()
    assert stored == (1,)  # one event, whichever server stored it first


@pytest.mark.parametrize("forwarded", [True, False])
def test_forwarded_requests_keep_uvicorns_proxy_headers(
    container: Container, ws: Workspace, forwarded: bool
) -> None:
    """Behind a local proxy ``X-Forwarded-For`` still becomes ``context.ip`` (the ASGI way,
    through uvicorn's middleware); without it the lean way stores the peer's address."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{ws.write_key}:".encode()).decode()}
    headers = {**auth, "X-Forwarded-For": "203.0.113.9"} if forwarded else auth
    mid = f"fw-{forwarded}"
    event = orjson.dumps({"event": "Viewed", "userId": "u-9", "messageId": mid})
    with serving(container, SegmentHttpProtocol) as lean:
        (response,), _ = exchange(lean, post(event, headers))
    assert response.startswith(b"HTTP/1.1 200 ")
    with container.db.read() as cur:
        (context,) = cur.execute(
            "SELECT context FROM all_events WHERE message_id = ?", [mid]
        ).fetchone()
    assert orjson.loads(context)["ip"] == ("203.0.113.9" if forwarded else "127.0.0.1")
