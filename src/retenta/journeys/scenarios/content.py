"""Default content of the ready scenarios: two shared blocks and a message builder.

Every message is made through ``ContentService.save_message`` (checked, versioned, blocks
recorded as used), in four languages. Products come from the run's trigger — a journey
send's variables carry the event that started the run as ``data.trigger`` — through one
shared product-cards block: a list in ``properties.products`` (a cart, an order, a signal),
else the event's own product fields (a ``Product Viewed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retenta.messaging.content.schemas import BlockIn, MessageIn
from retenta.messaging.content.service import ContentService

LANGUAGES = ("en", "uk", "ru", "de")
PRODUCTS_BLOCK = "Scenarios: product cards"
FOOTER_BLOCK = "Scenarios: footer"
PROMO_BLOCK = "Scenarios: promo code"
YOUR_CODE = {"en": "Your code", "uk": "Ваш код", "ru": "Ваш код", "de": "Ihr Code"}
TRIGGER = "data.trigger.properties"
BUY = {"en": "View", "uk": "Переглянути", "ru": "Посмотреть", "de": "Ansehen"}
WHY = {
    "en": "You get this email because you shop with us.",
    "uk": "Ви отримали цей лист, бо купуєте в нас.",
    "ru": "Вы получили это письмо, потому что делаете у нас покупки.",
    "de": "Sie erhalten diese E-Mail, weil Sie bei uns einkaufen.",
}
UNSUBSCRIBE = {"en": "Unsubscribe", "uk": "Відписатися", "ru": "Отписаться", "de": "Abmelden"}
STOP = {"en": "Reply STOP to opt out.", "uk": "STOP — відписатися.", "ru": "STOP — отписаться.",
        "de": "STOP zum Abmelden."}  # fmt: skip
WAS = {"en": "was", "uk": "було", "ru": "было", "de": "vorher"}


def _section(inner: str) -> str:
    return f"<mj-section><mj-column><mj-text>{inner}</mj-text></mj-column></mj-section>"


def _cards(lang: str) -> str:
    """One card per product; ``old_price`` struck through when the price fell."""
    return (
        "<mj-raw>{% set items = products if products else ([product] if product and"
        " product.name else []) %}{% for p in items[:limit] %}</mj-raw>"
        '<mj-section background-color="#ffffff"><mj-column>'
        "<mj-raw>{% if p.image_url %}</mj-raw>"
        '<mj-image src="{{ p.image_url }}" alt="{{ p.name }}" width="200px" />'
        "<mj-raw>{% endif %}</mj-raw>"
        '<mj-text><a href="{{ p.url }}">{{ p.name }}</a></mj-text>'
        "<mj-text>{{ p.price | money(p.currency) }}{% if p.old_price %} <s>" + WAS[lang]
        + " {{ p.old_price | money(p.currency) }}</s>{% endif %}</mj-text>"
        '<mj-button href="{{ p.url }}">' + BUY[lang] + "</mj-button>"
        "</mj-column></mj-section><mj-raw>{% endfor %}</mj-raw>"
    )  # fmt: skip


def products_block() -> BlockIn:
    return BlockIn(
        name=PRODUCTS_BLOCK, kind="product_grid",
        description="Cards for the run's products: a list, else the trigger's own product",
        email={lang: _cards(lang) for lang in LANGUAGES},
        text={lang: "{% set items = products if products else ([product] if product and"
              " product.name else []) %}{% for p in items[:limit] %}{{ p.name }} {{ p.url }}\n"
              "{% endfor %}" for lang in LANGUAGES},
        params={"products": {"default": {"var": f"{TRIGGER}.products"},
                             "description": "a list of products"},
                "product": {"default": {"var": TRIGGER},
                            "description": "one product, when there is no list"},
                "limit": {"default": 4, "description": "at most this many"}},
    )  # fmt: skip


def footer_block() -> BlockIn:
    return BlockIn(
        name=FOOTER_BLOCK, kind="unsubscribe_footer",
        description="Why the contact gets the email, and the one-click unsubscribe",
        email={lang: _section(f'<span style="color:#888;font-size:12px">{WHY[lang]} <a href='
                              f'"{{{{ links.unsubscribe }}}}">{UNSUBSCRIBE[lang]}</a></span>')
               for lang in LANGUAGES},
        text=dict(STOP),
    )  # fmt: skip


def promo_block() -> BlockIn:
    """The contact's own code from the pool the message names (issued once per contact and
    message by the send path); nothing when there is none."""
    return BlockIn(
        name=PROMO_BLOCK, kind="promo_code",
        description="The contact's code from the promo pool given as `pool`",
        email={lang: "<mj-raw>{% if promo_code %}</mj-raw>" + _section(
            f'{YOUR_CODE[lang]}: <b style="font-size:20px">{{{{ promo_code }}}}</b>')
            + "<mj-raw>{% endif %}</mj-raw>" for lang in LANGUAGES},
        text={lang: "{% if promo_code %}" + YOUR_CODE[lang] + ": {{ promo_code }}{% endif %}"
              for lang in LANGUAGES},
        params={"pool": {"default": None, "description": "promo pool id (pool_…)"}},
    )  # fmt: skip


async def ensure_blocks(service: ContentService, workspace_id: str) -> dict[str, str]:
    """The shared blocks' ids, made the first time a scenario needs them."""
    have = {b["name"]: b["id"] for b in service.blocks(workspace_id)}
    ids = {}
    for key, make in (("products", products_block), ("footer", footer_block),
                      ("promo", promo_block)):  # fmt: skip
        block = make()
        if block.name not in have:
            have[block.name] = (await service.create_block(workspace_id, block))["id"]
        ids[key] = str(have[block.name])
    return ids


@dataclass(frozen=True)
class Copy:
    """A message's words per language (Jinja allowed), and whether it shows products."""

    name: str
    category: str
    subject: dict[str, str]
    body: dict[str, str]
    topic: str | None = None
    products: bool = True
    button: dict[str, str] = field(default_factory=dict)
    button_url: str = "{{ data.trigger.properties.url | default('') }}"
    push: bool = True
    promo_pool: str = ""  # a pool id: the message shows the contact's own code from it


def message_in(copy: Copy, blocks: dict[str, str]) -> MessageIn:
    """The message document: email (body, product cards, footer), plus push and SMS text."""
    body: list[dict[str, Any]] = [{"mjml": {k: _section(v) for k, v in copy.body.items()}}]
    if copy.products:
        body.append({"block": blocks["products"]})
    if copy.promo_pool:
        body.append({"block": blocks["promo"], "params": {"pool": copy.promo_pool}})
    if copy.button:
        body.append({"mjml": {lang: f'<mj-section><mj-column><mj-button href="{copy.button_url}">'
                              f"{text}</mj-button></mj-column></mj-section>"
                              for lang, text in copy.button.items()}})  # fmt: skip
    if copy.category != "transactional":
        body.append({"block": blocks["footer"]})
    channels: dict[str, Any] = {"email": {"subject": copy.subject, "body": body}}
    if copy.push:
        channels["push"] = {"title": copy.subject, "body": _plain(copy.body),
                            "url": {"en": copy.button_url}}  # fmt: skip
        channels["sms"] = {"text": {k: f"{v} {copy.button_url}" for k, v in copy.subject.items()}}
        promo = [{"block": blocks["promo"], "params": {"pool": copy.promo_pool}}]
        channels["sms"]["append"] = (promo if copy.promo_pool else []) + (
            [{"block": blocks["footer"]}] if copy.category != "transactional" else [])  # fmt: skip
    doc = {"name": copy.name, "category": copy.category, "topic": copy.topic,
           "tags": ["scenario"], "default_language": "en", "channels": channels}  # fmt: skip
    return MessageIn.model_validate(doc)


def _plain(texts: dict[str, str]) -> dict[str, str]:
    """Push bodies: the email's words without markup."""
    import re

    return {k: re.sub(r"<[^>]+>", "", v).strip() or v for k, v in texts.items()}
