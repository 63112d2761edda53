"""GDPR export and erase: everything about the person comes out, then nothing is left."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.contacts.privacy import base_tables, person_tables
from retenta.identity.normalize import identifier_hash
from tests.conftest import Workspace
from tests.contacts.seed import T0, add_events, add_order, event_table, merge, new_contact

BASE = "/api/v1/contacts"
EMAIL = "erin@example.com"


def seed_person(container: Container, ws: str) -> tuple[int, int]:
    """A person (two merged contacts) with rows in every kind of table; returns (live, old)."""
    erin = new_contact(
        container,
        ws,
        identities=[("email", EMAIL), ("external_id", "u-erin")],
        attributes={"first_name": "Erin"},
    )
    old = new_contact(container, ws, identities=[("anonymous_id", "dev-erin")])
    merge(container, ws, winner=erin, loser=old)
    add_events(container, event_table(ws, erin, 5, prefix="a"), target="events")
    add_events(container, event_table(ws, erin, 4, prefix="l1"), target="events_l1")
    add_events(container, event_table(ws, old, 3, prefix="r"))
    add_order(container, ws, erin, "o-erin", [("s1", "Shoes", 1, 10.0, 0)])

    def more(c: Any) -> None:
        at = T0 + timedelta(days=1)
        c.execute(
            "INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source,"
            " changed_at) VALUES (?, ?, 'email', '*', 'subscribed', 'form', ?)",
            [ws, erin, at],
        )
        c.execute(
            "INSERT INTO carts (workspace_id, cart_id, contact_id, status, created_at,"
            " updated_at) VALUES (?, 'cart-e', ?, 'open', ?, ?)",
            [ws, old, at, at],
        )
        c.execute(
            "INSERT INTO cart_items (workspace_id, cart_id, sku, quantity, price, added_at)"
            " VALUES (?, 'cart-e', 's2', 1, 5.0, ?)",
            [ws, at],
        )
        c.execute(
            "INSERT INTO wishlist_items (workspace_id, contact_id, sku, wishlist, added_at)"
            " VALUES (?, ?, 's3', 'default', ?)",
            [ws, erin, at],
        )
        c.execute(
            "INSERT INTO searches (workspace_id, contact_id, query, results, searched_at,"
            " message_id) VALUES (?, ?, 'red shoes', 3, ?, 'm-s')",
            [ws, erin, at],
        )
        c.execute(
            "INSERT INTO custom_rows (workspace_id, table_name, row_key, contact_id, sku, data,"
            " updated_at) VALUES (?, 'loyalty', 'k1', ?, NULL, '{\"tier\": 2}', ?)",
            [ws, erin, at],
        )
        c.execute(
            "INSERT INTO identity_events (workspace_id, kind, contact_id, identifier_type,"
            " identifier_value) VALUES (?, 'rejected', ?, 'email', 'erin@@bad')",
            [ws, erin],
        )

    container.db.write(more)
    return erin, old


def rows_of(container: Container, ids: list[int]) -> dict[str, int]:
    """Rows per table that still point at any of ``ids``."""
    out: dict[str, int] = {}
    with container.db.read() as cur:
        for table in person_tables(base_tables(cur)):
            cond = " OR ".join(f"{c} IN (SELECT unnest(?::BIGINT[]))" for c in table.person_columns)
            params = [ids] * len(table.person_columns)
            n = cur.execute(f"SELECT count(*) FROM {table.name} WHERE {cond}", params).fetchone()
            if n[0]:
                out[table.name] = int(n[0])
        for table in ("events", "events_l1", "events_l1_runs", "events_recent"):
            n = cur.execute(
                f"SELECT count(*) FROM {table} WHERE contact_id IN (SELECT unnest(?::BIGINT[]))",
                [ids],
            ).fetchone()
            if n[0]:
                out[table] = int(n[0])
        n = cur.execute(
            "SELECT count(*) FROM contacts WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
        ).fetchone()
        if n[0]:
            out["contacts"] = int(n[0])
    return out


@pytest.fixture
def person(container: Container, ws: Workspace) -> tuple[int, int]:
    return seed_person(container, ws.id)


def test_export_holds_everything_about_the_person(
    client: TestClient, ws: Workspace, person: tuple[int, int]
) -> None:
    erin, old = person
    resp = client.get(f"{BASE}/{old}/export", headers=ws.api_headers)
    assert resp.status_code == 200
    data = resp.json()
    assert data["contact"]["id"] == erin
    assert data["contact"]["merged_from"] == [old]
    assert len(data["events"]) == 12
    related = data["related"]
    assert {r["order_id"] for r in related["orders"]} == {"o-erin"}
    assert [r["sku"] for r in related["order_items"]] == ["s1"]
    assert [r["sku"] for r in related["cart_items"]] == ["s2"]
    assert [r["query"] for r in related["searches"]] == ["red shoes"]
    assert related["custom_rows"][0]["data"] == {"tier": 2}
    assert [r["loser_id"] for r in related["merges"]] == [old]
    for table in ("consents", "identities", "wishlist_items", "carts", "identity_events"):
        assert related[table], table


def test_erase_deletes_every_row_and_suppresses_identifiers(
    client: TestClient, container: Container, ws: Workspace, person: tuple[int, int]
) -> None:
    erin, old = person
    bystander = new_contact(container, ws.id, identities=[("email", "bob@example.com")])
    add_events(container, event_table(ws.id, bystander, 2, prefix="bob"))
    before = rows_of(container, [erin, old])
    assert {"events", "events_l1", "events_recent", "orders", "identities"} <= set(before)
    resp = client.delete(f"{BASE}/{erin}", headers=ws.api_headers)
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["contacts"]) == sorted([erin, old])
    assert rows_of(container, [erin, old]) == {}
    assert rows_of(container, [bystander]) == {"events_recent": 2, "identities": 1, "contacts": 1}
    with container.db.read() as cur:
        lines = cur.execute("SELECT count(*) FROM order_items WHERE order_id = 'o-erin'").fetchone()
        assert lines[0] == 0
        assert cur.execute("SELECT count(*) FROM cart_items").fetchone()[0] == 0
        hashes = set(cur.execute("SELECT type, value_hash FROM suppressed_identifiers").fetchall())
        audit = cur.execute("SELECT * FROM erasures").fetchall()
    assert ("email", identifier_hash("email", EMAIL)) in hashes
    assert ("anonymous_id", identifier_hash("anonymous_id", "dev-erin")) in hashes
    assert ("external_id", identifier_hash("external_id", "u-erin")) in hashes
    assert len(audit) == 1
    text = orjson.dumps(audit, default=str).decode()
    for personal in (EMAIL, "u-erin", "dev-erin", "Erin"):
        assert personal not in text
    assert client.get(f"{BASE}/{erin}", headers=ws.api_headers).status_code == 404
    assert client.get(f"{BASE}/{old}", headers=ws.api_headers).status_code == 404
    assert client.delete(f"{BASE}/{erin}", headers=ws.api_headers).status_code == 404


def test_erase_needs_an_admin_and_stays_in_its_workspace(
    client: TestClient, ws: Workspace, other_ws: Workspace, person: tuple[int, int]
) -> None:
    erin, _ = person
    assert client.delete(f"{BASE}/{erin}", headers=other_ws.api_headers).status_code == 404
    assert client.get(f"{BASE}/{erin}", headers=ws.api_headers).status_code == 200
