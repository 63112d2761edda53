"""Messages over HTTP: revisions, filters, validation errors with paths, preview, validate."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, message, section


def test_a_message_keeps_revisions_and_answers_its_block_versions(
    client: TestClient, ws: Workspace
) -> None:
    block = create_block(client, ws)
    created = create_message(client, ws, message(block["id"]))
    assert created["id"].startswith("msg_")
    assert created["revision"] == 1
    assert created["blocks"] == {block["id"]: 1}
    body = message(block["id"], name="Spring sale 2", tags=["spring", "vip"])
    r = client.put(f"/api/v1/messages/{created['id']}", headers=ws.api_headers, json=body)
    assert r.status_code == 200
    assert r.json()["revision"] == 2
    got = client.get(f"/api/v1/messages/{created['id']}", headers=ws.api_headers).json()
    assert got["name"] == "Spring sale 2"
    assert got["channels"]["email"]["body"][0] == {"block": block["id"], "params": {}}
    listed = client.get("/api/v1/messages?tag=vip", headers=ws.api_headers).json()["items"]
    assert [m["id"] for m in listed] == [created["id"]]
    assert client.get("/api/v1/messages?category=trigger", headers=ws.api_headers).json() == {
        "items": []
    }
    assert (
        client.delete(f"/api/v1/messages/{created['id']}", headers=ws.api_headers).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/messages/{created['id']}", headers=ws.api_headers).status_code == 404
    )


def _error(client: TestClient, ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/messages", headers=ws.api_headers, json=body)
    assert r.status_code == 422, r.text
    return r.json()["error"]  # type: ignore[no-any-return]


def test_validation_errors_name_the_path(client: TestClient, ws: Workspace) -> None:
    block = create_block(client, ws)
    bid = block["id"]
    unknown = message(bid)
    unknown["channels"]["email"]["body"].append({"block": "blk_00000000000000ff"})
    assert _error(client, ws, unknown)["field"] == "channels.email.body[2].block"

    undeclared = message(bid)
    undeclared["channels"]["email"]["body"][0]["params"] = {"colour": "red"}
    error = _error(client, ws, undeclared)
    assert error["field"] == "channels.email.body[0].params.colour"
    assert "declared: title" in error["message"]

    broken = message(bid)
    broken["channels"]["email"]["body"][1] = {"mjml": {"en": section("ok") + "\n{% if x %}"}}
    error = _error(client, ws, broken)
    assert error["code"] == "template_error"
    assert error["field"] == "channels.email.body[1].mjml.en"
    assert error["details"][0]["line"] == 2

    bad_subject = message(bid)
    bad_subject["channels"]["email"]["subject"]["uk"] = "{{ contact.first_name"
    error = _error(client, ws, bad_subject)
    assert error["field"] == "channels.email.subject.uk"
    assert error["details"][0]["line"] == 1

    bad_language = message(bid)
    bad_language["channels"]["email"]["subject"] = {"english!": "Hi"}
    assert _error(client, ws, bad_language)["field"].startswith("channels.email.subject")

    assert _error(client, ws, message(bid, category="newsletter"))["field"] == "category"
    assert _error(client, ws, message(bid, channels={}))["code"] == "validation_error"
    sms_without_text = message(bid, channels={"sms": {"append": [{"block": bid}]}})
    assert _error(client, ws, sms_without_text)["field"] == "channels.sms.text"


def test_a_text_channel_needs_blocks_with_a_text_source(client: TestClient, ws: Workspace) -> None:
    email_only = create_block(client, ws, text={})
    body = message(email_only["id"])
    body["channels"]["sms"] = {"text": {"en": "Hi"}, "append": [{"block": email_only["id"]}]}
    error = _error(client, ws, body)
    assert error["field"] == "channels.sms.append[0].block"
    assert "no text source" in error["message"]


def test_the_api_needs_credentials(client: TestClient) -> None:
    r = client.post("/api/v1/blocks", json={"name": "x"})
    assert r.status_code == 401
    assert client.get("/api/v1/messages").status_code == 401


def test_preview_as_a_contact_in_their_language_with_errors_for_the_code_view(
    client: TestClient, ws: Workspace
) -> None:
    r = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={"identifiers": {"email": "olena@example.com"}, "language": "uk",
              "attributes": {"first_name": "Олена"}},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    block = create_block(client, ws)
    body = message(block["id"])
    body["channels"]["email"]["body"][1] = {"mjml": {"en": section("{{ data.total / data.n }}")}}
    msg = create_message(client, ws, body)
    url = f"/api/v1/messages/{msg['id']}/preview"
    by_email = client.post(
        url,
        headers=ws.api_headers,
        json={"email": "olena@example.com", "variables": {"data": {"total": 3, "n": 1}}},
    )
    assert by_email.status_code == 200, by_email.text
    preview = by_email.json()
    assert preview["errors"] == []
    assert preview["contact_id"] is not None
    assert preview["versions_used"] == {block["id"]: 1}
    assert preview["subject"] == "Розпродаж"
    assert "Привіт, Олена: new arrivals" in preview["html"]
    assert preview["language"] == "uk"
    as_english = client.post(url, headers=ws.api_headers,
                             json={"email": "olena@example.com", "language": "en",
                                   "variables": {"data": {"total": 3, "n": 1}}})  # fmt: skip
    assert as_english.json()["subject"] == "Sale for Олена"
    failing = client.post(
        url,
        headers=ws.api_headers,
        json={"language": "en", "variables": {"data": {"total": 3, "n": 0}}},
    )
    assert failing.status_code == 200
    [error] = failing.json()["errors"]
    assert error["path"] == "channels.email.body[1].mjml.en"
    assert error["template"] == "channels.email.body[1].mjml.en"
    assert error["line"] == 1
    assert error["reason"] == "ZeroDivisionError: division by zero"
    assert failing.json()["html"] is None
    unknown = client.post(url, headers=ws.api_headers, json={"email": "nobody@example.com"})
    assert unknown.status_code == 404
    wrong_channel = client.post(url, headers=ws.api_headers, json={"channel": "sms"})
    assert wrong_channel.status_code == 422
    reserved = client.post(url, headers=ws.api_headers, json={"variables": {"contact": {}}})
    assert reserved.json()["error"]["field"] == "variables.contact"


@pytest.mark.parametrize(
    ("kind", "source", "line", "fragment"),
    [
        ("text", "Hi\n{{ contact.first_name ", 2, "unexpected end of template"),
        ("subject", "{% for x in y %}", 1, "endfor"),
        ("mjml", "<mj-section><mj-column>{{ x }}", None, "invalid MJML"),
    ],
)
def test_validate_answers_errors_with_line_numbers(
    client: TestClient, ws: Workspace, kind: str, source: str, line: int | None, fragment: str
) -> None:
    r = client.post("/api/v1/templates/validate", headers=ws.api_headers,
                    json={"source": source, "kind": kind})  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False
    assert body["errors"][0]["line"] == line
    assert fragment in body["errors"][0]["reason"]


def test_validate_accepts_good_sources_and_rejects_bad_requests(
    client: TestClient, ws: Workspace
) -> None:
    good = {"source": section("{{ contact.first_name | default('x') }}"), "kind": "mjml"}
    assert client.post("/api/v1/templates/validate", headers=ws.api_headers, json=good).json() == {
        "valid": True, "errors": []
    }  # fmt: skip
    r = client.post("/api/v1/templates/validate", headers=ws.api_headers,
                    json={"source": "x", "kind": "html"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "kind"


def test_revisions_are_kept_whole_and_sections_are_not_documents(
    client: TestClient, ws: Workspace
) -> None:
    block = create_block(client, ws)
    created = create_message(client, ws, message(block["id"]))
    url = f"/api/v1/messages/{created['id']}"
    client.put(url, headers=ws.api_headers, json=message(block["id"], name="Second"))
    revisions = client.get(f"{url}/revisions", headers=ws.api_headers).json()["items"]
    assert [(r["revision"], r["name"]) for r in revisions] == [(2, "Second"), (1, "Spring sale")]
    document = message(block["id"])
    document["channels"]["email"]["body"][1] = {"mjml": {"en": "<mjml><mj-body></mj-body></mjml>"}}
    r = client.put(url, headers=ws.api_headers, json=document)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "channels.email.body[1].mjml.en"
    assert len(client.get(f"{url}/revisions", headers=ws.api_headers).json()["items"]) == 2
    whole = {"name": "Doc", "kind": "custom", "email": {"en": "<mjml></mjml>"}}
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=whole)
    assert r.json()["error"]["field"] == "email.en"
