"""Scenarios along the customer's life: welcome, order confirmation, post-purchase
cross-sell, referral invitation, win-back and birthday."""

from __future__ import annotations

from typing import Any

from retenta.journeys.scenarios.content import Copy
from retenta.journeys.scenarios.model import (
    Param,
    Params,
    Prebuilt,
    Template,
    at_send_time,
    done,
    event_trigger,
    happened,
    journey,
    rule,
    send,
    send_time_param,
    wait,
)
from retenta.journeys.scenarios.shopping import BOUGHT, channels_param

HELLO = {
    "en": "Hello{{ ', ' ~ contact.first_name if contact.first_name }}!",
    "uk": "Вітаємо{{ ', ' ~ contact.first_name if contact.first_name }}!",
    "ru": "Здравствуйте{{ ', ' ~ contact.first_name if contact.first_name }}!",
    "de": "Hallo{{ ', ' ~ contact.first_name if contact.first_name }}!",
}


POOL = Param("promo_pool", "text", "", "Promo pool for personal codes (pool_…, optional)")


def _with_hello(texts: dict[str, str]) -> dict[str, str]:
    return {k: f"{HELLO[k]} {v}" for k, v in texts.items()}


# --- welcome series ---------------------------------------------------------------------


def _welcome_copy(p: Params) -> dict[str, Copy]:
    shop = p["store_url"]
    return {
        "hello": Copy(
            "Welcome 1: hello", "trigger", topic="welcome", products=False,
            subject={"en": "Welcome!", "uk": "Ласкаво просимо!", "ru": "Добро пожаловать!",
                     "de": "Willkommen!"},
            body=_with_hello({"en": "Thank you for joining us.", "uk": "Дякуємо, що ви з нами.",
                              "ru": "Спасибо, что вы с нами.",
                              "de": "Danke, dass Sie dabei sind."}),
            button={"en": "Start shopping", "uk": "До покупок", "ru": "К покупкам",
                    "de": "Jetzt einkaufen"}, button_url=shop),
        "story": Copy(
            "Welcome 2: why us", "trigger", topic="welcome", products=False,
            subject={"en": "Why people shop with us", "uk": "Чому в нас купують",
                     "ru": "Почему у нас покупают", "de": "Warum man bei uns einkauft"},
            body={"en": "Free returns for 30 days, delivery in 1–3 days, real support.",
                  "uk": "Безкоштовне повернення 30 днів, доставка за 1–3 дні, жива підтримка.",
                  "ru": "Бесплатный возврат 30 дней, доставка за 1–3 дня, живая поддержка.",
                  "de": "30 Tage kostenlose Rückgabe, Lieferung in 1–3 Tagen, echter Support."},
            button={"en": "See the best sellers", "uk": "Хіти продажів", "ru": "Хиты продаж",
                    "de": "Bestseller ansehen"}, button_url=shop),
        "offer": Copy(
            "Welcome 3: first order offer", "promo", topic="welcome", products=False,
            subject={"en": "A gift for your first order", "uk": "Подарунок до першого замовлення",
                     "ru": "Подарок к первому заказу", "de": "Ein Geschenk zur ersten Bestellung"},
            body={"en": f"{p['discount_percent']}% off your first order.",
                  "uk": f"−{p['discount_percent']}% на перше замовлення.",
                  "ru": f"−{p['discount_percent']}% на первый заказ.",
                  "de": f"{p['discount_percent']}% Rabatt auf Ihre erste Bestellung."},
            button={"en": "Use it", "uk": "Скористатися", "ru": "Воспользоваться",
                    "de": "Einlösen"}, button_url=shop, promo_pool=p["promo_pool"]),
    }  # fmt: skip


def _welcome_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    doc = journey(
        "Welcome series", event_trigger(p["start_event"]), rule("once"), "hello",
        send("hello", ids.messages["hello"], "pause_1", channels=p["channels"]),
        wait("pause_1", p["second_after_days"], "days", "bought_1"),
        happened("bought_1", BOUGHT, "done", "story"),
        send("story", ids.messages["story"], "pause_2", channels=p["channels"]),
        wait("pause_2", p["third_after_days"], "days", "bought_2"),
        happened("bought_2", BOUGHT, "done", "offer"),
        send("offer", ids.messages["offer"], "done", channels=p["channels"], category="promo"),
        done(),
    )  # fmt: skip
    doc["goal"] = {"event": BOUGHT}  # the first order converts the run, wherever it is
    return doc


WELCOME = Template(
    "welcome", "Welcome series",
    "Three emails after sign-up — hello, why us, a first-order offer — that stop at the"
    " first order (the journey's goal).",
    (Param("start_event", "choice", "Signed Up", "Starts on", ("Signed Up", "Subscribed")),
     Param("second_after_days", "integer", 2, "Second email after (days)", minimum=1, maximum=60),
     Param("third_after_days", "integer", 3, "Third email after (days)", minimum=1, maximum=60),
     Param("discount_percent", "integer", 10, "First-order discount (%)", minimum=1, maximum=90),
     POOL,
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _welcome_copy, _welcome_journey, events=("Signed Up", BOUGHT),
)  # fmt: skip


# --- order confirmation (transactional) -------------------------------------------------

ORDER = "{{ data.trigger.properties.order_id }}"
TOTAL = "{{ data.trigger.properties.total | money(data.trigger.properties.currency) }}"


def _order_copy(p: Params) -> dict[str, Copy]:
    return {"confirmation": Copy(
        "Order confirmation", "transactional", push=False,
        subject={"en": f"Order {ORDER} is confirmed", "uk": f"Замовлення {ORDER} підтверджено",
                 "ru": f"Заказ {ORDER} подтверждён", "de": f"Bestellung {ORDER} ist bestätigt"},
        body={"en": f"Thank you! Total: {TOTAL}.", "uk": f"Дякуємо! Разом: {TOTAL}.",
              "ru": f"Спасибо! Итого: {TOTAL}.", "de": f"Danke! Summe: {TOTAL}."},
    )}  # fmt: skip


def _order_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    return journey(
        "Order confirmation", event_trigger(p["event"]), rule("every_time", concurrent=100),
        "send", send("send", ids.messages["confirmation"], "done", channels=p["channels"],
                     category="transactional"),
        done(),
    )  # fmt: skip


ORDER_CONFIRMATION = Template(
    "order_confirmation", "Order confirmation",
    "Every order, at once, as a transactional message (past quiet hours and promo caps).",
    (Param("event", "choice", BOUGHT, "Starts on", (BOUGHT, "Order Placed")), channels_param()),
    _order_copy, _order_journey, events=(BOUGHT,),
)  # fmt: skip


# --- post-purchase cross-sell -----------------------------------------------------------


def _cross_copy(p: Params) -> dict[str, Copy]:
    return {"cross_sell": Copy(
        "Post-purchase cross-sell", "promo", topic="recommendations",
        subject={"en": "Goes well with your purchase", "uk": "Пасує до вашої покупки",
                 "ru": "Подходит к вашей покупке", "de": "Passt zu Ihrem Einkauf"},
        body=_with_hello({"en": "How do you like your order? These go well with it.",
                          "uk": "Як вам замовлення? До нього добре пасує ось що.",
                          "ru": "Как вам заказ? К нему хорошо подходит вот что.",
                          "de": "Wie gefällt Ihnen Ihre Bestellung? Das passt gut dazu."}),
        button={"en": "See more", "uk": "Більше", "ru": "Ещё", "de": "Mehr"},
        button_url=p["store_url"],
    )}  # fmt: skip


def _cross_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    where = [{"property": "total", "op": "gte", "value": p["min_total"]}] if p["min_total"] else []
    then, timing = at_send_time(p["send_time"], "send")
    return journey(
        "Post-purchase cross-sell", event_trigger(BOUGHT, *where),
        rule("once_per", days=p["every_days"]), "pause",
        wait("pause", p["after_days"], "days", "again"),
        happened("again", BOUGHT, "done", then), *timing,
        send("send", ids.messages["cross_sell"], "done", channels=p["channels"], category="promo"),
        done(),
    )  # fmt: skip


CROSS_SELL = Template(
    "post_purchase_cross_sell", "Post-purchase cross-sell",
    "Some days after an order (and only if no other order came since): what goes with it.",
    (Param("after_days", "integer", 7, "Send after (days)", minimum=1, maximum=90),
     Param("min_total", "number", 0, "Orders from this total", minimum=0),
     send_time_param(),
     Param("every_days", "integer", 14, "At most once per (days)", minimum=1, maximum=365),
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _cross_copy, _cross_journey, events=(BOUGHT,),
)  # fmt: skip


# --- referral invitation ----------------------------------------------------------------

LINK = "{{ contact.attributes.referral_link | default(data.referral_link) | default('') }}"


def _referral_copy(p: Params) -> dict[str, Copy]:
    return {"invite": Copy(
        "Referral invitation", "promo", topic="referral", products=False,
        subject={"en": "Give your friends a gift", "uk": "Подаруйте друзям подарунок",
                 "ru": "Подарите друзьям подарок", "de": "Beschenken Sie Ihre Freunde"},
        body=_with_hello({"en": "Share your link: your friends get a discount, you get a bonus.",
                          "uk": "Поділіться посиланням: друзі отримають знижку, ви — бонус.",
                          "ru": "Поделитесь ссылкой: друзья получат скидку, вы — бонус.",
                          "de": "Teilen Sie Ihren Link: Freunde sparen, Sie bekommen"
                                " einen Bonus."}),
        button={"en": "Invite friends", "uk": "Запросити", "ru": "Пригласить",
                "de": "Freunde einladen"},
        button_url=LINK.replace("default('')", f"default('{p['store_url']}')"),
    )}  # fmt: skip


def _referral_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [wait("pause", p["after_days"], "days", "referral_hook")]
    nodes.append(_referral_hook(p, "invite"))
    nodes += [send("invite", ids.messages["invite"], "done", channels=p["channels"],
                   category="promo"), done()]  # fmt: skip
    return journey("Referral invitation", event_trigger(BOUGHT),
                   rule("once_per", days=p["every_days"]), "pause", *nodes)  # fmt: skip


def _referral_hook(p: Params, after: str) -> dict[str, Any]:
    """The hook the referral programme fills: a webhook that issues the contact's link
    (stored as ``referral_link`` by the programme) before the invitation; without a URL, a
    mark on the contact so the programme can find who was invited."""
    if p["referral_webhook_url"]:
        return {"id": "referral_hook", "type": "webhook", "url": p["referral_webhook_url"],
                "method": "POST", "headers": {},
                "body": {"contact_id": "{{ contact.contact_id }}",
                         "order_id": "{{ data.trigger.properties.order_id }}"},
                "next": after}  # fmt: skip
    return {"id": "referral_hook", "type": "update_contact",
            "set": {"referral_invited": "true"}, "unset": [], "next": after}  # fmt: skip


REFERRAL = Template(
    "referral_invitation", "Referral invitation after purchase",
    "A day after an order, an invitation to refer friends with the contact's own link. The"
    " referral programme fills the hook: its webhook issues the link (contact attribute"
    " 'referral_link'); until then the message links to the store.",
    (Param("after_days", "integer", 1, "Send after (days)", minimum=0, maximum=60),
     Param("every_days", "integer", 90, "At most once per (days)", minimum=1, maximum=365),
     Param("referral_webhook_url", "text", "", "Referral programme webhook (optional)"),
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _referral_copy, _referral_journey, events=(BOUGHT,),
)  # fmt: skip
