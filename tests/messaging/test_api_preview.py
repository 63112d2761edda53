"""POST /api/v1/messages/preview over real HTTP: as a stored contact, per language, errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from retenta.messaging.email.examples import promo_version
from tests.conftest import Workspace

URL = "/api/v1/messages/preview"


def versions(*languages: str) -> dict[str, Any]:
    out = {}
    for lang in languages:
        v = promo_version(lang)
        out[lang] = {"subject": v.subject, "preheader": v.preheader, "mjml": v.mjml}
    return out


PRODUCTS = [{"name": "Mug", "price": 12.5, "currency": "EUR", "url": "https://s.example/m"}]


def make_contact(client: TestClient, ws: Workspace) -> int:
    response = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={
            "identifiers": {"email": "olena@example.com"},
            "attributes": {"first_name": "Олена", "city": "Kyiv"},
            "language": "uk",
            "timezone": "Europe/Kyiv",
        },
    )
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def test_preview_as_a_stored_contact_in_her_language(client: TestClient, ws: Workspace) -> None:
    contact_id = make_contact(client, ws)
    response = client.post(
        URL,
        headers=ws.api_headers,
        json={
            "versions": versions("en", "uk"),
            "default_language": "en",
            "contact_id": contact_id,
            "variables": {"products": PRODUCTS},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "uk"
    assert body["contact_id"] == contact_id
    assert body["subject"] == "Розпродаж: Олена, 1 × 12,50\xa0EUR"
    assert body["text"].startswith("Привіт, Олена!")
    assert '<html lang="uk"' in body["html"]


def test_preview_without_a_contact_uses_browser_then_default(
    client: TestClient, ws: Workspace
) -> None:
    payload = {
        "versions": versions("en", "de"),
        "default_language": "en",
        "variables": {"products": PRODUCTS},
    }
    german = client.post(
        URL, headers=ws.api_headers, json={**payload, "accept_language": "fr, de-AT;q=0.8"}
    )
    assert german.json()["language"] == "de"
    assert german.json()["subject"] == "Sale: Freund, 1 × 12,50\xa0€"
    english = client.post(URL, headers=ws.api_headers, json=payload)
    assert english.json()["language"] == "en"


def test_template_errors_name_the_version_part_and_line(client: TestClient, ws: Workspace) -> None:
    broken = versions("en")
    broken["en"]["subject"] = "Hi {{ contact.first_name "
    response = client.post(URL, headers=ws.api_headers, json={"versions": broken})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "template_error"
    assert error["field"] == "versions.en.subject"
    assert error["details"][0]["line"] == 1
    escape = versions("en")
    escape["en"]["subject"] = "{{ ''.__class__.__mro__ }}"
    response = client.post(URL, headers=ws.api_headers, json={"versions": escape})
    assert response.status_code == 400
    assert "not allowed" in response.json()["error"]["details"][0]["reason"]


def test_another_workspaces_contact_is_not_found(
    client: TestClient, ws: Workspace, other_ws: Workspace
) -> None:
    contact_id = make_contact(client, ws)
    response = client.post(
        URL,
        headers=other_ws.api_headers,
        json={"versions": versions("en"), "contact_id": contact_id},
    )
    assert response.status_code == 404


def test_needs_an_api_key_and_valid_body(client: TestClient, ws: Workspace) -> None:
    assert client.post(URL, json={"versions": versions("en")}).status_code == 401
    response = client.post(URL, headers=ws.api_headers, json={"versions": {}})
    assert response.status_code in (400, 422)
    reserved = client.post(
        URL, headers=ws.api_headers, json={"versions": versions("en"), "variables": {"contact": {}}}
    )
    assert reserved.status_code == 400
    assert reserved.json()["error"]["field"] == "variables.contact"
