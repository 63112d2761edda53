"""Scenarios started by time passing: win-back (two ways) and birthday."""

from __future__ import annotations

from typing import Any

from retenta.journeys.scenarios.content import Copy
from retenta.journeys.scenarios.lifecycle import POOL, _with_hello
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
from retenta.journeys.scenarios.shopping import BOUGHT, NAME, channels_param
from retenta.signals.daily import WINBACK_DUE

# --- win-back ---------------------------------------------------------------------------


def _winback_copy(p: Params) -> dict[str, Copy]:
    shop = p["store_url"]
    return {
        "miss_you": Copy(
            "Win-back: we miss you", "promo", topic="winback", products=False,
            subject={"en": "We miss you", "uk": "Ми сумуємо", "ru": "Мы скучаем",
                     "de": "Wir vermissen Sie"},
            body=_with_hello({"en": "It has been a while. Here is what is new since your last"
                                    " visit.",
                              "uk": "Давно не бачились. Ось що нового з вашого останнього візиту.",
                              "ru": "Давно не виделись. Вот что нового с вашего последнего визита.",
                              "de": "Lange nicht gesehen. Das ist neu seit Ihrem letzten Besuch."}),
            button={"en": "See what is new", "uk": "Що нового", "ru": "Что нового",
                    "de": "Neuheiten"}, button_url=shop),
        "last_chance": Copy(
            "Win-back: a reason to come back", "promo", topic="winback", products=False,
            subject={"en": f"{p['discount_percent']}% off, just for you",
                     "uk": f"−{p['discount_percent']}% лише для вас",
                     "ru": f"−{p['discount_percent']}% только для вас",
                     "de": f"{p['discount_percent']}% Rabatt, nur für Sie"},
            body={"en": f"Come back with {p['discount_percent']}% off.",
                  "uk": f"Повертайтеся зі знижкою {p['discount_percent']}%.",
                  "ru": f"Возвращайтесь со скидкой {p['discount_percent']}%.",
                  "de": f"Kommen Sie zurück mit {p['discount_percent']}% Rabatt."},
            button={"en": "Shop now", "uk": "До покупок", "ru": "К покупкам",
                    "de": "Jetzt einkaufen"}, button_url=shop, promo_pool=p["promo_pool"]),
    }  # fmt: skip


def _lapsed_segment(p: Params) -> dict[str, dict[str, Any]]:
    if p["method"] != "days":
        return {}
    days = int(p["days"])
    return {"lapsed": {
        "name": f"Lapsed customers: no order in {days} days",
        "description": "Bought before, nothing in the last N days (the win-back scenario).",
        "tags": ["scenario", "winback"], "realtime": True,
        "definition": {"version": 1, "root": {"type": "all", "conditions": [
            {"type": "order", "window": {"kind": "ever"}},
            {"type": "order", "window": {"kind": "last", "amount": days, "unit": "days"},
             "compare": {"op": "equals", "value": 0}}]}},
    }}  # fmt: skip


def _winback_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    if p["method"] == "days":
        trigger: dict[str, Any] = {"type": "segment", "segment_id": ids.segments["lapsed"],
                                   "on": "entered"}  # fmt: skip
    else:
        trigger = event_trigger(WINBACK_DUE)
    start, timing = at_send_time(p["send_time"], "miss_you")
    return journey(
        "Win-back", trigger, rule("once_per", days=p["every_days"]), start, *timing,
        send("miss_you", ids.messages["miss_you"], "wait", channels=p["channels"],
             category="promo"),
        wait_event("wait", BOUGHT, p["offer_after_days"], "days", "done", "last_chance"),
        send("last_chance", ids.messages["last_chance"], "done", channels=p["channels"],
             category="promo"),
        done(),
    )  # fmt: skip


WINBACK = Template(
    "win_back", "Win-back",
    "Customers slipping away: by default those who drifted past their own usual interval"
    " between purchases (seed 002's two metrics: recency against the usual interval; signal"
    " 'Win-back Due'), or with method 'days' everyone with no order in N days (a real-time"
    " segment). A note first, an offer if no order follows.",
    (Param("method", "choice", "interval", "Who lapses", ("interval", "days")),
     Param("days", "integer", 90, "No order in (days), for method 'days'", minimum=7,
           maximum=3650),
     Param("offer_after_days", "integer", 7, "Offer after (days)", minimum=1, maximum=90),
     send_time_param(),
     Param("discount_percent", "integer", 15, "Offer discount (%)", minimum=1, maximum=90),
     POOL,
     Param("every_days", "integer", 60, "At most once per (days)", minimum=1, maximum=3650),
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _winback_copy, _winback_journey, _lapsed_segment, events=(WINBACK_DUE, BOUGHT),
)  # fmt: skip


# --- birthday ---------------------------------------------------------------------------


def _birthday_copy(p: Params) -> dict[str, Copy]:
    return {"greeting": Copy(
        "Birthday greeting", "promo", topic="birthday", products=False,
        subject={"en": f"Happy birthday{NAME}!", "uk": f"З днем народження{NAME}!",
                 "ru": f"С днём рождения{NAME}!", "de": f"Alles Gute zum Geburtstag{NAME}!"},
        body={"en": f"A gift from us: {p['discount_percent']}% off this week.",
              "uk": f"Подарунок від нас: −{p['discount_percent']}% цього тижня.",
              "ru": f"Подарок от нас: −{p['discount_percent']}% на этой неделе.",
              "de": f"Ein Geschenk: {p['discount_percent']}% Rabatt diese Woche."},
        button={"en": "Choose a gift", "uk": "Обрати подарунок", "ru": "Выбрать подарок",
                "de": "Geschenk aussuchen"}, button_url=p["store_url"],
        promo_pool=p["promo_pool"],
    )}  # fmt: skip


def _birthday_journey(p: Params, ids: Prebuilt) -> dict[str, Any]:
    trigger = {"type": "date", "attribute": p["attribute"],
               "offset": {"amount": p["days_before"], "unit": "days"}, "direction": "before",
               "at": p["at"], "timezone": "contact", "yearly": True}  # fmt: skip
    return journey(
        "Birthday", trigger, rule("once_per", days=300), "send",
        send("send", ids.messages["greeting"], "done", channels=p["channels"], category="promo"),
        done(),
    )  # fmt: skip


BIRTHDAY = Template(
    "birthday", "Birthday",
    "A greeting with a gift some days before the contact's birthday, at a local time in the"
    " contact's timezone (a date trigger on the birthday attribute).",
    (Param("attribute", "text", "birthday", "Date attribute"),
     Param("days_before", "integer", 3, "Days before", minimum=0, maximum=60),
     Param("at", "text", "09:00", "Local time"),
     Param("discount_percent", "integer", 15, "Gift discount (%)", minimum=1, maximum=90),
     POOL,
     Param("store_url", "text", "https://shop.example.com", "Store address"),
     channels_param()),
    _birthday_copy, _birthday_journey, events=(),
)  # fmt: skip
