"""Segment e-commerce events (spec v2) → entity changes. Pure: no I/O, no SQL.

``changes_from(messages)`` reads a batch in event-time order and returns the rows each
entity needs (``Changes``); ``retenta.commerce.apply`` writes them set-based. Reductions
happen here so each SQL statement touches a row at most once (add, add, remove of the same
sku in one batch becomes one cart line change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from retenta.core.messages import Message

PRODUCT_EVENTS = {
    "product viewed",
    "product clicked",
    "product list viewed",
    "product list filtered",
    "promotion viewed",
    "product shared",
    "product reviewed",
}
CART_EVENTS = {"product added", "product removed", "cart viewed", "checkout started"}
ORDER_EVENTS = {"order completed", "order updated", "order cancelled", "order refunded"}
OTHER_EVENTS = {
    "products searched",
    "product added to wishlist",
    "product removed from wishlist",
    "coupon applied",
}
ECOMMERCE_EVENTS = PRODUCT_EVENTS | CART_EVENTS | ORDER_EVENTS | OTHER_EVENTS
OFFLINE_CHANNELS = {"offline": "offline", "store": "offline", "pos": "offline", "retail": "offline"}
CALL_CENTRE = {"call_centre", "call_center", "call centre", "call center", "phone", "callcenter"}


@lru_cache(maxsize=4096)
def event_key(name: str | None) -> str:
    """Segment names compared case- and separator-insensitively (cached: names repeat).

    >>> event_key("Order_Completed"), event_key("  product  added ")
    ('order completed', 'product added')
    """
    return " ".join((name or "").replace("_", " ").lower().split())


def is_ecommerce(message: Message) -> bool:
    return message.type == "track" and event_key(message.event) in ECOMMERCE_EVENTS


def text(value: Any) -> str | None:
    """A non-empty trimmed string, or None.

    >>> text(" a "), text(""), text(12), text(None)
    ('a', None, '12', None)
    """
    if type(value) is str:  # the common case, first
        return value.strip() or None
    if value is None or isinstance(value, dict | list):
        return None
    out = str(value).strip()
    return out or None


MAX_MONEY = Decimal("1e15")  # DECIMAL(18,2) holds 16 integer digits
MAX_COUNT = 1_000_000  # quantities and result counts beyond this are not believable


def money(value: Any) -> Decimal | None:
    """A non-negative amount with 2 decimals, or None when absent, not a number or too big.

    >>> money("19.989"), money(5), money("x"), money(-1), money(True), money("1e30")
    (Decimal('19.99'), Decimal('5.00'), None, None, None, None)
    >>> money(5.0), money(" 5 ")
    (Decimal('5.00'), Decimal('5.00'))
    """
    if value is None or isinstance(value, bool | dict | list):
        return None
    if type(value) in (int, float, str):
        return _money(value)  # prices repeat: a store has a catalog
    return _amount(value)


@lru_cache(maxsize=8192)
def _money(value: int | float | str) -> Decimal | None:
    return _amount(value)


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
        if not amount.is_finite() or not 0 <= amount < MAX_MONEY:
            return None
        return amount.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def count(value: Any, default: int | None = None) -> int | None:
    """A whole number (``"2"`` and ``2.0`` count) within ±1,000,000, or ``default``.

    >>> count("2"), count(2.0), count("x", 1), count(None), count(10**12, 1)
    (2, 2, 1, None, 1)
    >>> count(3), count(-(10**6)), count(10**6 + 1, 7), count(True, 7)
    (3, -1000000, 7, 7)
    """
    if type(value) is int and -MAX_COUNT <= value <= MAX_COUNT:  # the common case, first
        return value
    if value is None or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if not number.is_integer() or abs(number) > MAX_COUNT:
        return default
    return int(number)


def sku_of(item: dict[str, Any]) -> str | None:
    """Segment's ``sku``, else ``product_id`` (both are common in the wild)."""
    sku = item.get("sku")
    if type(sku) is str and (sku := sku.strip()):  # the common case, first
        return sku
    return text(sku) or text(item.get("product_id")) or text(item.get("id"))


def category_text(value: Any) -> str | None:
    if isinstance(value, list):
        return " > ".join(p for p in (text(v) for v in value) if p) or None
    return text(value)


def channel_of(props: dict[str, Any]) -> str:
    """``online``, ``offline`` (store purchase) or ``call_centre``.

    >>> channel_of({"channel": "Store"}), channel_of({"channel": "call center"}), channel_of({})
    ('offline', 'call_centre', 'online')
    """
    raw = event_key(text(props.get("channel")))
    if raw in OFFLINE_CHANNELS:
        return OFFLINE_CHANNELS[raw]
    if raw in CALL_CENTRE or raw.replace(" ", "_") in CALL_CENTRE:
        return "call_centre"
    return "offline" if text(props.get("store_id")) else "online"


def products_of(props: dict[str, Any], *, single: bool) -> list[dict[str, Any]]:
    """The product dicts an event carries: ``properties`` itself, or ``properties.products``."""
    items = props.get("products")
    if isinstance(items, list):
        return [p for p in items if isinstance(p, dict)]
    return [props] if single else []


@dataclass
class CartState:
    """The changes to one contact's cart within a batch, in event order."""

    workspace_id: str = ""
    clear: bool = False
    convert: bool = False
    convert_order: str | None = None
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None
    opened_by: str = ""

    def touch(self, message: Message) -> None:
        self.workspace_id = message.workspace_id
        self.first_at = self.first_at or message.timestamp
        self.last_at = message.timestamp
        self.opened_by = self.opened_by or message.message_id

    def add(self, sku: str, qty: int, price: Decimal | None, at: datetime) -> None:
        line = self.lines.setdefault(sku, {"mode": "delta", "quantity": 0, "price": None})
        line["quantity"] += qty
        line["price"] = price if price is not None else line["price"]
        line["at"] = at

    def set(self, sku: str, qty: int, price: Decimal | None, at: datetime) -> None:
        self.lines[sku] = {"mode": "set", "quantity": qty, "price": price, "at": at}

    def snapshot(self, items: list[tuple[str, int, Decimal | None]], at: datetime) -> None:
        """Cart Viewed / Checkout Started list the whole cart: it replaces what we knew."""
        self.clear, self.lines = True, {}
        for sku, qty, price in items:
            self.add(sku, qty, price, at)


@dataclass
class Changes:
    """Rows per entity, ready to become Arrow tables."""

    products: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    carts: dict[int, list[CartState]] = field(default_factory=dict)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    order_items: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    wishlist: dict[tuple[str, int, str, str], dict[str, Any]] = field(default_factory=dict)
    coupons: list[dict[str, Any]] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(
            (self.products, self.carts, self.orders, self.returns, self.searches)
        ) and not (self.wishlist or self.coupons or self.statuses)


def in_event_order(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: m.timestamp)


def ecommerce_of(messages: Iterable[Message]) -> list[tuple[Message, str]]:
    """The batch's e-commerce events with their names, in event-time order (one pass; every
    other event costs one name lookup)."""
    wanted, key = ECOMMERCE_EVENTS, event_key
    events = [(m, name) for m in messages if m.type == "track" and (name := key(m.event)) in wanted]
    events.sort(key=_event_time)  # stable: ties keep batch order
    return events


def _event_time(pair: tuple[Message, str]) -> datetime:
    return pair[0].timestamp


def changes_from(
    messages: Sequence[Message], complete: Callable[[tuple[str, str]], bool] | None = None
) -> Changes:
    """Everything a batch changes, reduced per entity key. ``complete(key)``: the catalog
    product needs nothing from events (a feed product with every field filled)."""
    return changes_of(ecommerce_of(messages), complete)


def changes_of(
    events: list[tuple[Message, str]],
    complete: Callable[[tuple[str, str]], bool] | None = None,
) -> Changes:
    """``changes_from`` of events that ``ecommerce_of`` picked and ordered."""
    changes = Changes()
    handlers = HANDLERS
    for message, name in events:
        props = message.properties
        items = props.get("products")
        if isinstance(items, list):
            note_products(changes, message, [p for p in items if isinstance(p, dict)], complete)
        elif items is None and name not in ORDER_EVENTS and "products" not in props:
            note_products(changes, message, [props], complete)  # the properties are the product
        handler = handlers.get(name)
        if handler is not None:
            handler(changes, message)
    return changes


def note_products(
    changes: Changes,
    message: Message,
    items: list[dict[str, Any]],
    complete: Callable[[tuple[str, str]], bool] | None = None,
) -> None:
    """Catalog fields carried by any e-commerce event; the newest non-empty value wins. An
    item that carries no catalog field adds no row: it would create an empty product."""
    props, ws, at, products = (
        message.properties,
        message.workspace_id,
        message.timestamp,
        changes.products,
    )
    for item in items:
        sku = item.get("sku")  # ``sku_of``'s common case inline (hot: every product row)
        if (type(sku) is not str or not (sku := sku.strip())) and (sku := sku_of(item)) is None:
            continue
        key = (ws, sku)
        if complete is not None and complete(key):
            continue
        row = products.get(key)
        if row is not None:
            fill_product(row, item, props, at)
            continue
        row = {"workspace_id": ws, "sku": sku}
        fill_product(row, item, props, at)
        if len(row) > _BARE:  # an item with only its sku (``Product Removed``) says nothing
            products[key] = row  # about the product: it neither creates nor changes one


def fill_product(
    row: dict[str, Any], item: dict[str, Any], props: dict[str, Any], at: datetime
) -> None:
    """The item's non-empty catalog fields over ``row`` (the newest non-empty value wins).
    Hot (every product row of a unit): an absent field costs one lookup, a string one strip;
    anything else goes through ``text`` / ``money`` / ``category_text`` as before.

    >>> row = {}; fill_product(row, {"name": " A ", "price": 5, "category": ["W", "S"],
    ...                              "url": "", "brand": 7}, {"currency": "EUR"}, None)
    >>> row["name"], row["price"], row["currency"], row["category"], row["brand"], "url" in row
    ('A', Decimal('5.00'), 'EUR', 'W > S', '7', False)
    """
    get = item.get
    for f in _TEXT_FIELDS:  # name, url, image_url
        if (v := get(f)) is not None and (v := v.strip() if type(v) is str else text(v)):
            row[f] = v
    if (v := get("price")) is not None:
        price = _money(v) if type(v) in _MONEY_TYPES else money(v)
        if price is not None:
            row["price"] = price
    if (v := get("currency") or props.get("currency")) is not None and (
        v := v.strip() if type(v) is str else text(v)
    ):
        row["currency"] = v
    if (v := get("category")) is not None and (
        v := v.strip() if type(v) is str else category_text(v)
    ):
        row["category"] = v
    if (v := get("brand")) is not None and (v := v.strip() if type(v) is str else text(v)):
        row["brand"] = v
    row["seen_at"] = at


_TEXT_FIELDS = ("name", "url", "image_url")
_BARE = 3  # a row's workspace_id, sku and seen_at: no catalog field
_MONEY_TYPES = (int, float, str)  # ``money``'s cached kinds (bool is its own type)


def cart_of(changes: Changes, message: Message) -> CartState:
    """The contact's current cart state in this batch (a new one after a conversion)."""
    assert message.contact_id is not None
    states = changes.carts.get(message.contact_id)
    if states is None:
        states = changes.carts[message.contact_id] = [CartState()]
    elif states[-1].convert:
        states.append(CartState())
    states[-1].touch(message)
    return states[-1]


def on_product_added(changes: Changes, message: Message) -> None:
    for item in products_of(message.properties, single=True):
        sku = sku_of(item)
        qty = count(item.get("quantity"), 1) or 1
        if sku is not None and qty > 0:
            cart_of(changes, message).add(sku, qty, money(item.get("price")), message.timestamp)


def on_product_removed(changes: Changes, message: Message) -> None:
    for item in products_of(message.properties, single=True):
        sku = sku_of(item)
        if sku is None:
            continue
        cart = cart_of(changes, message)
        qty = count(item.get("quantity"))
        if qty is None or qty <= 0:
            cart.set(sku, 0, None, message.timestamp)  # no quantity: the whole line goes
        else:
            cart.add(sku, -qty, None, message.timestamp)


def on_cart_listed(changes: Changes, message: Message) -> None:
    """Cart Viewed / Checkout Started: with a products list, the cart is exactly that."""
    if not isinstance(message.properties.get("products"), list):
        return
    items = []
    for item in products_of(message.properties, single=False):
        sku, qty = sku_of(item), count(item.get("quantity"), 1) or 1
        if sku is not None and qty > 0:
            items.append((sku, qty, money(item.get("price"))))
    cart_of(changes, message).snapshot(items, message.timestamp)


def order_id_of(message: Message) -> str | None:
    return text(message.properties.get("order_id")) or text(message.properties.get("checkout_id"))


ORDER_FIELDS = ("total", "revenue", "discount", "shipping", "tax")


def order_row(message: Message) -> dict[str, Any]:
    props = message.properties
    row: dict[str, Any] = {f: money(props.get(f)) for f in ORDER_FIELDS}
    row["currency"] = (text(props.get("currency")) or "").upper() or None
    row["coupon"] = text(props.get("coupon"))
    if "channel" in props or "store_id" in props:
        row["channel"] = channel_of(props)
        row["store_id"] = text(props.get("store_id"))
    row["attributes"] = {k: props[k] for k in ("affiliation", "subtotal") if k in props}
    return row


def merge_order(changes: Changes, message: Message, status: str | None) -> None:
    """Fold an Order Completed / Updated into the batch's row for that order."""
    order_id = order_id_of(message)
    if order_id is None:
        return
    key = (message.workspace_id, order_id)
    row = changes.orders.setdefault(key, {"workspace_id": key[0], "order_id": order_id})
    row.update({k: v for k, v in order_row(message).items() if v not in (None, {})})
    row.setdefault("contact_id", message.contact_id)
    row.setdefault("placed_at", message.timestamp)
    row.update(updated_at=message.timestamp, source_message_id=message.message_id)
    items = order_items_of(message)
    if items:
        changes.order_items[key] = items
    if status is not None:
        note_status(changes, order_id, status, message)


def order_items_of(message: Message) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for item in products_of(message.properties, single=False):
        sku = sku_of(item)
        qty = count(item.get("quantity"), 1) or 1
        if sku is None or qty <= 0:
            continue
        lines.append(
            {
                "line_no": len(lines) + 1,
                "sku": sku,
                "name": text(item.get("name")),
                "category": category_text(item.get("category")),
                "brand": text(item.get("brand")),
                "quantity": qty,
                "price": money(item.get("price")) or Decimal("0.00"),
            }
        )
    return lines


def note_status(changes: Changes, order_id: str, status: str, message: Message) -> None:
    changes.statuses.append(
        {
            "workspace_id": message.workspace_id,
            "order_id": order_id,
            "status": status,
            "changed_at": message.timestamp,
            "source_message_id": message.message_id,
        }
    )


def on_order_completed(changes: Changes, message: Message) -> None:
    """The order is paid; a new online order converts the contact's open cart (a repeat of
    the same order, even under another messageId, converts nothing)."""
    order_id = order_id_of(message)
    repeat = order_id is not None and (message.workspace_id, order_id) in changes.orders
    merge_order(changes, message, "paid")
    if channel_of(message.properties) == "online" and not repeat:
        cart = cart_of(changes, message)
        cart.convert, cart.convert_order = True, order_id


def on_order_updated(changes: Changes, message: Message) -> None:
    status = text(message.properties.get("status"))
    merge_order(changes, message, status.lower() if status else None)


def on_order_cancelled(changes: Changes, message: Message) -> None:
    order_id = order_id_of(message)
    if order_id is not None:
        note_status(changes, order_id, "cancelled", message)


def on_order_refunded(changes: Changes, message: Message) -> None:
    """A return fact per refunded sku, or one for the whole order when none is listed."""
    order_id = order_id_of(message)
    if order_id is None:
        return
    base = {
        "workspace_id": message.workspace_id,
        "order_id": order_id,
        "returned_at": message.timestamp,
        "source_message_id": message.message_id,
    }
    items = [i for i in products_of(message.properties, single=False) if sku_of(i)]
    if not items:
        amount = money(message.properties.get("total") or message.properties.get("revenue"))
        changes.returns.append({**base, "sku": None, "quantity": None, "amount": amount})
    for item in items:
        qty = count(item.get("quantity"))
        price = money(item.get("price"))
        amount = price * qty if price is not None and qty else None
        changes.returns.append({**base, "sku": sku_of(item), "quantity": qty, "amount": amount})


def on_products_searched(changes: Changes, message: Message) -> None:
    query = text(message.properties.get("query"))
    if query is None:
        return
    changes.searches.append(
        {
            "workspace_id": message.workspace_id,
            "contact_id": message.contact_id,
            "query": query[:500],
            "results": count(first_of(message.properties, "results", "results_count")),
            "searched_at": message.timestamp,
            "message_id": message.message_id,
        }
    )


def first_of(props: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present (0 and "" count as present)."""
    return next((props[n] for n in names if props.get(n) is not None), None)


def wishlist_name(props: dict[str, Any]) -> str:
    return text(props.get("wishlist_name")) or text(props.get("wishlist_id")) or "default"


def on_wishlist(changes: Changes, message: Message, *, add: bool) -> None:
    sku = sku_of(message.properties)
    if sku is None or message.contact_id is None:
        return
    key = (message.workspace_id, message.contact_id, wishlist_name(message.properties), sku)
    changes.wishlist[key] = {"add": add, "added_at": message.timestamp}


def on_coupon_applied(changes: Changes, message: Message) -> None:
    order_id, coupon = (
        order_id_of(message),
        text(message.properties.get("coupon_name")) or text(message.properties.get("coupon_id")),
    )
    if order_id is not None and coupon is not None:
        changes.coupons.append(
            {"workspace_id": message.workspace_id, "order_id": order_id, "coupon": coupon}
        )


HANDLERS = {
    "product added": on_product_added,
    "product removed": on_product_removed,
    "cart viewed": on_cart_listed,
    "checkout started": on_cart_listed,
    "order completed": on_order_completed,
    "order updated": on_order_updated,
    "order cancelled": on_order_cancelled,
    "order refunded": on_order_refunded,
    "products searched": on_products_searched,
    "product added to wishlist": lambda c, m: on_wishlist(c, m, add=True),
    "product removed from wishlist": lambda c, m: on_wishlist(c, m, add=False),
    "coupon applied": on_coupon_applied,
}
