"""Segments as objects over HTTP (TestClient, real DuckDB): CRUD, validation with paths,
nothing half-saved, references and cycles, where-used, roles, workspace isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments import store
from tests.conftest import Workspace
from tests.segments.conftest import (
    BASE,
    XRW,
    create,
    error_of,
    in_city,
    includes,
    login_as,
    rules,
    viewed,
)


def count_rows(container: Container, table: str, ws: Workspace) -> int:
    with container.db.read() as cur:
        row = cur.execute(
            f"SELECT count(*) FROM {table} WHERE workspace_id = ?", [ws.id]
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_create_read_list_update_delete(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    body = {
        "name": "Kyiv shoppers",
        "description": "People in Kyiv",
        "tags": ["geo", "geo", " city "],
        **rules(in_city("Kyiv")),
    }
    resp = client.post(BASE, json=body, headers=ws.api_headers)
    assert resp.status_code == 201, resp.text
    seg = resp.json()
    assert seg["id"].startswith("seg_")
    assert seg["name"] == "Kyiv shoppers"
    assert seg["tags"] == ["geo", "city"]
    assert seg["kind"] == "rules"
    assert seg["realtime"] is False
    assert seg["owner"] == "key:default"
    assert seg["definition"]["root"]["value"] == "Kyiv"
    assert seg["revision"] == 1
    assert seg["used_in"] == []
    assert seg["size"] is None

    listed = client.get(BASE, headers=ws.api_headers).json()["items"]
    assert [s["id"] for s in listed] == [seg["id"]]
    assert set(listed[0]) == {
        "id", "name", "description", "owner", "tags", "kind", "realtime", "size", "size_at",
        "used_in", "created_at", "updated_at",
    }  # fmt: skip

    resp = client.put(
        f"{BASE}/{seg['id']}",
        json={"name": "Lviv shoppers", "definition": {"root": in_city("Lviv")}},
        headers=ws.api_headers,
    )
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert changed["name"] == "Lviv shoppers"
    assert changed["description"] == "People in Kyiv"  # fields not sent stay
    assert changed["definition"]["root"]["value"] == "Lviv"
    assert changed["revision"] == 2

    resp = client.delete(f"{BASE}/{seg['id']}", headers=ws.api_headers)
    assert resp.status_code == 204
    assert client.get(f"{BASE}/{seg['id']}", headers=ws.api_headers).status_code == 404
    assert client.get(BASE, headers=ws.api_headers).json()["items"] == []
    with container.db.read() as cur:
        actions = cur.execute(
            "SELECT revision, action, name FROM segment_revisions WHERE segment_id = ?"
            " ORDER BY revision",
            [seg["id"]],
        ).fetchall()
    assert actions == [
        (1, "created", "Kyiv shoppers"),
        (2, "updated", "Lviv shoppers"),
        (3, "deleted", "Lviv shoppers"),
    ]


def test_revisions_route_lists_each_saved_state(client: TestClient, ws: Workspace) -> None:
    seg_id = create(client, ws, "Kyiv", in_city("Kyiv"))
    client.put(f"{BASE}/{seg_id}", json={"description": "v2"}, headers=ws.api_headers)
    same = client.put(f"{BASE}/{seg_id}", json={"description": "v2"}, headers=ws.api_headers)
    assert same.json()["revision"] == 2  # saving what is already there is no new revision
    items = client.get(f"{BASE}/{seg_id}/revisions", headers=ws.api_headers).json()["items"]
    assert [(r["revision"], r["action"]) for r in items] == [(1, "created"), (2, "updated")]
    assert items[0]["changed_by"] == "key:default"


def test_invalid_definition_names_the_path_and_saves_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    bad_window = {**viewed(2), "window": {"kind": "last", "amount": -1, "unit": "days"}}
    body = {"name": "Broken", **rules({"type": "all", "conditions": [in_city("Kyiv"), bad_window]})}
    resp = client.post(BASE, json=body, headers=ws.api_headers)
    assert resp.status_code == 400, resp.text
    err = error_of(resp)
    assert err["code"] == "invalid_segment"
    paths = [d["path"] for d in err["details"]]
    assert "root.conditions[1].window.amount" in paths
    assert all(d["reason"] for d in err["details"])
    for table in ("segments", "segment_revisions", "segment_usages"):
        assert count_rows(container, table, ws) == 0

    resp = client.post(f"{BASE}/validate", json=body, headers=ws.api_headers)
    assert resp.status_code == 200
    assert resp.json()["valid"] is False
    assert "root.conditions[1].window.amount" in [e["path"] for e in resp.json()["errors"]]
    good = {"name": "Fine", **rules(in_city("Kyiv"))}
    assert client.post(f"{BASE}/validate", json=good, headers=ws.api_headers).json() == {
        "valid": True,
        "errors": [],
    }


def test_body_problems_come_back_with_paths(client: TestClient, ws: Workspace) -> None:
    cases = [
        ({**rules(in_city("Kyiv"))}, "name"),
        ({"name": "  ", **rules(in_city("Kyiv"))}, "name"),
        ({"name": "x", "kind": "graph", "definition": {}}, "kind"),
        ({"name": "x", "kind": "rules"}, "definition"),
        ({"name": "x", "tags": ["ok", ""], **rules(in_city("Kyiv"))}, "tags"),
        ({"name": "x", "colour": "red", **rules(in_city("Kyiv"))}, "colour"),
        ({"name": "x", "definition": {"root": {"type": "teleport"}}}, "root"),
    ]
    for body, path in cases:
        resp = client.post(BASE, json=body, headers=ws.api_headers)
        assert resp.status_code == 400, (body, resp.text)
        assert error_of(resp)["details"][0]["path"] == path, (body, resp.text)
    resp = client.post(BASE, json=["not", "an", "object"], headers=ws.api_headers)
    assert resp.status_code == 400
    assert error_of(resp)["details"][0]["path"] == "body"


def test_duplicate_name_is_rejected(client: TestClient, ws: Workspace) -> None:
    create(client, ws, "Kyiv", in_city("Kyiv"))
    resp = client.post(
        BASE, json={"name": "kyiv", **rules(in_city("Lviv"))}, headers=ws.api_headers
    )
    assert resp.status_code == 400
    assert error_of(resp)["details"] == [
        {"path": "name", "reason": "a segment named 'kyiv' exists"}
    ]


def test_reference_to_an_unknown_segment_is_rejected(client: TestClient, ws: Workspace) -> None:
    body = {
        "name": "Ref",
        **rules({"type": "all", "conditions": [in_city("Kyiv"), includes("seg_nope")]}),
    }
    resp = client.post(BASE, json=body, headers=ws.api_headers)
    assert resp.status_code == 400
    [detail] = error_of(resp)["details"]
    assert detail["path"] == "root.conditions[1].segment_id"
    assert "seg_nope" in detail["reason"]


def test_cycles_are_rejected_with_the_chain(client: TestClient, ws: Workspace) -> None:
    a = create(client, ws, "A", in_city("Kyiv"))
    b = create(client, ws, "B", includes(a))
    c = create(client, ws, "C", {"type": "not", "condition": includes(b)})
    resp = client.put(
        f"{BASE}/{a}",
        json={
            "definition": {"root": {"type": "any", "conditions": [in_city("Lviv"), includes(c)]}}
        },
        headers=ws.api_headers,
    )
    assert resp.status_code == 400, resp.text
    [detail] = error_of(resp)["details"]
    assert detail["path"] == "root.conditions[1].segment_id"
    assert detail["reason"] == f"cycle: A ({a}) → C ({c}) → B ({b}) → A ({a})"
    self_ref = client.put(
        f"{BASE}/{a}", json={"definition": {"root": includes(a)}}, headers=ws.api_headers
    )
    assert self_ref.status_code == 400
    assert error_of(self_ref)["details"][0]["reason"].startswith("cycle: A")
    got = client.get(f"{BASE}/{a}", headers=ws.api_headers).json()
    assert got["revision"] == 1
    assert got["definition"]["root"] == in_city("Kyiv")


def test_where_used_and_delete_refused_while_used(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    a = create(client, ws, "A", in_city("Kyiv"))
    b = create(client, ws, "B", {"type": "all", "conditions": [includes(a), viewed(1)]})
    # a campaign (issue #4) registers its use in its own transaction
    container.db.write(
        lambda c: store.register_usage(
            c, ws.id, a, kind="campaign", used_by_id="cmp_1", name="Spring sale"
        )
    )
    with pytest.raises(LookupError):
        container.db.write(
            lambda c: store.register_usage(
                c, ws.id, "seg_nope", kind="campaign", used_by_id="cmp_1", name="x"
            )
        )
    items = {s["id"]: s for s in client.get(BASE, headers=ws.api_headers).json()["items"]}
    assert items[a]["used_in"] == [
        {"kind": "campaign", "id": "cmp_1", "name": "Spring sale"},
        {"kind": "segment", "id": b, "name": "B"},
    ]
    assert client.get(f"{BASE}/{b}", headers=ws.api_headers).json()["uses"] == [
        {"kind": "segment", "id": a}
    ]
    resp = client.delete(f"{BASE}/{a}", headers=ws.api_headers)
    assert resp.status_code == 409
    err = error_of(resp)
    assert err["code"] == "segment_in_use"
    assert {d["id"] for d in err["details"]} == {"cmp_1", b}
    # renaming the user updates where-used; removing the reference frees it
    client.put(f"{BASE}/{b}", json={"name": "B2"}, headers=ws.api_headers)
    assert {"kind": "segment", "id": b, "name": "B2"} in client.get(
        f"{BASE}/{a}", headers=ws.api_headers
    ).json()["used_in"]
    assert client.delete(f"{BASE}/{b}", headers=ws.api_headers).status_code == 204
    container.db.write(
        lambda c: store.unregister_usages(c, ws.id, kind="campaign", used_by_id="cmp_1")
    )
    assert client.delete(f"{BASE}/{a}", headers=ws.api_headers).status_code == 204


def test_another_workspace_sees_nothing(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    a = create(client, ws, "A", in_city("Kyiv"))
    h = other_ws.api_headers
    assert client.get(f"{BASE}/{a}", headers=h).status_code == 404
    assert client.get(BASE, headers=h).json()["items"] == []
    assert client.put(f"{BASE}/{a}", json={"name": "x"}, headers=h).status_code == 404
    assert client.delete(f"{BASE}/{a}", headers=h).status_code == 404
    for sub in ("members", "history", "events", "explain", "export", "revisions"):
        assert client.get(f"{BASE}/{a}/{sub}", headers=h).status_code == 404, sub
    assert client.post(f"{BASE}/{a}/refresh", headers=h).status_code == 404
    flow = client.get(
        f"{BASE}/flow", params={"ids": a, "from": "2026-01-01", "to": "2026-01-02"}, headers=h
    )
    assert flow.status_code == 404
    resp = client.post(BASE, json={"name": "R", **rules(includes(a))}, headers=h)
    assert resp.status_code == 400
    assert error_of(resp)["details"][0]["path"] == "root.segment_id"
    # the same name is free in another workspace
    assert (
        client.post(BASE, json={"name": "A", **rules(in_city("Lviv"))}, headers=h).status_code
        == 201
    )


def test_analyst_reads_and_previews_but_cannot_write(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    a = create(client, ws, "A", in_city("Kyiv"))
    login_as(client, container, ws, "analyst")
    assert client.get(BASE, headers=XRW).status_code == 200
    assert (
        client.post(f"{BASE}/preview", json=rules(in_city("Kyiv")), headers=XRW).status_code == 200
    )
    assert (
        client.post(BASE, json={"name": "B", **rules(in_city("Kyiv"))}, headers=XRW).status_code
        == 403
    )
    assert client.put(f"{BASE}/{a}", json={"name": "B"}, headers=XRW).status_code == 403
    assert client.delete(f"{BASE}/{a}", headers=XRW).status_code == 403
    assert client.post(f"{BASE}/{a}/refresh", headers=XRW).status_code == 403


def test_marketer_owns_what_she_creates(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    login_as(client, container, ws, "marketer")
    resp = client.post(BASE, json={"name": "Mine", **rules(in_city("Kyiv"))}, headers=XRW)
    assert resp.status_code == 201, resp.text
    assert resp.json()["owner"] == "marketer@shop.example"
    no_header = client.post(BASE, json={"name": "Mine 2", **rules(in_city("Kyiv"))})
    assert no_header.status_code == 403  # cookie writes need X-Requested-With


def test_schema_is_the_definition_json_schema(client: TestClient, ws: Workspace) -> None:
    schema = client.get(f"{BASE}/schema", headers=ws.api_headers).json()
    assert schema["title"] == "Retenta segment definition"
    assert "root" in schema["properties"]
