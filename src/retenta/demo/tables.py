"""A simulated chunk as Arrow tables in the shapes of migrations 0001, 0002 and 0006.

Money stays in integer cents here (columns named ``*_cents``); the writer scales it to
``DECIMAL(18,2)`` exactly in SQL. Events follow ``storage.duckdb.events.EVENT_SCHEMA``
and are sorted by (contact_id, timestamp), the clustered layout of the ``events`` tier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retenta.demo import behaviour as bh
from retenta.demo.catalog import CURRENCY, LEAVES, STORE_URL, TAXONOMY, Catalog
from retenta.demo.jsonparts import Piece, dictionary, join, lists, money, take, text
from retenta.demo.model import LANGUAGES, LOCALES, Calendar, group_starts
from retenta.demo.people import People
from retenta.demo.timeline import Timeline
from retenta.storage.duckdb.events import EVENT_SCHEMA

TS = pa.timestamp("us", tz="UTC")
STORES = ("store-kyiv-1", "store-kyiv-2", "store-lviv-1", "store-odesa-1", "store-warsaw-1")
COUPONS = ("SALE10", "WELCOME10", "VIP10")
CAMPAIGN_THEMES = (
    "New arrivals", "Weekend sale", "Back in stock", "Editor's picks", "Last chance",
    "Members only", "Style guide", "Price drop",
)  # fmt: skip

EVENT_NAMES = {
    bh.K_HOME: "Home", bh.K_IDENTIFY: None, bh.K_SIGNUP: "Signed Up",
    bh.K_SEARCH: "Products Searched", bh.K_CATEGORY: "Category",
    bh.K_LIST: "Product List Viewed", bh.K_VIEW: "Product Viewed",
    bh.K_WISHLIST: "Product Added to Wishlist", bh.K_ADD: "Product Added",
    bh.K_REMOVE: "Product Removed", bh.K_CART: "Cart Viewed",
    bh.K_CHECKOUT: "Checkout Started", bh.K_ORDER: "Order Completed",
    bh.K_REFUND: "Order Refunded", bh.K_CANCEL: "Order Cancelled",
    bh.K_SHIPPED: "Order Updated",
    bh.K_DELIVERED: "Email Delivered", bh.K_OPENED: "Email Opened", bh.K_CLICKED: "Email Clicked",
}  # fmt: skip
PAGE_KINDS = (bh.K_HOME, bh.K_CATEGORY)
N_KINDS = max(EVENT_NAMES) + 1


def const(value: str, n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, pa.string()), value)


def stamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), TS)


@dataclass(frozen=True)
class CatalogText:
    """Per-product JSON fragments, built once and taken by index for every event."""

    sku: pa.Array
    name: pa.Array
    category: pa.Array
    brand: pa.Array
    selling: pa.Array  # JSON number
    core: pa.Array  # "product_id":…,"price":…,"currency":… (no braces)
    view_props: pa.Array  # {core}: a view's or a wish's properties
    leaf_category: pa.Array  # per leaf: "Women/Shoes/Sneakers"
    leaf_slug: pa.Array
    queries: pa.Array  # per leaf × 3 search phrasings

    @classmethod
    def build(cls, cat: Catalog) -> CatalogText:
        sku = pa.array(cat.sku, pa.string())
        name = pa.array(cat.name, pa.string())
        leaf_category = pa.array(list(LEAVES), pa.string())
        category = take(leaf_category, cat.leaf)
        brand = pa.array(cat.brand, pa.string())
        selling = money(cat.selling_cents)
        core = join(
            '"product_id":"', sku, '","sku":"', sku, '","name":"', name, '","category":"',
            category, '","brand":"', brand, '","price":', selling, ',"currency":"', CURRENCY, '"',
        )  # fmt: skip
        slug = [leaf.lower().replace("/", "-").replace(" ", "-") for leaf in LEAVES]
        queries = [q for leaf in LEAVES for q in _phrasings(leaf)]
        view = join("{", core, "}")
        return cls(
            sku,
            name,
            category,
            brand,
            selling,
            core,
            view,
            leaf_category,
            pa.array(slug),
            pa.array(queries),
        )


def _phrasings(leaf: str) -> list[str]:
    """Three ways people search for a category.

    >>> _phrasings("Women/Shoes/Sneakers")
    ['sneakers', 'women sneakers', 'trainers']
    """
    parts = leaf.split("/")
    nouns = TAXONOMY[leaf][0]
    return [parts[-1].lower(), f"{parts[0]} {parts[-1]}".lower(), nouns[1 % len(nouns)].lower()]


@dataclass(frozen=True)
class Chunk:
    """Everything about one simulated chunk that the table builders need."""

    workspace_id: str
    number: int
    tag: str  # distinguishes this store's ids (message, order, cart) from another's
    contact_ids: np.ndarray
    ordinal: np.ndarray  # the person's number in the whole population
    pop: bh.Population
    people: People
    anon: tuple[np.ndarray, np.ndarray]  # anonymous ids of device 0 and 1
    orders: bh.Orders
    placed: np.ndarray
    fate: np.ndarray  # per session, see behaviour.cart_fate
    tl: Timeline
    cal: Calendar
    cat: Catalog
    text: CatalogText
    campaigns: np.ndarray  # send times

    def order_ids(self) -> pa.Array:
        base = 10_000_000 * (self.number + 1)
        return join(self.tag.upper(), "-", text(base + np.arange(self.orders.size)))

    def cart_ids(self, session: np.ndarray) -> pa.Array:
        return join("cart-", self.tag, "-", str(self.number), "-", text(session))

    def message_ids(self) -> pa.Array:
        return join(
            "demo-", self.tag, "-", f"{self.number:05d}", "-", text(np.arange(self.tl.size))
        )


# ---------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderMoney:
    subtotal: np.ndarray
    discount: np.ndarray
    shipping: np.ndarray
    coupon: np.ndarray  # index into COUPONS or -1

    @property
    def total(self) -> np.ndarray:
        return np.asarray(self.subtotal - self.discount + self.shipping)

    @property
    def revenue(self) -> np.ndarray:
        return np.asarray(self.subtotal - self.discount)


def order_money(rng: np.random.Generator, ch: Chunk) -> OrderMoney:
    """Line totals, a 10% coupon now and then, and shipping below the free threshold."""
    o = ch.orders
    line = ch.cat.selling_cents[o.item_product] * o.item_qty
    subtotal = np.bincount(o.item_order, weights=line, minlength=o.size).astype(np.int64)
    coupon = np.where(rng.random(o.size) < 0.15, rng.integers(0, len(COUPONS), o.size), -1)
    discount = np.where(coupon >= 0, (subtotal // 1000) * 100, 0)
    shipping = np.where(~o.offline & (subtotal < 150_000), 7_000, 0)
    return OrderMoney(subtotal, discount, shipping, coupon)


def order_status(ch: Chunk) -> np.ndarray:
    """Where each order's events leave it: paid, shipped, returned (in full) or cancelled."""
    o = ch.orders
    shipped = np.zeros(o.size, dtype=bool)
    shipped[ch.tl.order[ch.tl.kind == bh.K_SHIPPED]] = True
    returned = (o.refund_at < bh.NEVER) & o.refund_full
    status = np.where(shipped, "shipped", "paid").astype(object)
    status[returned] = "returned"
    status[o.cancelled] = "cancelled"
    return status


def _items_json(ch: Chunk) -> pa.Array:
    o = ch.orders
    return join("{", take(ch.text.core, o.item_product), ',"quantity":', text(o.item_qty), "}")


def _order_json(ch: Chunk, m: OrderMoney, order_id: pa.Array) -> pa.Array:
    o = ch.orders
    coupon = pc.if_else(
        pa.array(m.coupon >= 0),
        join(',"coupon":"', take(pa.array(COUPONS), np.maximum(m.coupon, 0)), '"'),
        "",
    )
    store = pc.if_else(
        pa.array(o.offline),
        join(
            ',"channel":"offline","store_id":"', take(pa.array(STORES), o.person % len(STORES)), '"'
        ),
        ',"channel":"online"',
    )
    products = lists(_items_json(ch), o.n_items)
    return join(
        '{"order_id":"', order_id, '","total":', money(m.total), ',"revenue":', money(m.revenue),
        ',"shipping":', money(m.shipping), ',"discount":', money(m.discount), ',"tax":0',
        coupon, store, ',"currency":"', CURRENCY, '","products":', products, "}",
    )  # fmt: skip


def refund_amounts(ch: Chunk, m: OrderMoney) -> np.ndarray:
    """Per order, what a refund gives back: the whole total, or the first line less its
    share of the coupon."""
    o = ch.orders
    first = group_starts(o.n_items)
    line = ch.cat.selling_cents[o.item_product[first]] * o.item_qty[first]
    line -= line * m.discount // np.maximum(m.subtotal, 1)
    return np.asarray(np.where(o.refund_full, m.total, line))


def _refund_json(ch: Chunk, m: OrderMoney, order_id: pa.Array) -> pa.Array:
    """Full refunds name the order; partial ones the first line, all of its units."""
    o = ch.orders
    first = group_starts(o.n_items)
    amount = refund_amounts(ch, m)
    partial = join(
        ',"products":[{',
        take(ch.text.core, o.item_product[first]),
        ',"quantity":',
        text(o.item_qty[first]),
        "}]",
    )
    products = pc.if_else(pa.array(o.refund_full), "", partial)
    return join(
        '{"order_id":"',
        order_id,
        '","total":',
        money(amount),
        ',"currency":"',
        CURRENCY,
        '"',
        products,
        "}",
    )


# ---------------------------------------------------------------- events


def _product_props(ch: Chunk, rows: np.ndarray, with_cart: bool) -> Piece:
    tl = ch.tl
    if not with_cart:  # the same text for every view of a product: encode once
        return rows, ch.text.view_props, tl.product[rows]
    core = take(ch.text.core, tl.product[rows])
    cart = ch.cart_ids(tl.cart[rows])
    return (
        rows,
        join("{", core, ',"quantity":', text(tl.qty[rows]), ',"cart_id":"', cart, '"}'),
        None,
    )


def campaign_ids(ch: Chunk) -> pa.Array:
    return join("cmp-", pc.strftime(stamps(ch.campaigns), format="%Y%m%d"))


def _campaign_props(ch: Chunk, rows: np.ndarray, kind: int) -> Piece:
    """Per campaign (and, for opens, per machine/human) one text shared by all its events."""
    cid = campaign_ids(ch)
    name = take(pa.array(CAMPAIGN_THEMES), np.arange(len(ch.campaigns)) % len(CAMPAIGN_THEMES))
    head = join('{"campaign_id":"', cid, '","campaign_name":"', name, '","channel":"email"')
    codes = ch.tl.campaign[rows]
    if kind == bh.K_OPENED:
        variants = pa.concat_arrays(
            [join(head, ',"machine_open":false}'), join(head, ',"machine_open":true}')]
        )
        return rows, variants, codes + len(ch.campaigns) * ch.tl.machine[rows]
    if kind == bh.K_CLICKED:
        link = join(head, ',"link_url":"', STORE_URL, "/?utm_source=email&utm_campaign=", cid, '"}')
        return rows, link, codes
    return rows, join(head, "}"), codes


def _leaf_props(ch: Chunk, rows: np.ndarray, key: str) -> Piece:
    leaf = ch.pop.favourite_leaf[ch.tl.person[rows]]
    head = '{"path":"/c/' if key == "path" else '{"list_id":"'
    return rows, join(head, ch.text.leaf_slug, '","category":"', ch.text.leaf_category, '"}'), leaf


def search_queries(ch: Chunk, rows: np.ndarray) -> pa.Array:
    """What was typed: one of the leaf's phrasings, chosen by the event's position."""
    return take(ch.text.queries, search_codes(ch, rows))


def search_codes(ch: Chunk, rows: np.ndarray) -> np.ndarray:
    return np.asarray(ch.tl.query[rows] * 3 + rows % 3)


def search_results(codes: np.ndarray) -> np.ndarray:
    """How many products a phrasing finds (some find nothing).

    >>> search_results(np.array([0, 1, 2])).tolist()
    [0, 82, 161]
    """
    return np.asarray(np.where(codes % 19 == 0, 0, 3 + (codes * 7919) % 160))


def _constant(rows: np.ndarray, value: str) -> Piece:
    return rows, pa.array([value]), np.zeros(len(rows), dtype=np.int64)


ORDER_KEYS = {
    bh.K_SHIPPED: "shipped",
    bh.K_CHECKOUT: "checkout",
    bh.K_ORDER: "order",
    bh.K_REFUND: "refund",
    bh.K_CANCEL: "cancel",
}


def _props_by_kind(
    ch: Chunk, kind: int, rows: np.ndarray, orders_json: dict[str, pa.Array]
) -> Piece | None:
    tl = ch.tl
    if kind == bh.K_HOME:
        return _constant(rows, f'{{"path":"/","url":"{STORE_URL}/","title":"Demo store"}}')
    if kind in (bh.K_CATEGORY, bh.K_LIST):
        return _leaf_props(ch, rows, "path" if kind == bh.K_CATEGORY else "list_id")
    if kind == bh.K_SEARCH:
        found = text(search_results(np.arange(len(ch.text.queries))))
        props = join('{"query":"', ch.text.queries, '","results":', found, "}")
        return rows, props, search_codes(ch, rows)
    if kind in (bh.K_VIEW, bh.K_WISHLIST, bh.K_ADD, bh.K_REMOVE):
        return _product_props(ch, rows, with_cart=kind in (bh.K_ADD, bh.K_REMOVE))
    if kind == bh.K_CART:
        return rows, join('{"cart_id":"', ch.cart_ids(tl.cart[rows]), '"}'), None
    if kind == bh.K_SIGNUP:
        return _constant(rows, '{"method":"email"}')
    if kind in ORDER_KEYS:
        return rows, orders_json[ORDER_KEYS[kind]], tl.order[rows]
    if kind in (bh.K_DELIVERED, bh.K_OPENED, bh.K_CLICKED):
        return _campaign_props(ch, rows, kind)
    return None


def _orders_json(ch: Chunk, m: OrderMoney, order_id: pa.Array) -> dict[str, pa.Array]:
    return {
        "order": _order_json(ch, m, order_id),
        "refund": _refund_json(ch, m, order_id),
        "checkout": join(
            '{"order_id":"',
            order_id,
            '","value":',
            money(m.total),
            ',"revenue":',
            money(m.revenue),
            ',"currency":"',
            CURRENCY,
            '"}',
        ),
        "cancel": join('{"order_id":"', order_id, '","reason":"customer_request"}'),
        "shipped": join('{"order_id":"', order_id, '","status":"shipped"}'),
    }


def person_locales(ch: Chunk) -> pa.Array:
    """Each person's locale ("uk-UA", "pl-PL", …): the language the live resolver records."""
    return take(pa.array([LOCALES[c] for c in LANGUAGES]), ch.pop.lang)


def _browser_context(
    rng: np.random.Generator, locale: pa.Array, timezone: pa.Array, mobile_share: float
) -> pa.Array:
    n = len(locale)
    mobile = rng.random(n) < mobile_share
    phone_os = np.where(rng.random(n) < 0.55, "Android", "iOS")
    os_name = np.where(mobile, phone_os, np.where(rng.random(n) < 0.8, "Windows", "Mac OS"))
    octets = [text(rng.integers(lo, 255, n)) for lo in (31, 0, 0, 1)]
    ip = join(octets[0], ".", octets[1], ".", octets[2], ".", octets[3])
    device = pc.if_else(pa.array(mobile), "mobile", "desktop")
    return join(
        '{"ip":"', ip, '","locale":"', locale, '","timezone":"', timezone,
        '","device":{"type":"', device, '"},"os":{"name":"',
        pa.array(os_name.astype(object), pa.string()), '"}}',
    )  # fmt: skip


def browser_contexts(rng: np.random.Generator, ch: Chunk) -> pa.Array:
    """Per person: the context of their first browser, then of their second (a laptop, mostly)."""
    locale, tz = person_locales(ch), pa.array(ch.people.timezone, pa.string())
    return pa.concat_arrays(
        [_browser_context(rng, locale, tz, 0.7), _browser_context(rng, locale, tz, 0.25)]
    )


def person_traits(ch: Chunk) -> pa.Array:
    """Identify traits (and stored attributes) of every person; anonymous ones get ``{}``."""
    p, pop = ch.people, ch.pop
    first, last = pa.array(p.first_name, pa.string()), pa.array(p.last_name, pa.string())
    email = pc.if_else(
        pa.array(pop.has_email), join(',"email":"', pa.array(p.email, pa.string()), '"'), ""
    )
    phone = pc.if_else(
        pa.array(pop.has_phone), join(',"phone":"', pa.array(p.phone, pa.string()), '"'), ""
    )
    gender = take(pa.array(["female", "male"]), pop.gender)
    full = join(
        '{"firstName":"', first, '","lastName":"', last, '","name":"', first, " ", last, '"',
        email, phone, ',"city":"', pa.array(p.city, pa.string()), '","gender":"', gender,
        '","language":"', person_locales(ch), '","timezone":"', pa.array(p.timezone, pa.string()),
        '"}',
    )  # fmt: skip
    return pc.if_else(pa.array(pop.kind == bh.ANONYMOUS), "{}", full)


def _properties(ch: Chunk, orders_json: dict[str, pa.Array]) -> pa.DictionaryArray:
    pieces = []
    for kind in range(N_KINDS):
        rows = np.nonzero(ch.tl.kind == kind)[0]
        piece = _props_by_kind(ch, kind, rows, orders_json) if len(rows) else None
        if piece is not None:
            pieces.append(piece)
    return dictionary(ch.tl.size, pieces)


def _identifiers(ch: Chunk) -> tuple[pa.DictionaryArray, pa.DictionaryArray]:
    """user_id (after sign-up, or from servers) and the browser's anonymous id."""
    tl, pop = ch.tl, ch.pop
    known = np.nonzero(tl.known(pop) & (pop.kind[tl.person] != bh.ANONYMOUS))[0]
    browser = np.nonzero(tl.device >= 0)[0]
    ext = pa.array(ch.people.external_id, pa.string())
    anon = pa.array(np.concatenate(ch.anon), pa.string())
    slot = tl.person[browser] + pop.size * tl.device[browser]
    return (
        dictionary(tl.size, [(known, ext, tl.person[known])]),
        dictionary(tl.size, [(browser, anon, slot)]),
    )


def events_table(
    rng: np.random.Generator, ch: Chunk, money_: OrderMoney, message_id: pa.Array
) -> pa.Table:
    """The chunk's events in EVENT_SCHEMA's columns, sorted by (contact_id, timestamp).

    Text columns are dictionary-encoded (same logical type: strings), which spares
    copying a product's or browser's text into every event that repeats it.
    """
    tl, n = ch.tl, ch.tl.size
    every = np.arange(n)
    types = np.where(np.isin(tl.kind, PAGE_KINDS), 0, np.where(tl.kind == bh.K_IDENTIFY, 1, 2))
    named = np.nonzero(tl.kind != bh.K_IDENTIFY)[0]
    names = pa.array([EVENT_NAMES.get(k) or "" for k in range(N_KINDS)], pa.string())
    user_id, anonymous_id = _identifiers(ch)
    browser = np.nonzero(tl.device >= 0)[0]
    identify = np.nonzero(tl.kind == bh.K_IDENTIFY)[0]
    received = tl.time + rng.integers(80_000, 1_500_000, n)
    columns = {
        "workspace_id": dictionary(n, [_constant(every, ch.workspace_id)]),
        "message_id": message_id,
        "contact_id": pa.array(ch.contact_ids[tl.person], pa.int64()),
        "type": dictionary(n, [(every, pa.array(["page", "identify", "track"]), types)]),
        "event": dictionary(n, [(named, names, tl.kind[named])]),
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "timestamp": stamps(tl.time),
        "original_timestamp": stamps(tl.time),
        "sent_at": stamps(received - 50_000),
        "received_at": stamps(received),
        "properties": _properties(ch, _orders_json(ch, money_, ch.order_ids())),
        "traits": dictionary(n, [(identify, person_traits(ch), tl.person[identify])]),
        "context": dictionary(
            n,
            [
                (
                    browser,
                    browser_contexts(rng, ch),
                    tl.person[browser] + ch.pop.size * tl.device[browser],
                )
            ],
        ),
        "source": dictionary(n, [_constant(every, "demo")]),
    }
    return pa.table({name: columns[name] for name in EVENT_SCHEMA.names})
