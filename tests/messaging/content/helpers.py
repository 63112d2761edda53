"""Payloads and calls shared by the content tests (real app, real DuckDB, real HTTP)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Workspace


def section(text: str) -> str:
    return f"<mj-section><mj-column><mj-text>{text}</mj-text></mj-column></mj-section>"


def header_block(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Header",
        "kind": "header",
        "email": {
            "en": section("Hello {{ contact.first_name | default('friend') }}, {{ title }}"),
            "uk": section("Привіт, {{ contact.first_name | default('друже') }}: {{ title }}"),
        },
        "text": {"en": "Reply STOP to opt out. {{ title }}", "uk": "STOP — відписатися."},
        "params": {"title": {"default": "new arrivals", "description": "the headline"}},
    } | overrides


def message(block_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Spring sale",
        "category": "promo",
        "topic": "news",
        "tags": ["spring"],
        "default_language": "en",
        "channels": {
            "email": {
                "subject": {"en": "Sale for {{ contact.first_name }}", "uk": "Розпродаж"},
                "preheader": {"en": "Only today"},
                "body": [
                    {"block": block_id},
                    {"mjml": {"en": section("Total {{ data.total | money('EUR') }}")}},
                ],
            }
        },
    } | overrides


def create_block(client: TestClient, ws: Workspace, **overrides: Any) -> dict[str, Any]:
    r = client.post("/api/v1/blocks", headers=ws.api_headers, json=header_block(**overrides))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def create_message(client: TestClient, ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/messages", headers=ws.api_headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]
