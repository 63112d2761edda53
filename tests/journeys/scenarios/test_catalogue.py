"""The templates API: the gallery, parameter errors that name the field, and every template
instantiated with its defaults — valid journeys whose messages render in four languages."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.scenarios.catalogue import TEMPLATES
from retenta.messaging.content.service import for_database
from tests.conftest import Workspace

KEYS = {
    "abandoned_cart", "abandoned_browse", "abandoned_search", "price_drop", "back_in_stock",
    "replenishment", "next_best_offer", "wishlist", "welcome", "win_back",
    "post_purchase_cross_sell", "birthday", "order_confirmation", "referral_invitation",
}  # fmt: skip
PRODUCT = {"sku": "TEA-1", "product_id": "TEA-1", "name": "Green tea", "price": 100,
           "old_price": 125, "currency": "UAH", "url": "https://shop.example.com/tea-1",
           "image_url": "https://shop.example.com/tea-1.jpg"}  # fmt: skip
TRIGGER = {"event": "Any", "properties": {
    **PRODUCT, "products": [PRODUCT], "query": "green tea", "order_id": "A-1", "total": 100,
    "favourite_category": "Home/Tea", "reason": "cart"}}  # fmt: skip


def test_the_gallery_lists_the_fourteen_scenarios(client: TestClient, ws: Workspace) -> None:
    got = client.get("/api/v1/journey-templates", headers=ws.api_headers).json()["templates"]
    assert {t["key"] for t in got} == KEYS
    for t in got:
        assert t["name"]
        assert t["description"]
        for param in t["params"]:
            assert set(param) >= {"name", "type", "default", "label"}


def test_bad_parameters_are_refused_by_name_and_leave_nothing(client: TestClient,
                                                              ws: Workspace) -> None:  # fmt: skip
    h = ws.api_headers
    cases = [
        ("abandoned_cart", {"delay_hours": 0}, "params.delay_hours", "at least 1"),
        ("abandoned_cart", {"delay_hours": "soon"}, "params.delay_hours", "integer"),
        ("win_back", {"method": "vibes"}, "params.method", "one of"),
        ("welcome", {"colour": "red"}, "params.colour", "unknown parameter"),
        ("birthday", {"at": "9 am"}, "entry.trigger.at", ""),
    ]
    for key, params, field, words in cases:
        answer = client.post(f"/api/v1/journey-templates/{key}/instantiate", headers=h,
                             json={"params": params})  # fmt: skip
        assert answer.status_code == 422, (key, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, error
        assert words in error["message"], error
    assert client.get("/api/v1/messages", headers=h).json()["items"] == []  # nothing made
    assert client.get("/api/v1/journeys", headers=h).json()["items"] == []
    missing = client.post("/api/v1/journey-templates/nope/instantiate", headers=h, json={})
    assert missing.status_code == 404


def test_a_failure_after_the_first_writes_leaves_nothing_behind(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journey store fails after segments and messages were made: they are removed."""
    from retenta.journeys.service import for_container

    def broken(*_: Any, **__: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(for_container(container).store, "create", broken)
    h = ws.api_headers
    with pytest.raises(OSError, match="disk full"):
        client.post("/api/v1/journey-templates/win_back/instantiate", headers=h, json={})
    assert client.get("/api/v1/messages", headers=h).json()["items"] == []
    assert client.get("/api/v1/segments", headers=h).json()["items"] == []
    monkeypatch.undo()
    made = client.post("/api/v1/journey-templates/win_back/instantiate", headers=h, json={})
    assert made.status_code == 201, made.text
    assert len(client.get("/api/v1/segments", headers=h).json()["items"]) == len(
        made.json()["segments"]
    )


def test_every_template_instantiates_and_renders_in_four_languages(
    client: TestClient, ws: Workspace
) -> None:
    h = ws.api_headers
    for key in sorted(KEYS):
        made = client.post(f"/api/v1/journey-templates/{key}/instantiate", headers=h,
                           json={"name": f"Ready: {key}"})  # fmt: skip
        assert made.status_code == 201, (key, made.text)
        body = made.json()
        journey = body["journey"]
        assert journey["name"] == f"Ready: {key}"
        assert journey["status"] == "draft"
        _check_sends(key, journey["definition"], body["messages"], h, client)
        for message_id in body["messages"].values():
            _check_renders(client, h, message_id)
    blocks = client.get("/api/v1/blocks", headers=h).json()
    names = [b["name"] for b in (blocks["items"] if isinstance(blocks, dict) else blocks)]
    assert sorted(names) == [  # shared, made once
        "Scenarios: footer", "Scenarios: product cards", "Scenarios: promo code"]  # fmt: skip


def _check_sends(key: str, definition: dict[str, Any], messages: dict[str, str],
                 h: dict[str, str], client: TestClient) -> None:  # fmt: skip
    """Each send uses a prebuilt message, in the message's own category."""
    sends = [n for n in definition["nodes"] if n["type"] == "send"]
    assert sends, key
    assert {n["message_id"] for n in sends} == set(messages.values()), key
    for node in sends:
        message = client.get(f"/api/v1/messages/{node['message_id']}", headers=h).json()
        assert node["category"] == message["category"], (key, node["id"])


def _check_renders(client: TestClient, h: dict[str, str], message_id: str) -> None:
    message = client.get(f"/api/v1/messages/{message_id}", headers=h).json()
    shows_products = any("block" in part for part in message["channels"]["email"]["body"][:2])
    for language in ("en", "uk", "ru", "de"):
        for channel in message["channels"] if language == "en" else ["email"]:
            shown = client.post(f"/api/v1/messages/{message_id}/preview", headers=h, json={
                "channel": channel, "language": language,
                "variables": {"data": {"trigger": TRIGGER}}}).json()  # fmt: skip
            assert shown["errors"] == [], (message["name"], channel, language, shown["errors"])
            assert shown["language"] == language
            if channel == "email":
                assert shown["subject"]
                assert "{{" not in shown["subject"]
                if shows_products:
                    assert "Green tea" in shown["html"], message["name"]


def test_templates_know_their_keys() -> None:
    assert set(TEMPLATES) == KEYS


def test_offers_carry_a_personal_code_from_the_pool_given(
    client: TestClient, ws: Workspace, container: Container
) -> None:
    h = ws.api_headers
    pool = client.post("/api/v1/promo-pools", headers=h, json={"name": "Birthday"}).json()["id"]
    made = client.post("/api/v1/journey-templates/birthday/instantiate", headers=h,
                       json={"params": {"promo_pool": pool}}).json()  # fmt: skip
    message_id = made["messages"]["greeting"]
    resolved = for_database(container.db).resolve(ws.id, message_id, "email")
    assert resolved.promo_pools == (pool,)  # the send path issues one code per contact
    shown = client.post(f"/api/v1/messages/{message_id}/preview", headers=h, json={
        "language": "uk", "variables": {"promo_code": "BDAY-7Q2X"}}).json()  # fmt: skip
    assert "Ваш код" in shown["html"]
    assert "BDAY-7Q2X" in shown["html"]
    plain = client.post("/api/v1/journey-templates/birthday/instantiate", headers=h, json={})
    resolved = for_database(container.db).resolve(ws.id, plain.json()["messages"]["greeting"],
                                                  "email")  # fmt: skip
    assert resolved.promo_pools == ()  # no pool given: no code block
