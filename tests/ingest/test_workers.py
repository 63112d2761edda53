"""The multi-process ingest front: real worker processes, real sockets, the real writer.

The server runs in this process (uvicorn in a thread) with ``ingest_workers=2``: its
lifespan starts ``IngestFront``, which spawns two ``retenta.ingest.worker`` processes on
the ingest port. Every request is sent to the server's own port and to the ingest port,
and the answers and what was stored must be the same.
"""

from __future__ import annotations

import gzip
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from segment.analytics import Client as SegmentClient

from retenta.app import Container, build_container, create_app
from retenta.ingest.front import IngestFront
from retenta.settings import Settings
from tests.conftest import Workspace, make_workspace
from tests.ingest.servers import readable, threaded_server
from tests.ingest.test_clients import check_all_calls_stored, send_every_call
from tests.ingest.test_http import basic
from tests.metrics.samples import parsed, value

JSON = {"Content-Type": "application/json"}
TIMEOUT = 60  # a loaded 2-core machine: a first unit can take seconds


@pytest.fixture
def front_container(tmp_path) -> Iterator[Container]:
    settings = Settings(data_dir=tmp_path / "data", background_workers=False, ingest_workers=2)
    c = build_container(settings)
    yield c
    c.close()


def front_of(container: Container) -> IngestFront:
    [front] = [s for s in container.lifecycle if isinstance(s, IngestFront)]
    return front


def wait_for_workers(url: str, workers: int, timeout: float = 60.0) -> set[int]:
    """The pids that answered ``/healthz`` on the ingest port (all ``workers`` of them)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers and time.monotonic() < deadline:
        try:  # a new connection each time: the kernel hands it to either worker
            seen.add(httpx.get(f"{url}/healthz", timeout=2).json()["pid"])
        except httpx.HTTPError:
            time.sleep(0.05)
    assert len(seen) == workers, f"only {seen} of {workers} workers answered"
    return seen


@pytest.fixture
def ports(front_container) -> Iterator[tuple[str, str]]:
    """(the server's URL, the ingest workers' URL)."""
    with threaded_server(create_app(front_container)) as url:
        ingest = f"http://127.0.0.1:{front_of(front_container).port}"
        wait_for_workers(ingest, 2)
        yield url, ingest


def stored(container: Container, ws: Workspace) -> list[tuple[Any, ...]]:
    """Events as the two doors must both store them (times of receipt left out)."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT message_id, type, event, user_id, anonymous_id, original_timestamp,"
            " properties, traits, context FROM all_events WHERE workspace_id = ?"
            " ORDER BY message_id",
            [ws.id],
        ).fetchall()
    return [(*r[:6], *(orjson.loads(v) if v else None for v in r[6:])) for r in rows]


def letters(container: Container, ws: Workspace) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT endpoint, payload, errors FROM dead_letters WHERE workspace_id = ?"
            " ORDER BY endpoint, payload",
            [ws.id],
        ).fetchall()
    return [(r[0], orjson.loads(r[1]), orjson.loads(r[2])) for r in rows]


def cases(ws: Workspace) -> list[tuple[str, dict[str, str], bytes]]:
    """(path, headers, body): every kind of answer the Segment endpoints give."""
    key = basic(ws.write_key)
    ctx = {"locale": "uk-UA", "timezone": "Europe/Kyiv", "page": {"url": "https://s.example/"}}
    ev = {"userId": "u1", "event": "Product Viewed", "context": ctx, "messageId": "m-track"}
    big = {"userId": "u1", "event": "X", "properties": {"blob": "x" * 40_000}}
    batch = {"batch": [{"type": "track", "userId": "u2", "event": "A", "messageId": "m-b1"},
                       {"type": "track", "event": "No One", "messageId": "m-b2"},
                       {"type": "identify", "userId": "u2", "traits": {"email": "o@s.example"},
                        "timestamp": "2026-01-02T03:04:05Z", "messageId": "m-b3"}],
             "context": {"library": {"name": "t"}}, "sentAt": "2026-01-02T03:04:06Z"}  # fmt: skip
    return [
        ("/v1/track", key, orjson.dumps(ev)),
        ("/v1/track", key, orjson.dumps(ev)),  # a retry: a no-op
        ("/v1/identify", key, orjson.dumps({"userId": "u1", "traits": {"email": "a@s.example"}})),
        ("/v1/page", key, orjson.dumps({"anonymousId": "a1", "name": "Home", "messageId": "m-p"})),
        ("/v1/screen", key, orjson.dumps({"userId": "u1", "name": "Cart", "messageId": "m-s"})),
        ("/v1/group", key, orjson.dumps({"userId": "u1", "groupId": "g1", "messageId": "m-g"})),
        ("/v1/alias", key, orjson.dumps({"previousId": "a1", "userId": "u1", "messageId": "m-a"})),
        ("/v1/track", {}, orjson.dumps({**ev, "writeKey": ws.write_key, "messageId": "m-wk"})),
        ("/v1/batch", key, orjson.dumps(batch)),
        ("/v1/import", key, orjson.dumps({"batch": [{**ev, "type": "track", "messageId": "m-i"}]})),
        (
            "/v1/track",
            {**key, "Content-Encoding": "gzip"},
            gzip.compress(orjson.dumps({**ev, "messageId": "m-gz"})),
        ),
        ("/v1/track", {**key, "Content-Encoding": "gzip"}, b"not gzip"),
        ("/v1/track", {**key, "Content-Encoding": "br"}, orjson.dumps(ev)),
        ("/v1/track", key, b'{"userId": "u1",'),
        ("/v1/track", key, b""),
        ("/v1/track", key, orjson.dumps({"userId": 7, "event": "Bad"})),
        ("/v1/batch", key, orjson.dumps({"batch": {"not": "a list"}})),
        ("/v1/batch", key, orjson.dumps({"batch": [{"type": "track"}, 5]})),
        ("/v1/track", key, orjson.dumps(big)),
        ("/v1/track", {}, orjson.dumps(ev)),
        ("/v1/track", basic("rtw_wrong"), orjson.dumps(ev)),
        ("/v1/track", basic(ws.api_key), orjson.dumps(ev)),
    ]


def answer(res: httpx.Response) -> tuple[int, bytes, str | None, str | None]:
    return (res.status_code, res.content, res.headers.get("retry-after"),
            res.headers.get("www-authenticate"))  # fmt: skip


def test_workers_answer_and_store_exactly_as_the_server_does(front_container, ports) -> None:
    """Same status, body and headers for every case, the same events and dead letters, and
    each acknowledged event readable once its 200 arrives (read-your-writes: after an API
    read, which waits for what was answered from the intake journal)."""
    server_url, ingest_url = ports
    by_server = make_workspace(front_container, "Server door")
    by_worker = make_workspace(front_container, "Worker door")
    with httpx.Client(timeout=TIMEOUT) as http:
        for (path, headers, body), (_, w_headers, w_body) in zip(
            cases(by_server), cases(by_worker), strict=True
        ):
            expected = answer(
                http.post(server_url + path, headers={**JSON, **headers}, content=body)
            )
            got = answer(
                http.post(ingest_url + path, headers={**JSON, **w_headers}, content=w_body)
            )
            assert got == expected, path
            if got[0] == 200:  # readable now, from this process's storage
                readable(server_url, by_worker.api_key)
                assert len(stored(front_container, by_worker)) == len(
                    stored(front_container, by_server)
                )
    server_rows = stored(front_container, by_server)
    assert len(server_rows) == 12
    assert stored(front_container, by_worker) == server_rows  # context.ip: both 127.0.0.1
    assert letters(front_container, by_worker) == letters(front_container, by_server)
    assert len(letters(front_container, by_server)) == 3


def test_a_revoked_key_is_refused_by_the_workers_within_a_second(front_container, ports) -> None:
    _, ingest_url = ports
    ws = make_workspace(front_container)
    body = orjson.dumps({"userId": "u1", "event": "X"})
    with httpx.Client(timeout=TIMEOUT, base_url=ingest_url) as http:
        assert (
            http.post(
                "/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT
            ).status_code
            == 200
        )
        [key] = [k for k in front_container.tenancy.list_keys(workspace_id=ws.id) if
                 k["kind"] == "write"]  # fmt: skip
        front_container.tenancy.revoke_key(workspace_id=ws.id, key_id=key["id"])
        time.sleep(1.1)
        for _ in range(4):  # either worker
            res = http.post("/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT)
            assert (res.status_code, res.json()["code"]) == (401, "unauthorized")


def test_an_overloaded_writer_refuses_worker_requests_with_retry_after(
    front_container, ports
) -> None:
    server_url, ingest_url = ports
    ws = make_workspace(front_container)
    body = orjson.dumps({"userId": "u1", "event": "X", "messageId": "busy"})
    front_container.ingest._backlog = 50_000  # as if the writer were that far behind
    try:
        got = httpx.post(
            ingest_url + "/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT
        )
        expected = httpx.post(
            server_url + "/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT
        )
    finally:
        front_container.ingest._backlog = 0
    assert answer(got) == answer(expected)
    assert (got.status_code, got.headers["retry-after"], got.json()["code"]) == (
        503, "1", "overloaded")  # fmt: skip
    assert stored(front_container, ws) == []
    res = httpx.post(
        ingest_url + "/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT
    )
    assert res.status_code == 200  # the retry is taken once the backlog is gone
    readable(server_url, ws.api_key)
    assert [r[0] for r in stored(front_container, ws)] == ["busy"]


def test_the_segment_client_through_the_workers(front_container, ports) -> None:
    server_url, ingest_url = ports
    ws = make_workspace(front_container)
    errors: list[Exception] = []
    client = SegmentClient(ws.write_key, host=ingest_url, on_error=lambda e, b: errors.append(e))
    send_every_call(client, "w")
    send_every_call(client, "w")  # the same messageIds again: a retry
    client.flush()
    client.shutdown()
    assert errors == []
    readable(server_url, ws.api_key)
    check_all_calls_stored(front_container, ws.id, "w")


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(front_container, ports) -> None:
    _, ingest_url = ports
    ws = make_workspace(front_container)
    before = {w.proc.pid for w in front_of(front_container).workers}
    victim = next(iter(before))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while victim in {w.proc.pid for w in front_of(front_container).workers}:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.05)
    after = wait_for_workers(ingest_url, 2)
    assert victim not in after
    assert len(after & before) == 1
    body = orjson.dumps({"userId": "u1", "event": "X", "messageId": "after-kill"})
    for _ in range(4):  # either worker
        res = httpx.post(
            ingest_url + "/v1/track", content=body, headers=basic(ws.write_key), timeout=TIMEOUT
        )
        assert res.status_code == 200
    assert [r[0] for r in stored(front_container, ws)] == ["after-kill"]


def test_workers_stop_with_the_server(front_container) -> None:
    with threaded_server(create_app(front_container)):
        front = front_of(front_container)
        procs = [w.proc for w in front.workers]
        wait_for_workers(f"http://127.0.0.1:{front.port}", 2)
    assert all(p.poll() is not None for p in procs)


def test_the_workers_answers_are_counted_on_the_writers_metrics(front_container, ports) -> None:
    """Each worker sends what it counted every second; ``/metrics`` on the server's port
    shows the answers of both doors together."""
    server_url, ingest_url = ports
    ws = make_workspace(front_container)
    event = {"type": "track", "userId": "u1", "event": "Viewed"}
    with httpx.Client(timeout=TIMEOUT) as http:
        for n in range(3):
            body = orjson.dumps({**event, "messageId": f"w-{n}"})
            res = http.post(
                f"{ingest_url}/v1/track", headers={**JSON, **basic(ws.write_key)}, content=body
            )
            assert res.status_code == 200, res.text
        refused = http.post(
            f"{ingest_url}/v1/track", headers={**JSON, **basic("nope")}, content=b"{}"
        )
        assert refused.status_code == 401
        body = orjson.dumps({**event, "messageId": "s-1"})
        res = http.post(
            f"{server_url}/v1/track", headers={**JSON, **basic(ws.write_key)}, content=body
        )
        assert res.status_code == 200, res.text
        deadline, got = time.monotonic() + 10, []
        while time.monotonic() < deadline:
            got = parsed(http.get(f"{server_url}/metrics").text)
            # all five answers in (a worker's report may fall between two of them)
            if value(got, "retenta_ingest_request_duration_seconds_count", endpoint="track") == 5:
                break
            time.sleep(0.2)
    assert value(got, "retenta_ingest_requests_total", endpoint="track", status="200") == 4
    assert value(got, "retenta_ingest_requests_total", endpoint="track", status="401") == 1
    assert value(got, "retenta_ingest_request_duration_seconds_count", endpoint="track") == 5
    top = value(got, "retenta_ingest_request_duration_seconds_bucket", endpoint="track", le="+Inf")
    assert top == 5
