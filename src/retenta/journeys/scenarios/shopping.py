"""Scenarios that follow a shopping session left unfinished: cart, browse, search, wishlist."""

from __future__ import annotations

from typing import Any

from retenta.journeys.scenarios.content import Copy
from retenta.journeys.scenarios.model import (
    Param,
    Params,
    Prebuilt,
    Template,
    done,
    event_trigger,
    happened,
    journey,
    rule,
    send,
    wait_event,
)

BOUGHT = "Order Completed"
NAME = "{{ ', ' ~ contact.first_name if contact.first_name }}"  # ", Ann" or nothing
CHANNELS = ("email", "push,email", "email,sms", "push,email,sms")


def channels_param(default: str = "email") -> Param:
    return Param("channels", "choice", default, "Channels, tried in order", CHANNELS)


# --- abandoned cart ---------------------------------------------------------------------


def _cart_copy(p: Params) -> dict[str, Copy]:
    first = Copy(
        "Abandoned cart: reminder", "trigger", topic="cart",
        subject={"en": "You left something in your cart",
                 "uk": "Ви залишили товари в кошику",
                 "ru": "Вы оставили товары в корзине",
                 "de": "Sie haben etwas im Warenkorb vergessen"},
        body={"en": f"Hello{NAME}! Your cart is waiting.",
              "uk": f"Вітаємо{NAME}! Ваш кошик чекає.",
              "ru": f"Здравствуйте{NAME}! Ваша корзина ждёт.",
              "de": f"Hallo{NAME}! Ihr Warenkorb wartet."},
        button={"en": "Back to the cart", "uk": "До кошика", "ru": "В корзину",
                "de": "Zum Warenkorb"},
        button_url="{{ data.trigger.properties.cart_url | default(data.trigger.properties.url)"
                   " | default('') }}",
    )  # fmt: skip
    second = Copy(
        "Abandoned cart: last reminder", "trigger", topic="cart",
        subject={"en": "Your cart is about to expire", "uk": "Ваш кошик скоро очиститься",
                 "ru": "Ваша корзина скоро очистится", "de": "Ihr Warenkorb läuft bald ab"},
        body={"en": "The items are still reserved for you — but not for long.",
              "uk": "Товари ще чекають на вас — але недовго.",
              "ru": "Товары ещё ждут вас — но недолго.",
              "de": "Die Artikel sind noch für Sie reserviert — aber nicht mehr lange."},
        button=first.button, button_url=first.button_url,
    )  # fmt: skip
    return {"reminder": first, "last_call": second}


def _cart_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    return journey(
        "Abandoned cart", event_trigger(p["start_event"]), rule("once_per", days=1), "wait",
        wait_event("wait", BOUGHT, p["delay_hours"], "hours", "done", "reminder"),
        send("reminder", ids.messages["reminder"], "wait_again", channels=p["channels"]),
        wait_event("wait_again", BOUGHT, p["second_delay_hours"], "hours", "done", "last_call"),
        send("last_call", ids.messages["last_call"], "done", channels=p["second_channels"]),
        done(),
    )  # fmt: skip


ABANDONED_CART = Template(
    "abandoned_cart", "Abandoned cart",
    "A cart left without an order: a reminder after an hour, a last call a day later;"
    " an order at any point ends the run.",
    (Param("start_event", "choice", "Product Added", "Starts on",
           ("Product Added", "Cart Viewed", "Checkout Started")),
     Param("delay_hours", "integer", 1, "First reminder after (hours)", minimum=1, maximum=168),
     Param("second_delay_hours", "integer", 24, "Last call after (hours)", minimum=1,
           maximum=336),
     channels_param(),
     Param("second_channels", "choice", "push,email", "Last call channels", CHANNELS)),
    _cart_copy, _cart_journey, events=("Product Added", "Checkout Started", BOUGHT),
)  # fmt: skip


# --- abandoned browse -------------------------------------------------------------------


def _browse_copy(p: Params) -> dict[str, Copy]:
    return {"reminder": Copy(
        "Abandoned browse", "trigger", topic="recommendations",
        subject={"en": "Still thinking about {{ data.trigger.properties.name }}?",
                 "uk": "Досі думаєте про {{ data.trigger.properties.name }}?",
                 "ru": "Всё ещё думаете о {{ data.trigger.properties.name }}?",
                 "de": "Denken Sie noch an {{ data.trigger.properties.name }}?"},
        body={"en": "Here is the item you looked at.", "uk": "Ось товар, який ви переглядали.",
              "ru": "Вот товар, который вы смотрели.",
              "de": "Hier ist der Artikel, den Sie angesehen haben."},
    )}  # fmt: skip


def _browse_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    where = [{"property": "price", "op": "gte", "value": p["min_price"]}] if p["min_price"] else []
    return journey(
        "Abandoned browse", event_trigger("Product Viewed", *where),
        rule("once_per", days=p["every_days"]), "wait",
        wait_event("wait", "Product Added", p["delay_hours"], "hours", "done", "bought"),
        happened("bought", BOUGHT, "done", "reminder"),
        send("reminder", ids.messages["reminder"], "done", channels=p["channels"]),
        done(),
    )  # fmt: skip


ABANDONED_BROWSE = Template(
    "abandoned_browse", "Abandoned browse",
    "A product viewed but neither added to the cart nor bought: the product, a few hours later.",
    (Param("delay_hours", "integer", 2, "Send after (hours)", minimum=1, maximum=168),
     Param("min_price", "number", 0, "Only products from this price", minimum=0),
     Param("every_days", "integer", 3, "At most once per (days)", minimum=1, maximum=365),
     channels_param()),
    _browse_copy, _browse_journey, events=("Product Viewed", "Product Added", BOUGHT),
)  # fmt: skip


# --- abandoned search -------------------------------------------------------------------

QUERY = "{{ data.trigger.properties.query }}"


def _search_copy(p: Params) -> dict[str, Copy]:
    url = p["store_url"].rstrip("/") + "/search?q={{ data.trigger.properties.query | urlencode }}"
    return {"reminder": Copy(
        "Abandoned search", "trigger", topic="recommendations", products=False,
        subject={"en": f"Still looking for “{QUERY}”?", "uk": f"Досі шукаєте «{QUERY}»?",
                 "ru": f"Всё ещё ищете «{QUERY}»?", "de": f"Suchen Sie noch „{QUERY}“?"},
        body={"en": f"We have more for “{QUERY}” — new items arrive every day.",
              "uk": f"У нас є більше за запитом «{QUERY}» — нові товари щодня.",
              "ru": f"У нас есть больше по запросу «{QUERY}» — новинки каждый день.",
              "de": f"Wir haben mehr zu „{QUERY}“ — jeden Tag neue Artikel."},
        button={"en": "See the results", "uk": "Переглянути", "ru": "Смотреть", "de": "Ergebnisse"},
        button_url=url,
    )}  # fmt: skip


def _search_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    return journey(
        "Abandoned search", event_trigger("Products Searched", {"property": "query",
                                                                "op": "exists"}),
        rule("once_per", days=1), "wait",
        wait_event("wait", "Product Added", p["delay_hours"], "hours", "done", "bought"),
        happened("bought", BOUGHT, "done", "reminder"),
        send("reminder", ids.messages["reminder"], "done", channels=p["channels"]),
        done(),
    )  # fmt: skip


ABANDONED_SEARCH = Template(
    "abandoned_search", "Abandoned search",
    "A search that led to nothing in the cart: the search again, with a link to its results.",
    (Param("delay_hours", "integer", 1, "Send after (hours)", minimum=1, maximum=168),
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _search_copy, _search_journey, events=("Products Searched", "Product Added", BOUGHT),
)  # fmt: skip


# --- wishlist ---------------------------------------------------------------------------


def _wishlist_copy(p: Params) -> dict[str, Copy]:
    return {"reminder": Copy(
        "Wishlist reminder", "trigger", topic="wishlist",
        subject={"en": "Your wishlist misses you", "uk": "Ваш список бажань чекає",
                 "ru": "Ваш список желаний ждёт", "de": "Ihre Wunschliste wartet"},
        body={"en": "The item you saved is still here.", "uk": "Збережений товар досі тут.",
              "ru": "Сохранённый товар всё ещё здесь.", "de": "Der gemerkte Artikel ist noch da."},
    )}  # fmt: skip


def _wishlist_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    return journey(
        "Wishlist reminder", event_trigger("Product Added to Wishlist"),
        rule("once_per", days=p["every_days"]), "wait",
        wait_event("wait", BOUGHT, p["delay_days"], "days", "done", "reminder"),
        send("reminder", ids.messages["reminder"], "done", channels=p["channels"]),
        done(),
    )  # fmt: skip


WISHLIST = Template(
    "wishlist", "Wishlist reminder",
    "A product added to the wishlist and not bought: a reminder some days later. (Its price"
    " drops and restocks are the price-drop and back-in-stock scenarios.)",
    (Param("delay_days", "integer", 3, "Remind after (days)", minimum=1, maximum=90),
     Param("every_days", "integer", 7, "At most once per (days)", minimum=1, maximum=365),
     channels_param()),
    _wishlist_copy, _wishlist_journey, events=("Product Added to Wishlist", BOUGHT),
)  # fmt: skip
