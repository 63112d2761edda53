"""Reading segments over HTTP: preview with reasons, explain, members, refresh and size
history, export to CSV and Parquet, the flow report, the builder's fields."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.segments.conftest import BASE, create, error_of, in_city, rules, viewed

KYIV_VIEWERS = {"type": "all", "conditions": [in_city("Kyiv"), viewed(2)]}


def test_preview_counts_and_says_why_each_one_is_in(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    resp = client.post(f"{BASE}/preview", json=rules(KYIV_VIEWERS), headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == 1
    assert body["elapsed_ms"] >= 0
    assert "SELECT" in body["sql"].upper()
    [olena] = body["sample"]
    assert olena["contact_id"] == people["olena@shop.example"]
    assert olena["email"] == "olena@shop.example"
    assert olena["name"] == "Olena"
    reasons = {r["path"]: r for r in olena["reasons"]}
    assert set(reasons) == {"root.conditions[0]", "root.conditions[1]"}
    assert all(r["matched"] is True for r in reasons.values())
    assert "city" in reasons["root.conditions[0]"]["label"]
    assert "Product Viewed" in reasons["root.conditions[1]"]["label"]

    # an OR shows the leaf that did not match as well
    either = {"type": "any", "conditions": [in_city("Lviv"), viewed(2)]}
    body = client.post(
        f"{BASE}/preview", json={**rules(either), "sample": 5}, headers=ws.api_headers
    ).json()
    assert body["count"] == 2
    by_id = {s["contact_id"]: s for s in body["sample"]}
    maria = {r["path"]: r["matched"] for r in by_id[people["maria@shop.example"]]["reasons"]}
    olena_r = {r["path"]: r["matched"] for r in by_id[people["olena@shop.example"]]["reasons"]}
    assert maria == {"root.conditions[0]": True, "root.conditions[1]": True}
    assert olena_r == {"root.conditions[0]": False, "root.conditions[1]": True}


def test_preview_of_a_bad_definition_is_400_with_the_path(
    client: TestClient, ws: Workspace
) -> None:
    bad = {
        "type": "all",
        "conditions": [in_city("Kyiv"), {**viewed(1), "aggregate": {"fn": "median"}}],
    }
    resp = client.post(f"{BASE}/preview", json=rules(bad), headers=ws.api_headers)
    assert resp.status_code == 400
    assert error_of(resp)["details"][0]["path"].startswith("root.conditions[1].aggregate")


def test_explain_gives_both_dialects(client: TestClient, ws: Workspace) -> None:
    seg = create(client, ws, "Kyiv viewers", KYIV_VIEWERS)
    resp = client.get(f"{BASE}/{seg}/explain", headers=ws.api_headers)
    assert resp.status_code == 200
    sql = resp.json()
    assert set(sql) == {"duckdb", "clickhouse"}
    assert sql["duckdb"] != sql["clickhouse"]
    assert "'Kyiv'" in sql["duckdb"]
    assert "'Kyiv'" in sql["clickhouse"]


def test_members_page_through_all_of_them(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    seg = create(client, ws, "Viewers", viewed(1))
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{BASE}/{seg}/members", params=params, headers=ws.api_headers).json()
        seen += [m["contact_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    want = sorted(
        people[e] for e in ("olena@shop.example", "ivan@shop.example", "maria@shop.example")
    )
    assert seen == want
    first = client.get(f"{BASE}/{seg}/members", headers=ws.api_headers).json()["items"][0]
    assert set(first) == {"contact_id", "email", "name", "entered_at"}


def test_refresh_records_the_size_and_history_shows_it(
    client: TestClient, container: Container, ws: Workspace, people: dict[str, int]
) -> None:
    seg = create(client, ws, "Kyiv", in_city("Kyiv"))
    resp = client.post(f"{BASE}/{seg}/refresh", headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["size"] == 2
    today = datetime.now(UTC).date()
    # an older day, as the daily job would have written it
    container.db.write(
        lambda c: c.execute(
            "INSERT INTO segment_sizes VALUES (?, ?, ?, 1, now())",
            [ws.id, seg, today - timedelta(days=3)],
        )
    )
    history = client.get(f"{BASE}/{seg}/history", params={"days": 7}, headers=ws.api_headers)
    assert history.json()["items"] == [
        {"day": (today - timedelta(days=3)).isoformat(), "size": 1},
        {"day": today.isoformat(), "size": 2},
    ]
    short = client.get(f"{BASE}/{seg}/history", params={"days": 2}, headers=ws.api_headers)
    assert short.json()["items"] == [{"day": today.isoformat(), "size": 2}]
    [listed] = client.get(BASE, headers=ws.api_headers).json()["items"]
    assert listed["size"] == 2
    assert listed["size_at"] is not None


def test_export_csv_and_parquet_hold_the_members(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    seg = create(client, ws, "Kyiv", in_city("Kyiv"))
    resp = client.get(f"{BASE}/{seg}/export", params={"format": "csv"}, headers=ws.api_headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert f'filename="{seg}-' in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(int(r["contact_id"]), r["email"], r["name"]) for r in rows] == sorted(
        [
            (people["olena@shop.example"], "olena@shop.example", "Olena"),
            (people["ivan@shop.example"], "ivan@shop.example", "Ivan Petrenko"),
        ]
    )
    resp = client.get(f"{BASE}/{seg}/export", params={"format": "parquet"}, headers=ws.api_headers)
    assert resp.status_code == 200
    table = pq.read_table(io.BytesIO(resp.content))
    assert table.column_names[:5] == ["contact_id", "email", "phone", "external_id", "name"]
    assert sorted(table.column("email").to_pylist()) == ["ivan@shop.example", "olena@shop.example"]
    bad = client.get(f"{BASE}/{seg}/export", params={"format": "xlsx"}, headers=ws.api_headers)
    assert bad.status_code == 422


def test_flow_counts_moves_between_segments_and_none(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    a = create(client, ws, "A", in_city("Kyiv"))
    b = create(client, ws, "B", in_city("Lviv"))
    d1, d2 = date(2026, 10, 1), date(2026, 10, 8)

    def at(day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    spans = [
        (1, a, at(d1, 1), None),  # A → A
        (2, a, at(d1, 2), at(d2, 3)),  # A → B (moved during d2)
        (2, b, at(d2, 3), None),
        (3, a, at(d1, 3), at(d1 + timedelta(days=2), 0)),  # A → none
        (4, b, at(d2, 5), None),  # none → B
        (5, a, at(d1 + timedelta(days=1), 0), None),  # entered after `from`: none → A
        (6, b, at(d1, 1), at(d1, 9)),  # left before the end of `from`: not counted
    ]
    container.db.write(
        lambda c: c.executemany(
            "INSERT INTO segment_membership VALUES (?, ?, ?, ?, ?)",
            [[ws.id, seg, cid, entered, exited] for cid, seg, entered, exited in spans],
        )
    )
    resp = client.get(
        f"{BASE}/flow",
        params={"ids": f"{a},{b}", "from": d1.isoformat(), "to": d2.isoformat()},
        headers=ws.api_headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["segments"] == [{"id": a, "name": "A"}, {"id": b, "name": "B"}]
    matrix = {(m["from"], m["to"]): m["count"] for m in body["matrix"]}
    assert matrix == {(a, a): 1, (a, b): 1, (a, "none"): 1, ("none", b): 1, ("none", a): 1}
    missing = client.get(
        f"{BASE}/flow",
        params={"ids": "seg_nope", "from": "2026-10-01", "to": "2026-10-02"},
        headers=ws.api_headers,
    )
    assert missing.status_code == 404


def test_fields_list_attributes_events_and_the_rest(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    resp = client.get(f"{BASE}/fields", headers=ws.api_headers)
    assert resp.status_code == 200
    body = resp.json()
    types = {a["name"]: a["type"] for a in body["attributes"]}
    assert types["city"] == "text"
    assert types["age"] == "number"
    assert types["vip"] == "boolean"
    assert types["email"] == "text"
    assert types["created_at"] == "date"
    [viewed_event] = [e for e in body["events"] if e["name"] == "Product Viewed"]
    assert viewed_event["properties"] == ["category", "product_id"]
    assert {"name": "orders", "type": "number"} in body["traits"]
    assert "email" in body["channels"]
    assert {"name": "champions", "label": "Champions"} in body["rfm_cells"]


def test_refreshed_segments_read_stored_membership_and_record_entries_and_exits(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    h = ws.api_headers
    seg = create(client, ws, "Kyiv", in_city("Kyiv"))
    refreshed = client.post(f"{BASE}/{seg}/refresh", headers=h).json()
    assert (refreshed["size"], refreshed["entered"], refreshed["exited"]) == (2, 2, 0)
    items = client.get(f"{BASE}/{seg}/members", headers=h).json()["items"]
    assert [m["contact_id"] for m in items] == sorted(
        [people["olena@shop.example"], people["ivan@shop.example"]]
    )
    assert all(m["entered_at"] is not None for m in items)
    events = client.get(f"{BASE}/{seg}/events", headers=h).json()["items"]
    assert sorted((e["email"], e["kind"], e["cause"]) for e in events) == [
        ("ivan@shop.example", "entered", "refresh"),
        ("olena@shop.example", "entered", "refresh"),
    ]
    # editing the definition moves stored membership at once, recorded as "definition"
    resp = client.put(f"{BASE}/{seg}", json={"definition": {"root": in_city("Lviv")}}, headers=h)
    assert resp.status_code == 200
    assert resp.json()["size"] == 1
    events = client.get(f"{BASE}/{seg}/events", params={"limit": 10}, headers=h).json()["items"]
    latest = sorted((e["email"], e["kind"], e["cause"]) for e in events[:3])
    assert latest == [
        ("ivan@shop.example", "exited", "definition"),
        ("maria@shop.example", "entered", "definition"),
        ("olena@shop.example", "exited", "definition"),
    ]
    items = client.get(f"{BASE}/{seg}/members", headers=h).json()["items"]
    assert [m["email"] for m in items] == ["maria@shop.example"]


def test_export_leaves_no_temp_file_and_bad_paging_is_refused(
    client: TestClient, ws: Workspace, people: dict[str, int]
) -> None:
    seg = create(client, ws, "Kyiv", in_city("Kyiv"))
    before = set(Path(tempfile.gettempdir()).glob("retenta-segment-*"))
    for fmt in ("csv", "parquet"):
        resp = client.get(f"{BASE}/{seg}/export", params={"format": fmt}, headers=ws.api_headers)
        assert resp.status_code == 200
    assert set(Path(tempfile.gettempdir()).glob("retenta-segment-*")) == before
    bad = client.get(f"{BASE}/{seg}/members", params={"cursor": "nope"}, headers=ws.api_headers)
    assert bad.status_code in (400, 422)
    assert error_of(bad)["field"] == "cursor"
    too_long = client.get(f"{BASE}/{seg}/history", params={"days": 0}, headers=ws.api_headers)
    assert too_long.status_code == 422
