"""SQL-template segments through the segment API: saved, previewed, refreshed and exported
like rule segments; a refused template is a 400 naming ``sql`` and the reason."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.segments.conftest import BASE, error_of

VIEWERS_SQL = (
    "SELECT contact_id FROM events WHERE event = 'Product Viewed'\n"
    "GROUP BY contact_id HAVING count(*) >= @n"
)


def sql_body(sql: str = VIEWERS_SQL, n: int = 2, **extra: object) -> dict[str, object]:
    return {"kind": "sql", "sql": sql, "params": {"n": {"type": "number", "default": n}}, **extra}


def test_a_sql_segment_previews_saves_refreshes_and_exports(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    h = ws.api_headers
    preview = client.post(f"{BASE}/preview", json=sql_body(), headers=h)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["count"] == 2  # olena (3 views) and maria (4)
    assert {s["email"] for s in body["sample"]} == {"olena@shop.example", "maria@shop.example"}
    assert all(s["reasons"] == [] for s in body["sample"])

    resp = client.post(BASE, json={"name": "Viewers (SQL)", **sql_body()}, headers=h)
    assert resp.status_code == 201, resp.text
    seg = resp.json()
    assert seg["kind"] == "sql"
    assert seg["sql"] == VIEWERS_SQL
    assert seg["definition"] is None
    assert client.post(f"{BASE}/{seg['id']}/refresh", headers=h).json()["size"] == 2
    explain = client.get(f"{BASE}/{seg['id']}/explain", headers=h).json()
    assert ">= 2" in explain["duckdb"]
    assert ">= 2" in explain["clickhouse"]
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"{BASE}/{seg['id']}/export", headers=h).text))
    )
    assert sorted(int(r["contact_id"]) for r in rows) == sorted(
        [people["olena@shop.example"], people["maria@shop.example"]]
    )
    # a new default for @n is a new definition
    changed = client.put(f"{BASE}/{seg['id']}", json={"params": {"n": 4}}, headers=h)
    assert changed.status_code == 200, changed.text
    members = client.get(f"{BASE}/{seg['id']}/members", headers=h).json()["items"]
    assert [m["contact_id"] for m in members] == [people["maria@shop.example"]]


def test_refused_templates_say_why_and_save_nothing(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    h = ws.api_headers
    refused = [
        "DROP TABLE contacts",
        "SELECT contact_id FROM contacts; DELETE FROM contacts",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY contacts TO '/tmp/x.csv'",
        "SELECT contact_id FROM api_keys",
        "SELECT contact_id FROM events WHERE event = @missing",
    ]
    for sql in refused:
        resp = client.post(BASE, json={"name": "Bad", "kind": "sql", "sql": sql}, headers=h)
        assert resp.status_code == 400, (sql, resp.text)
        details = error_of(resp)["details"]
        assert details, sql
        assert all(d["path"] == "sql" and d["reason"] for d in details), (sql, details)
        check = client.post(
            f"{BASE}/validate", json={"name": "Bad", "kind": "sql", "sql": sql}, headers=h
        )
        assert check.json()["valid"] is False
    with container.db.read() as cur:
        row = cur.execute("SELECT count(*) FROM segments").fetchone()
    assert row == (0,)
    mixed = {"name": "Mixed", "kind": "sql", "sql": VIEWERS_SQL, "definition": {"root": {}}}
    resp = client.post(BASE, json=mixed, headers=h)
    assert resp.status_code == 400
    assert error_of(resp)["details"][0]["path"] == "definition"
