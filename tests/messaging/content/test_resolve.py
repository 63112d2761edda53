"""``ContentService.resolve`` → ``ResolvedContent.render``: languages on every channel,
per-contact failures, the versions used, the compile cache, block parameters."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.content import ContentError, RenderedText, for_database
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.templates import RenderError, render_many
from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, message, section

LANGS = ("en", "uk", "de")
WEBHOOK = '{{"lang": "{lang}", "name": {{{{ contact.first_name | tojson }}}}}}'


def per_language(template: str) -> dict[str, str]:
    return {lang: template.format(lang=lang) for lang in LANGS}


def all_channels(block_id: str) -> dict[str, Any]:
    """Every channel with en/uk/de versions whose text names the language."""
    text = per_language("[{lang}] Hi {{{{ contact.first_name | default('you') }}}}")
    append = [{"block": block_id}]
    return {
        "email": {"subject": per_language("[{lang}] subject"), "body": [
            {"block": block_id}, {"mjml": {k: section(v) for k, v in text.items()}}]},
        "sms": {"text": text, "append": append},
        "viber": {"text": text, "button_text": {"en": "Open"}, "append": append},
        "push": {"title": per_language("[{lang}] title"), "body": text},
        "inapp": {"title": per_language("[{lang}] title"), "body": text},
        "webhook": {"body": per_language(WEBHOOK)},
    }  # fmt: skip


def main_text(rendered: RenderedEmail | RenderedText) -> str:
    return rendered.subject if isinstance(rendered, RenderedEmail) else rendered.text


def set_workspace_default(container: Container, workspace_id: str, language: str) -> None:
    container.db.write(
        lambda conn: conn.execute(
            "UPDATE workspaces SET settings = json_object('default_language', ?) WHERE id = ?",
            [language, workspace_id],
        )
    )


@pytest.mark.parametrize("channel", ["email", "sms", "viber", "push", "inapp", "webhook"])
def test_language_fallback_chain_on_every_channel(
    client: TestClient, container: Container, ws: Workspace, channel: str
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"], channels=all_channels(block["id"])))
    service = for_database(container.db)
    variables = {"contact": {"first_name": "Ann"}}

    def language(candidates: list[str | None]) -> str:
        rendered = service.resolve(ws.id, msg["id"], channel).render(variables, candidates)
        assert not isinstance(rendered, RenderError), rendered
        assert rendered.language in main_text(rendered)
        return rendered.language

    assert language(["uk-UA"]) == "uk"  # the contact's language, by primary subtag
    assert language([None, "fr", "de-AT"]) == "de"  # no contact language: the browser's
    assert language(["pl", "fr"]) == "en"  # none of them: the message's default
    set_workspace_default(container, ws.id, "de")
    assert language(["pl", "fr"]) == "de"  # the workspace default comes before it
    assert language(["uk"]) == "uk"


def test_text_fields_fall_back_along_the_chain_too(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"], channels=all_channels(block["id"])))
    resolved = for_database(container.db).resolve(ws.id, msg["id"], "viber")
    rendered = resolved.render({"contact": {}}, ["uk"])
    assert isinstance(rendered, RenderedText)
    assert rendered.fields["button_text"] == "Open"  # only written in English
    assert rendered.text == "[uk] Hi you\nSTOP — відписатися."  # the block's uk text appended
    assert rendered.fields["image_url"] == ""
    german = resolved.render({"contact": {}}, ["de"])
    assert isinstance(german, RenderedText)
    assert german.text.endswith("Reply STOP to opt out. new arrivals")  # block has no de: en


def test_a_contact_whose_render_fails_fails_alone(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    body = message(block["id"])
    body["channels"]["email"]["body"][1] = {
        "mjml": {"en": section("Line one") + "\n" + section("{{ 100 // data.share }}%")}
    }
    msg = create_message(client, ws, body)
    resolved = for_database(container.db).resolve(ws.id, msg["id"], "email")
    contacts = [{"contact": {"first_name": f"C{i}"}, "data": {"share": i % 3}} for i in range(9)]
    results = [resolved.render(v, ["en"]) for v in contacts]
    failed = [i for i, r in enumerate(results) if isinstance(r, RenderError)]
    assert failed == [0, 3, 6]
    error = results[0]
    assert isinstance(error, ContentError)
    assert error.path == "channels.email.body[1].mjml.en"
    assert error.line == 2  # the line in the section as written, not in the compiled HTML
    assert "ZeroDivisionError" in error.reason
    ok = results[1]
    assert isinstance(ok, RenderedEmail)
    assert "100%" in ok.html
    # The Composer renders ``resolved.email`` directly and gets the same precise reason.
    assert resolved.email is not None
    direct = resolved.email.render(contacts[3])
    assert isinstance(direct, ContentError)
    assert direct.path == "channels.email.body[1].mjml.en"
    html = resolved.email.versions["en"].html
    assert [type(r).__name__ for r in render_many(html, contacts[:3])][:2] == ["RenderError", "str"]


def test_versions_used_and_the_revision_are_recorded(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    header = create_block(client, ws)
    footer = create_block(
        client,
        ws,
        name="Footer",
        kind="unsubscribe_footer",
        email={"en": section('<a href="{{ links.unsubscribe }}">Unsubscribe</a>')},
    )
    client.put(
        f"/api/v1/blocks/{footer['id']}",
        headers=ws.api_headers,
        json={
            "name": "Footer",
            "kind": "unsubscribe_footer",
            "email": {"en": section('<a href="{{ links.unsubscribe }}">Stop</a>')},
        },
    )
    body = message(header["id"])
    body["channels"]["email"]["body"].append({"block": footer["id"]})
    msg = create_message(client, ws, body)
    resolved = for_database(container.db).resolve(ws.id, msg["id"], "email")
    assert dict(resolved.versions_used) == {header["id"]: 1, footer["id"]: 2}
    assert resolved.revision == 1
    assert (resolved.category, resolved.topic, resolved.tags) == ("promo", "news", ("spring",))
    rendered = resolved.render({"links": {"unsubscribe": "https://x.example/u/1"}}, ["en"])
    assert isinstance(rendered, RenderedEmail)
    assert 'href="https://x.example/u/1"' in rendered.html


def test_compiled_once_per_revision_and_block_versions(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"]))
    service = for_database(container.db)
    before = service.cache.compiles
    first = service.resolve(ws.id, msg["id"], "email")
    assert service.resolve(ws.id, msg["id"], "email") is first
    assert service.cache.compiles == before + 1
    client.put(f"/api/v1/blocks/{block['id']}", headers=ws.api_headers,
               json={"name": "H", "kind": "header", "email": {"en": section("v2")}})  # fmt: skip
    second = service.resolve(ws.id, msg["id"], "email")
    assert second is not first
    assert second.versions_used == {block["id"]: 2}
    client.put(f"/api/v1/messages/{msg['id']}", headers=ws.api_headers, json=message(block["id"]))
    third = service.resolve(ws.id, msg["id"], "email")
    assert third.revision == 2
    assert service.cache.compiles == before + 3
    # A sender that resolves per send may accept an answer up to max_age_s old.
    assert service.resolve(ws.id, msg["id"], "email", max_age_s=60) is third
    client.put(f"/api/v1/messages/{msg['id']}", headers=ws.api_headers, json=message(block["id"]))
    assert service.resolve(ws.id, msg["id"], "email", max_age_s=60) is third
    assert service.resolve(ws.id, msg["id"], "email").revision == 3


LOOP = "<mj-raw>{{% for p in products %}}</mj-raw>{}<mj-raw>{{% endfor %}}</mj-raw>"


def test_block_parameters_bind_literals_and_variables_safely(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    grid = create_block(
        client, ws, name="Grid", kind="product_grid", text={},
        email={"en": LOOP.format(section("{{ title }}: {{ p.name }}"))},
        params={"title": {"default": "Picks"}, "products": {"default": {"var": "products"}}},
    )  # fmt: skip
    sneaky = "50% off %} {{ 7*7 }} {% if %}'\"\\ ünï"
    body = message(grid["id"])
    body["channels"]["email"]["body"][0]["params"] = {
        "title": sneaky, "products": {"var": "data.recommendations"}
    }  # fmt: skip
    msg = create_message(client, ws, body)
    resolved = for_database(container.db).resolve(ws.id, msg["id"], "email")
    variables = {
        "products": [{"name": "Ignored"}],
        "data": {"total": 1, "recommendations": [{"name": "Mug"}, {"name": "Cup"}]},
    }
    rendered = resolved.render(variables, ["en"])
    assert isinstance(rendered, RenderedEmail)
    assert "Mug" in rendered.text
    assert "Cup" in rendered.text
    assert "Ignored" not in rendered.text
    assert "50% off %} {{ 7*7 }} {% if %}'\"\\ ünï: Mug" in rendered.text  # literal, not code


def test_promo_blocks_name_their_pool(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    promo = create_block(
        client, ws, name="Promo", kind="promo_code",
        email={"en": section("Your code: {{ promo_code }}")}, text={"en": "Code {{ promo_code }}"},
        params={"pool": {"default": "pool_default"}},
    )  # fmt: skip
    body = message(promo["id"])
    body["channels"]["email"]["body"].append({"block": promo["id"], "params": {"pool": "pool_x"}})
    body["channels"]["sms"] = {"text": {"en": "Hi"}, "append": [{"block": promo["id"]}]}
    msg = create_message(client, ws, body)
    service = for_database(container.db)
    assert service.resolve(ws.id, msg["id"], "email").promo_pools == ("pool_default", "pool_x")
    sms = service.resolve(ws.id, msg["id"], "sms")
    assert sms.promo_pools == ("pool_default",)
    rendered = sms.render({"promo_code": "ABC-7"}, ["en"])
    assert isinstance(rendered, RenderedText)
    assert rendered.text == "Hi\nCode ABC-7"


def test_the_composer_path_follows_the_same_chain(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    block = create_block(client, ws)
    body = message(block["id"], channels=all_channels(block["id"]), default_language="uk")
    msg = create_message(client, ws, body)
    service = for_database(container.db)
    email = service.resolve(ws.id, msg["id"], "email").email
    assert email is not None
    chosen = email.render({"contact": {"language": "pl"}})
    assert isinstance(chosen, RenderedEmail)
    assert chosen.language == "uk"  # the message's default
    set_workspace_default(container, ws.id, "de")
    email = service.resolve(ws.id, msg["id"], "email").email
    assert email is not None
    chosen = email.render({"contact": {"language": "pl"}})
    assert isinstance(chosen, RenderedEmail)
    assert chosen.language == "de"  # the workspace default comes first
    chosen = email.render({"contact": {"language": "en-GB"}})
    assert isinstance(chosen, RenderedEmail)
    assert chosen.language == "en"


def test_block_lines_are_their_own_even_with_parameters(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    block = create_block(
        client, ws, text={},
        email={"en": section("{{ title }}") + "\n" + section("{{ 10 // data.n }}")},
    )  # fmt: skip
    msg = create_message(client, ws, message(block["id"]))
    resolved = for_database(container.db).resolve(ws.id, msg["id"], "email")
    error = resolved.render({"data": {"n": 0, "total": 1}}, ["en"])
    assert isinstance(error, ContentError)
    assert error.template == f"{block['id']}@1.email.en"
    assert error.path == "channels.email.body[0]"
    assert error.line == 2
    with pytest.raises(Exception, match="no message"):
        for_database(container.db).resolve(other_ws.id, msg["id"], "email")


def test_concurrent_edits_never_lose_a_version(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    import asyncio

    from retenta.messaging.content.schemas import BlockIn

    block = create_block(client, ws)
    service = for_database(container.db)

    async def edits() -> list[dict[str, Any]]:
        bodies = [BlockIn(name=f"Header {i}", kind="header", email={"en": section(str(i))})
                  for i in range(8)]  # fmt: skip
        return await asyncio.gather(*(service.update_block(ws.id, block["id"], b) for b in bodies))

    asyncio.run(edits())
    versions = service.block_versions(ws.id, block["id"])
    assert [v["version"] for v in versions] == list(range(9, 0, -1))
    assert sorted(v["name"] for v in versions[:-1]) == sorted(f"Header {i}" for i in range(8))
