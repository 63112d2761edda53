"""The block library: versions, where-used, refused deletes, workspace isolation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.content import for_database
from retenta.messaging.email.render import RenderedEmail
from tests.conftest import Workspace
from tests.messaging.content.helpers import (
    create_block,
    create_message,
    header_block,
    message,
    section,
)


def test_every_edit_is_a_new_version_and_old_versions_stay_as_they_were(
    client: TestClient, ws: Workspace
) -> None:
    block = create_block(client, ws)
    assert block["id"].startswith("blk_")
    assert block["version"] == 1
    edited = header_block(email={"en": section("Welcome back, {{ title }}")}, name="Header v2")
    for expected in (2, 3):
        r = client.put(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers, json=edited)
        assert r.status_code == 200
        assert r.json()["version"] == expected
    latest = client.get(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).json()
    assert latest["version"] == 3
    assert latest["name"] == "Header v2"
    first = client.get(f"/api/v1/blocks/{block['id']}?version=1", headers=ws.api_headers).json()
    assert first["email"] == block["email"]
    assert first["name"] == "Header"
    versions = client.get(f"/api/v1/blocks/{block['id']}/versions", headers=ws.api_headers)
    assert [v["version"] for v in versions.json()["items"]] == [3, 2, 1]
    missing = client.get(f"/api/v1/blocks/{block['id']}?version=9", headers=ws.api_headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "version"


def test_editing_a_block_changes_every_message_that_uses_it(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    first = create_message(client, ws, message(block["id"]))
    second = create_message(client, ws, message(block["id"], name="Other"))
    service = for_database(container.db)
    before = service.resolve(ws.id, first["id"], "email")
    assert before.versions_used == {block["id"]: 1}
    edited = header_block(email={"en": section("NEW HEADER {{ title }}")})
    client.put(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers, json=edited)
    for msg in (first, second):
        resolved = service.resolve(ws.id, msg["id"], "email")
        assert resolved.versions_used == {block["id"]: 2}
        rendered = resolved.render({"data": {"total": 5}}, ["en"])
        assert isinstance(rendered, RenderedEmail)
        assert "NEW HEADER new arrivals" in rendered.html
    # The message itself did not change: same revision, new block version.
    assert service.resolve(ws.id, first["id"], "email").revision == 1


def test_used_by_lists_each_message_and_its_channels(client: TestClient, ws: Workspace) -> None:
    block = create_block(client, ws)
    unused = create_block(client, ws, name="Unused")
    body = message(block["id"])
    body["channels"]["sms"] = {"text": {"en": "Sale!"}, "append": [{"block": block["id"]}]}
    msg = create_message(client, ws, body)
    r = client.get(f"/api/v1/blocks/{block['id']}/used-by", headers=ws.api_headers)
    assert r.json()["items"] == [
        {"owner_kind": "message", "owner_id": msg["id"], "name": "Spring sale",
         "channels": ["email", "sms"]}
    ]  # fmt: skip
    r = client.get(f"/api/v1/blocks/{unused['id']}/used-by", headers=ws.api_headers)
    assert r.json()["items"] == []
    # A revision that stops using the block frees it.
    client.put(f"/api/v1/messages/{msg['id']}", headers=ws.api_headers,
               json=message(unused["id"]))  # fmt: skip
    r = client.get(f"/api/v1/blocks/{block['id']}/used-by", headers=ws.api_headers)
    assert r.json()["items"] == []


def test_deleting_a_used_block_is_refused_and_an_unused_one_goes(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    r = client.delete(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "block_in_use"
    assert r.json()["error"]["details"][0]["owner_id"] == msg["id"]
    assert client.get(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).status_code == 200
    assert client.delete(f"/api/v1/messages/{msg['id']}", headers=ws.api_headers).status_code == 200
    assert client.delete(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).status_code == 200
    assert client.get(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).status_code == 404
    assert client.get("/api/v1/blocks", headers=ws.api_headers).json()["items"] == []
    # Its versions stay for the record of what was sent.
    kept = for_database(container.db).store.pinned(ws.id, {block["id"]: 1})
    assert kept[block["id"]].version == 1
    r = client.post("/api/v1/messages", headers=ws.api_headers, json=message(block["id"]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "channels.email.body[0].block"


def test_an_edit_may_not_drop_a_source_a_message_uses(client: TestClient, ws: Workspace) -> None:
    block = create_block(client, ws)
    create_message(client, ws, message(block["id"]))
    text_only = header_block(email={}, text={"en": "Just text"})
    r = client.put(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers, json=text_only)
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "email"
    versions = client.get(f"/api/v1/blocks/{block['id']}/versions", headers=ws.api_headers)
    assert len(versions.json()["items"]) == 1


def test_block_template_errors_name_the_language_and_line(
    client: TestClient, ws: Workspace
) -> None:
    bad = header_block(text={"en": "ok", "uk": "line one\n{{ broken }"})
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=bad)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "template_error"
    assert error["field"] == "text.uk"
    assert error["details"][0]["line"] == 2
    bad_mjml = header_block(email={"en": "<mj-section><mj-column>"})
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=bad_mjml)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "email.en"
    assert "invalid MJML" in r.json()["error"]["details"][0]["reason"]
    no_source = header_block(email={}, text={})
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=no_source)
    assert r.status_code == 422
    keyword = header_block(params={"for": {"default": 1}})
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=keyword)
    assert r.status_code == 422
    assert r.json()["error"]["field"].startswith("params.for")
    bad_kind = header_block(kind="banner")
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=bad_kind)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "kind"


def test_workspaces_never_see_or_use_each_others_blocks(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    base = f"/api/v1/blocks/{block['id']}"
    for path in (base, f"{base}/versions", f"{base}/used-by", f"/api/v1/messages/{msg['id']}"):
        assert client.get(path, headers=other_ws.api_headers).status_code == 404
    assert client.get("/api/v1/blocks", headers=other_ws.api_headers).json()["items"] == []
    assert client.get("/api/v1/messages", headers=other_ws.api_headers).json()["items"] == []
    r = client.post("/api/v1/messages", headers=other_ws.api_headers, json=message(block["id"]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "channels.email.body[0].block"
    r = client.put(f"/api/v1/blocks/{block['id']}", headers=other_ws.api_headers,
                   json=header_block())  # fmt: skip
    assert r.status_code == 404
    assert (
        client.delete(f"/api/v1/blocks/{block['id']}", headers=other_ws.api_headers).status_code
        == 404
    )
    r = client.post(f"/api/v1/messages/{msg['id']}/preview", headers=other_ws.api_headers,
                    json={"channel": "email"})  # fmt: skip
    assert r.status_code == 404


def test_journeys_and_triggers_register_their_blocks_too(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    import asyncio

    block = create_block(client, ws)
    service = for_database(container.db)
    asyncio.run(service.set_references(ws.id, "journey", "jrn_1", {"sms": [block["id"]]}))
    users = client.get(f"/api/v1/blocks/{block['id']}/used-by", headers=ws.api_headers).json()
    assert users["items"] == [
        {"owner_kind": "journey", "owner_id": "jrn_1", "name": None, "channels": ["sms"]}
    ]
    assert client.delete(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).status_code == 409
    asyncio.run(service.set_references(ws.id, "journey", "jrn_1", {}))
    assert client.delete(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers).status_code == 200
