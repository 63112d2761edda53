"""Events import: track messages through the ingest pipeline, deduplicated on re-import."""

from __future__ import annotations

from pathlib import Path

from retenta.app import Container
from tests.conftest import Workspace
from tests.imports.helpers import rejects, run_import, scalar, write_csv

HEADER = ["event", "email", "user_id", "time", "properties.store", "properties.amount"]
ROWS = [
    ["Store Visit", "ann@example.com", "", "2024-05-01T10:00:00Z", "Kyiv-1", "12"],
    ["Call Centre Call", "", "c-7", "2024-05-02 11:00", "", ""],
    ["Store Visit", "ann@example.com", "", "yesterday", "Kyiv-1", ""],
    ["", "ann@example.com", "", "2024-05-01", "", ""],
]


def test_events_are_ingested_and_deduplicated(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, ROWS)
    mapping: dict[str, str | None] = {
        "event": "event",
        "email": "email",
        "user_id": "external_id",
        "time": "timestamp",
        "properties.store": "properties.store",
        "properties.amount": "properties.amount",
    }
    job = run_import(container, ws.id, path, "events", mapping)
    assert job["status"] == "done", job["error"]
    assert (job["accepted_rows"], job["rejected_rows"]) == (2, 2)
    assert [(r["row_number"], r["field"]) for r in rejects(container, ws.id, job["id"])] == [
        (4, "timestamp"),
        (5, "event"),
    ]
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT event, source, properties->>'store', timestamp::VARCHAR FROM all_events"
            " WHERE workspace_id = ? ORDER BY timestamp",
            [ws.id],
        ).fetchall()
    assert rows == [
        ("Store Visit", "import", "Kyiv-1", "2024-05-01 10:00:00+00"),
        ("Call Centre Call", "import", None, "2024-05-02 11:00:00+00"),
    ]
    ann = container.identity.lookup(workspace_id=ws.id, id_type="email", value="ann@example.com")
    assert ann is not None
    again = run_import(container, ws.id, path, "events", mapping)
    assert (again["stats"]["stored"], again["stats"]["duplicates"]) == (0, 2)
    assert scalar(container, "SELECT count(*) FROM all_events WHERE workspace_id = ?", [ws.id]) == 2
