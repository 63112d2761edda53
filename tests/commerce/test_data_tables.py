"""Custom data tables: definitions, typed rows linked to contacts or products, deletes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.commerce.helpers import make_contact
from tests.conftest import Workspace

CARDS = {
    "name": "loyalty_cards",
    "description": "Plastic loyalty cards",
    "columns": [
        {"name": "card_no", "type": "text", "required": True},
        {"name": "points", "type": "integer"},
        {"name": "balance", "type": "number"},
        {"name": "active", "type": "boolean"},
        {"name": "issued_on", "type": "date"},
        {"name": "last_used", "type": "datetime"},
    ],
    "key_columns": ["card_no"],
    "link": "contact",
}


def create(client: TestClient, ws: Workspace, spec: dict[str, Any]) -> Any:
    return client.post("/api/v1/data-tables", json=spec, headers=ws.api_headers)


def put_rows(client: TestClient, ws: Workspace, name: str, rows: list[dict[str, Any]]) -> Any:
    url = f"/api/v1/data-tables/{name}/rows"
    return client.put(url, json={"rows": rows}, headers=ws.api_headers)


def test_define_upsert_and_read_contact_rows(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    created = create(client, ws, CARDS)
    assert created.status_code == 201, created.text
    assert created.json()["rows"] == 0
    row = {
        "contact_id": contact,
        "card_no": "A-1",
        "points": "120",
        "balance": 10.5,
        "active": "true",
        "issued_on": "2026-01-05",
        "last_used": "2026-02-01T10:00:00Z",
    }
    assert put_rows(client, ws, "loyalty_cards", [row]).json() == {"upserted": 1}
    assert put_rows(client, ws, "loyalty_cards", [{**row, "points": 130}]).json() == {"upserted": 1}
    got = client.get(
        f"/api/v1/data-tables/loyalty_cards/rows?contact_id={contact}", headers=ws.api_headers
    ).json()
    assert len(got["items"]) == 1
    item = got["items"][0]
    assert item["key"] == ["A-1"]
    assert item["contact_id"] == contact
    assert item["data"] == {
        "card_no": "A-1", "points": 130, "balance": 10.5, "active": True,
        "issued_on": "2026-01-05", "last_used": "2026-02-01T10:00:00Z",
    }  # fmt: skip
    listed = client.get("/api/v1/data-tables", headers=ws.api_headers).json()
    assert [(t["name"], t["rows"]) for t in listed] == [("loyalty_cards", 1)]


def test_row_errors_name_row_column_and_reason_and_store_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    create(client, ws, CARDS)
    rows = [
        {"contact_id": contact, "card_no": "ok", "points": 1},
        {"contact_id": contact, "card_no": "B", "points": "1.5", "colour": "red"},
        {"contact_id": 424242, "card_no": "C", "issued_on": "yesterday"},
        {"points": 3},
    ]
    resp = put_rows(client, ws, "loyalty_cards", rows)
    assert resp.status_code == 422
    details = {(d["field"], d["reason"]) for d in resp.json()["error"]["details"]}
    assert details == {
        ("rows[1].colour", "unknown column"),
        ("rows[1].points", "expected an integer"),
        ("rows[2].contact_id", "no such contact"),
        ("rows[2].issued_on", "expected a date (YYYY-MM-DD)"),
        ("rows[3].card_no", "required"),
        ("rows[3].contact_id", "contact_id or identifiers required"),
    }
    got = client.get("/api/v1/data-tables/loyalty_cards/rows", headers=ws.api_headers).json()
    assert got["items"] == []


def test_product_linked_rows_and_deletes(client: TestClient, ws: Workspace) -> None:
    columns = [{"name": "size", "type": "text"}, {"name": "cm", "type": "number"}]
    spec = {"name": "sizes", "columns": columns, "key_columns": ["size"], "link": "product"}
    assert create(client, ws, spec).status_code == 201
    rows = [{"sku": "SNK-1", "size": "M", "cm": 27}, {"sku": "SNK-1", "size": "L", "cm": 28.5}]
    assert put_rows(client, ws, "sizes", rows).json() == {"upserted": 2}
    missing_sku = put_rows(client, ws, "sizes", [{"size": "S"}])
    assert missing_sku.json()["error"]["field"] == "rows[0].sku"
    by_sku = client.get("/api/v1/data-tables/sizes/rows?sku=SNK-1", headers=ws.api_headers)
    assert [i["data"]["size"] for i in by_sku.json()["items"]] == ["L", "M"]
    gone = client.request(
        "DELETE", "/api/v1/data-tables/sizes/rows", json={"keys": [{"size": "L"}]},
        headers=ws.api_headers,
    )  # fmt: skip
    assert gone.json() == {"deleted": 1}
    dropped = client.delete("/api/v1/data-tables/sizes", headers=ws.api_headers).json()
    assert dropped == {"deleted": "sizes", "rows": 1}
    assert client.get("/api/v1/data-tables/sizes", headers=ws.api_headers).status_code == 404


def test_names_are_validated_and_tables_unique(client: TestClient, ws: Workspace) -> None:
    evil = create(client, ws, {**CARDS, "name": "x; DROP TABLE contacts"})
    assert evil.status_code == 422
    assert evil.json()["error"]["field"] == "name"
    bad_col = {**CARDS, "columns": [{"name": 'a"b', "type": "text"}], "key_columns": ['a"b']}
    assert create(client, ws, bad_col).json()["error"]["field"] == "columns[0].name"
    bad_key = create(client, ws, {**CARDS, "key_columns": ["nope"]})
    assert bad_key.status_code == 422
    assert "nope" in bad_key.json()["error"]["message"]
    bad_type = {**CARDS, "columns": [{"name": "a", "type": "money"}], "key_columns": ["a"]}
    assert create(client, ws, bad_type).json()["error"]["field"] == "columns[0].type"
    assert create(client, ws, CARDS).status_code == 201
    assert create(client, ws, CARDS).status_code == 409


def test_data_tables_are_per_workspace(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    contact = make_contact(container, ws.id)
    create(client, ws, CARDS)
    put_rows(client, ws, "loyalty_cards", [{"contact_id": contact, "card_no": "A"}])
    h = other_ws.api_headers
    assert client.get("/api/v1/data-tables", headers=h).json() == []
    assert client.get("/api/v1/data-tables/loyalty_cards/rows", headers=h).status_code == 404
    # the other workspace may define its own table of the same name, and cannot link our contact
    assert create(client, other_ws, CARDS).status_code == 201
    stolen = put_rows(client, other_ws, "loyalty_cards", [{"contact_id": contact, "card_no": "Z"}])
    assert stolen.json()["error"]["field"] == "rows[0].contact_id"
