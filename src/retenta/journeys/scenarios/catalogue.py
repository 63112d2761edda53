"""The ready scenarios, by key, in the order the gallery shows them."""

from __future__ import annotations

from retenta.errors import ApiError
from retenta.journeys.scenarios.dates import BIRTHDAY, WINBACK
from retenta.journeys.scenarios.lifecycle import (
    CROSS_SELL,
    ORDER_CONFIRMATION,
    REFERRAL,
    WELCOME,
)
from retenta.journeys.scenarios.model import Template
from retenta.journeys.scenarios.shopping import (
    ABANDONED_BROWSE,
    ABANDONED_CART,
    ABANDONED_SEARCH,
    WISHLIST,
)
from retenta.journeys.scenarios.signalled import (
    BACK_IN_STOCK_TEMPLATE,
    NEXT_BEST,
    PRICE_DROP,
    REPLENISHMENT,
)

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        ABANDONED_CART, ABANDONED_BROWSE, ABANDONED_SEARCH, PRICE_DROP, BACK_IN_STOCK_TEMPLATE,
        REPLENISHMENT, NEXT_BEST, WISHLIST, WELCOME, WINBACK, CROSS_SELL, BIRTHDAY,
        ORDER_CONFIRMATION, REFERRAL,
    )
}  # fmt: skip


def template(key: str) -> Template:
    found = TEMPLATES.get(key)
    if found is None:
        raise ApiError(404, "not_found", f"no scenario template {key!r}")
    return found
