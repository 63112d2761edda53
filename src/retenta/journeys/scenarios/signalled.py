"""Scenarios started by derived signals (``retenta.signals``): price drop, back in stock,
regular demand (replenishment) and next best offer."""

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
    journey,
    rule,
    send,
    send_time_param,
    wait_event,
)
from retenta.journeys.scenarios.shopping import BOUGHT, channels_param
from retenta.signals.catalog import BACK_IN_STOCK, PRICE_DROPPED
from retenta.signals.daily import NEXT_BEST_OFFER, REPLENISHMENT_DUE

NAME = "{{ data.trigger.properties.name }}"
FAVOURITE = "{{ data.trigger.properties.favourite_category }}"
REASONS = ("cart,wishlist,viewed", "cart,wishlist", "cart", "wishlist")


def _reasons(p: Params) -> list[dict[str, Any]]:
    wanted = p["reasons"].split(",")
    return [] if len(wanted) == 3 else [{"property": "reason", "op": "in", "value": wanted}]


def _single(
    name: str, event: str, key: str, p: Params, ids: Prebuilt, category: str = "trigger"
) -> dict[str, Any]:
    """Trigger → (the send time) → send → exit (at most once per the period per contact)."""
    where = _reasons(p) if "reasons" in p else []
    start, timing = at_send_time(p.get("send_time", "now"), "send")
    return journey(
        name, event_trigger(event, *where), rule("once_per", days=p["every_days"]), start,
        *timing,
        send("send", ids.messages[key], "done", channels=p["channels"], category=category),
        done(),
    )  # fmt: skip


def _common(every: int = 1) -> tuple[Param, ...]:
    return (Param("every_days", "integer", every, "At most once per (days)", minimum=1,
                  maximum=365), channels_param("push,email"))  # fmt: skip


# --- price drop -------------------------------------------------------------------------


def _drop_copy(p: Params) -> dict[str, Copy]:
    return {"alert": Copy(
        "Price drop", "trigger", topic="price-alerts",
        subject={"en": f"{NAME} is now cheaper", "uk": f"{NAME} тепер дешевше",
                 "ru": f"{NAME} теперь дешевле", "de": f"{NAME} ist jetzt günstiger"},
        body={"en": "Good news: the price of an item you liked has dropped.",
              "uk": "Гарна новина: ціна товару, який вам сподобався, знизилася.",
              "ru": "Хорошая новость: цена понравившегося вам товара снизилась.",
              "de": "Gute Nachricht: Der Preis eines Artikels, der Ihnen gefiel, ist gesunken."},
    )}  # fmt: skip


PRICE_DROP = Template(
    "price_drop", "Price drop",
    "The price of a product in the contact's open cart or wishlist, or viewed lately, fell:"
    " the product with the old and new price (signal 'Price Dropped').",
    (Param("reasons", "choice", REASONS[0], "For products in", REASONS), *_common()),
    _drop_copy, lambda p, ids: _single("Price drop", PRICE_DROPPED, "alert", p, ids),
    events=(PRICE_DROPPED,),
)  # fmt: skip


# --- back in stock ----------------------------------------------------------------------


def _stock_copy(p: Params) -> dict[str, Copy]:
    return {"alert": Copy(
        "Back in stock", "trigger", topic="stock-alerts",
        subject={"en": f"{NAME} is back in stock", "uk": f"{NAME} знову в наявності",
                 "ru": f"{NAME} снова в наличии", "de": f"{NAME} ist wieder verfügbar"},
        body={"en": "It is back — get it before it is gone again.",
              "uk": "Товар повернувся — встигніть, поки він є.",
              "ru": "Товар вернулся — успейте, пока он есть.",
              "de": "Wieder da — schnell, bevor er wieder weg ist."},
    )}  # fmt: skip


BACK_IN_STOCK_TEMPLATE = Template(
    "back_in_stock", "Back in stock",
    "A product the contact has in an open cart or wishlist, or viewed lately, is available"
    " again (signal 'Back In Stock').",
    (Param("reasons", "choice", REASONS[0], "For products in", REASONS), *_common()),
    _stock_copy, lambda p, ids: _single("Back in stock", BACK_IN_STOCK, "alert", p, ids),
    events=(BACK_IN_STOCK,),
)  # fmt: skip


# --- regular demand ---------------------------------------------------------------------


def _replenish_copy(p: Params) -> dict[str, Copy]:
    reminder = Copy(
        "Time to restock", "trigger", topic="replenishment",
        subject={"en": f"Running low on {NAME}?", "uk": f"Закінчується {NAME}?",
                 "ru": f"Заканчивается {NAME}?", "de": f"Geht {NAME} zur Neige?"},
        body={"en": "By your usual rhythm it is time to restock.",
              "uk": "За вашим звичним ритмом час поповнити запас.",
              "ru": "По вашему обычному ритму пора пополнить запас.",
              "de": "Nach Ihrem üblichen Rhythmus ist es Zeit nachzukaufen."},
    )  # fmt: skip
    return {"reminder": reminder}


def _replenish_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    return journey(
        "Regular demand", event_trigger(REPLENISHMENT_DUE), rule("every_time", concurrent=3),
        "send", send("send", ids.messages["reminder"], "wait", channels=p["channels"]),
        wait_event("wait", BOUGHT, p["reminder_days"], "days", "done", "again"),
        send("again", ids.messages["reminder"], "done", channels="push,email"), done(),
    )  # fmt: skip


REPLENISHMENT = Template(
    "replenishment", "Regular demand (replenishment)",
    "An item the contact buys again and again is due by the contact's own interval for it"
    " (signal 'Replenishment Due'); a second nudge if nothing is bought.",
    (Param("reminder_days", "integer", 5, "Second nudge after (days)", minimum=1, maximum=60),
     channels_param("email")),
    _replenish_copy, _replenish_journey, events=(REPLENISHMENT_DUE, BOUGHT),
)  # fmt: skip


# --- next best offer --------------------------------------------------------------------


def _nbo_copy(p: Params) -> dict[str, Copy]:
    return {"offer": Copy(
        "Next best offer", "promo", topic="recommendations",
        subject={"en": "Picked for you: {{ data.trigger.properties.name }}",
                 "uk": "Вибране для вас: {{ data.trigger.properties.name }}",
                 "ru": "Подобрано для вас: {{ data.trigger.properties.name }}",
                 "de": "Für Sie ausgewählt: {{ data.trigger.properties.name }}"},
        body={"en": f"Customers who love {FAVOURITE} buy this most.",
              "uk": f"Покупці, які люблять {FAVOURITE}, найчастіше беруть це.",
              "ru": f"Покупатели, которые любят {FAVOURITE}, чаще всего берут это.",
              "de": f"Wer {FAVOURITE} mag, kauft am liebsten das."},
    )}  # fmt: skip


NEXT_BEST = Template(
    "next_best_offer", "Next best offer",
    "Some days after an order: the best seller of the contact's favourite category they have"
    " not bought yet (signal 'Next Best Offer').",
    (*_common(14), send_time_param()), _nbo_copy,
    lambda p, ids: _single("Next best offer", NEXT_BEST_OFFER, "offer", p, ids, "promo"),
    events=(NEXT_BEST_OFFER,),
)  # fmt: skip
