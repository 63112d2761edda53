"""The demo store's content: a default block set and example messages in four languages.

Created through the same service as the API (checked, versioned, with where-used), so the
editor, the block library and previews have real content from the first start.
"""

from __future__ import annotations

from typing import Any

from retenta.messaging.content.schemas import BlockIn, MessageIn
from retenta.messaging.content.service import ContentService
from retenta.messaging.email.examples import promo_version

LANGUAGES = ("en", "uk", "ru", "de")
WORDS: dict[str, dict[str, str]] = {
    "en": {"picked": "Picked for you", "buy": "Buy", "why": "You get this email because you"
           " subscribed to our news.", "unsubscribe": "Unsubscribe", "code": "Your code",
           "hello": "Hello", "friend": "friend", "left": "You left something in your cart",
           "back": "Back to the cart", "order": "Thank you! Order {{ order.order_id }} is"
           " confirmed", "total": "Total", "stop": "Reply STOP to opt out."},
    "uk": {"picked": "Вибране для вас", "buy": "Купити", "why": "Ви отримали цей лист, бо"
           " підписалися на новини.", "unsubscribe": "Відписатися", "code": "Ваш код",
           "hello": "Привіт", "friend": "друже", "left": "Ви залишили товари в кошику",
           "back": "Повернутися до кошика", "order": "Дякуємо! Замовлення {{ order.order_id }}"
           " підтверджено", "total": "Разом", "stop": "STOP — відписатися."},
    "ru": {"picked": "Подобрано для вас", "buy": "Купить", "why": "Вы получили это письмо,"
           " потому что подписались на новости.", "unsubscribe": "Отписаться",
           "code": "Ваш код", "hello": "Привет", "friend": "друг",
           "left": "Вы оставили товары в корзине", "back": "Вернуться в корзину",
           "order": "Спасибо! Заказ {{ order.order_id }} подтверждён", "total": "Итого",
           "stop": "STOP — отписаться."},
    "de": {"picked": "Für Sie ausgewählt", "buy": "Kaufen", "why": "Sie erhalten diese E-Mail,"
           " weil Sie unseren Newsletter abonniert haben.", "unsubscribe": "Abmelden",
           "code": "Ihr Code", "hello": "Hallo", "friend": "Freund",
           "left": "Sie haben etwas im Warenkorb vergessen", "back": "Zum Warenkorb",
           "order": "Danke! Bestellung {{ order.order_id }} ist bestätigt", "total": "Summe",
           "stop": "STOP zum Abmelden."},
}  # fmt: skip


def per_language(template: str) -> dict[str, str]:
    """``template`` with ``{word}`` fields filled in each language.

    >>> per_language("{buy}!")["de"]
    'Kaufen!'
    """
    return {lang: template.format(**WORDS[lang]) for lang in LANGUAGES}


def text_section(inner: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f"<mj-section{extra}><mj-column><mj-text>{inner}</mj-text></mj-column></mj-section>"


HEADER = BlockIn(
    name="Store header", kind="header", description="Logo line with the store name",
    email={"en": '<mj-section background-color="#1f2937"><mj-column><mj-text color="#ffffff"'
           ' font-size="22px" font-weight="bold">{{ store_name }}</mj-text></mj-column>'
           "</mj-section>"},
    params={"store_name": {"default": "Demo store", "description": "shown in the header"}},
)  # fmt: skip
FOOTER = BlockIn(
    name="Footer with unsubscribe", kind="unsubscribe_footer",
    description="Why the contact gets the email and the one-click unsubscribe link",
    email=per_language(text_section(
        '<span style="color:#888;font-size:12px">{why} <a href="{{{{ links.unsubscribe }}}}">'
        "{unsubscribe}</a></span>")),
    text=per_language("{stop}"),
)  # fmt: skip
GRID = BlockIn(
    name="Product grid", kind="product_grid",
    description="One card per product: image, name, price and a buy button",
    email=per_language(
        text_section('<span style="font-size:18px">{{{{ title | default("{picked}") }}}}</span>')
        + "<mj-raw>{{% for p in products[:limit] %}}</mj-raw>"
        '<mj-section background-color="#ffffff"><mj-column>'
        '<mj-image src="{{{{ p.image_url }}}}" alt="{{{{ p.name }}}}" width="200px" />'
        '<mj-text><a href="{{{{ p.url }}}}">{{{{ p.name }}}}</a></mj-text>'
        "<mj-text>{{{{ p.price | money(p.currency) }}}}</mj-text>"
        '<mj-button href="{{{{ p.url }}}}">{buy}</mj-button>'
        "</mj-column></mj-section><mj-raw>{{% endfor %}}</mj-raw>"),
    params={"products": {"default": {"var": "products"}, "description": "the products to show"},
            "title": {"default": None, "description": "headline (default per language)"},
            "limit": {"default": 4, "description": "at most this many products"}},
)  # fmt: skip
PROMO = BlockIn(
    name="Promo code", kind="promo_code",
    description="The contact's code from the pool named by `pool`",
    email=per_language(text_section(
        '{code}: <b style="font-size:20px">{{{{ promo_code | default("WELCOME10") }}}}</b>')),
    text=per_language('{code}: {{{{ promo_code | default("WELCOME10") }}}}'),
    params={"pool": {"default": None, "description": "promo pool id (pool_…)"}},
)  # fmt: skip


TOTAL = "<b>{total}: {{{{ order.total | money(order.currency) }}}}</b>"


def _messages(ids: dict[str, str]) -> list[MessageIn]:
    greeting = per_language("{hello}, {{{{ contact.first_name | default('{friend}') }}}}!")
    promo = {lang: promo_version(lang) for lang in LANGUAGES}
    new_arrivals = {
        "name": "New arrivals", "category": "promo", "topic": "news", "tags": ["demo", "weekly"],
        "default_language": "en",
        "channels": {"email": {
            "subject": {lang: v.subject for lang, v in promo.items()},
            "preheader": {lang: v.preheader for lang, v in promo.items()},
            "background_color": "#f4f4f4",
            "body": [{"block": ids["header"]},
                     {"mjml": {k: text_section(v) for k, v in greeting.items()}},
                     {"block": ids["grid"]}, {"block": ids["footer"]}]}},
    }  # fmt: skip
    order = {
        "name": "Order confirmation", "category": "transactional", "tags": ["demo"],
        "default_language": "en",
        "channels": {"email": {
            "subject": per_language("{order}"),
            "body": [{"block": ids["header"]}, {"mjml": per_language(
                text_section("{order}")
                + "<mj-raw>{{% for item in order.items %}}</mj-raw>"
                + text_section("{{{{ item.quantity }}}} × {{{{ item.name }}}} — "
                               "{{{{ item.price | money(order.currency) }}}}")
                + "<mj-raw>{{% endfor %}}</mj-raw>"
                + text_section(TOTAL))}]}},
    }  # fmt: skip
    cart = {
        "name": "Abandoned cart", "category": "trigger", "topic": "cart", "tags": ["demo"],
        "default_language": "en",
        "channels": {
            "email": {"subject": per_language("{left}"),
                      "body": [{"block": ids["header"]},
                               {"mjml": per_language(text_section("{left}"))},
                               {"block": ids["grid"], "params": {"products": {"var": "cart.items"},
                                                                 "title": None}},
                               {"block": ids["promo"]}, {"block": ids["footer"]}]},
            "sms": {"text": per_language("{left}: {{{{ cart.url | default('') }}}}"),
                    "append": [{"block": ids["footer"]}]},
            "push": {"title": per_language("{left}"), "body": per_language("{back}"),
                     "url": {"en": "{{ cart.url | default('') }}"}}},
    }  # fmt: skip
    return [MessageIn.model_validate(m) for m in (new_arrivals, order, cart)]


async def seed_content(service: ContentService, workspace_id: str) -> dict[str, Any]:
    """Create the default blocks and the example messages; their ids by name."""
    ids: dict[str, str] = {}
    for key, block in (("header", HEADER), ("footer", FOOTER), ("grid", GRID), ("promo", PROMO)):
        ids[key] = (await service.create_block(workspace_id, block))["id"]
    messages = {}
    for body in _messages(ids):
        messages[body.name] = (await service.save_message(workspace_id, body))["id"]
    return {"blocks": ids, "messages": messages}
