"""A replay with 10% duplicates and shuffled, concurrent retries stores each event once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from retenta.app import create_app
from tests.ingest.servers import threaded_server

UNIQUE = 1_000


def replay_stream(rng: random.Random) -> list[list[dict[str, Any]]]:
    """Batches over 1,000 unique events plus 10% duplicates, shuffled; some sent twice."""
    events = [
        {"type": "track", "event": "Replayed", "userId": f"u{i % 37}", "messageId": f"e-{i}",
         "timestamp": "2026-01-01T00:00:00Z"}
        for i in range(UNIQUE)
    ]  # fmt: skip
    stream = events + [rng.choice(events) for _ in range(UNIQUE // 10)]
    rng.shuffle(stream)
    batches = [stream[i : i + 25] for i in range(0, len(stream), 25)]
    retries = rng.sample(batches, len(batches) // 5)  # a client re-sending whole requests
    sends = batches + retries
    rng.shuffle(sends)
    return sends


def test_http_replay_with_duplicates_and_retries_gives_no_duplicate_events(container, ws) -> None:
    sends = replay_stream(random.Random(11))

    def send(batch: list[dict[str, Any]]) -> int:
        return http.post("/v1/batch", json={"batch": batch}).status_code

    with (
        threaded_server(create_app(container)) as url,
        httpx.Client(base_url=url, auth=(ws.write_key, ""), timeout=30) as http,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        codes = list(pool.map(send, sends))
    assert set(codes) == {200}
    with container.db.read() as cur:
        total, distinct = cur.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM all_events WHERE workspace_id = ?",
            [ws.id],
        ).fetchall()[0]
    assert (total, distinct) == (UNIQUE, UNIQUE)
