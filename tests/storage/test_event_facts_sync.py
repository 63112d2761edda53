"""The segments' time-ordered event copy stays exact through flushes and direct tier appends,
so the fast path is the one a live store uses (not only right after a rebuild)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.storage.duckdb import compaction, event_facts
from tests.conftest import Workspace


def test_a_flush_keeps_the_copy_in_sync(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    batch = [{"type": "track", "userId": f"u{n % 7}", "event": "Product Viewed",
              "properties": {"category": "Shoes" if n % 2 else "Bags", "price": n}}
             for n in range(40)]  # fmt: skip
    assert client.post("/v1/batch", json={"batch": batch}, auth=ws.write_auth).status_code == 200
    with container.db.read() as cur:
        assert event_facts.in_sync(cur)  # nothing flushed yet: 0 = 0
    moved = container.db.write(lambda conn: compaction.flush(conn, max_rows=1_000))
    assert moved == 40
    with container.db.read() as cur:
        assert event_facts.in_sync(cur)
        rows = cur.execute(
            "SELECT category, count(*) FROM event_facts GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert rows == [("Bags", 20), ("Shoes", 20)]
