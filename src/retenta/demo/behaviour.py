"""What each demo person does over the year: who they are, when they visit, what they buy.

Pure, vectorized numpy over a chunk of people (no Python loop per person or event):
``simulate_people`` → ``plan_orders`` → ``plan_sessions`` → ``expand_sessions``; e-mail
engagement in ``plan_emails``. Everything is drawn from one seeded generator, so a chunk
is a function of ``(seed, chunk number)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retenta.demo.catalog import LEAVES, Catalog, sample_products
from retenta.demo.model import (
    LANGUAGE_SHARE,
    LANGUAGES,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    Calendar,
    Mix,
    group_starts,
    rank_within,
)

ANONYMOUS, WEB, OFFLINE = 0, 1, 2  # kinds of person
NEVER = np.iinfo(np.int64).max // 2

# Event kinds, in the order they happen inside a session.
K_HOME, K_IDENTIFY, K_SIGNUP, K_SEARCH, K_CATEGORY, K_LIST = 0, 1, 2, 3, 4, 5
K_VIEW, K_WISHLIST, K_ADD, K_CART, K_REMOVE, K_CHECKOUT, K_ORDER = 6, 7, 8, 9, 10, 11, 12
K_REFUND, K_CANCEL, K_DELIVERED, K_OPENED, K_CLICKED, K_SHIPPED = 13, 14, 15, 16, 17, 18


@dataclass(frozen=True)
class Population:
    """One row per person of the chunk."""

    kind: np.ndarray
    lang: np.ndarray  # index into LANGUAGES
    gender: np.ndarray
    first_seen: np.ndarray  # µs
    registered: np.ndarray  # µs; NEVER for anonymous visitors
    end: np.ndarray  # µs: last possible activity (churn, or now)
    two_devices: np.ndarray
    has_phone: np.ndarray
    has_email: np.ndarray
    buyer: np.ndarray  # 0 never, 1 one-time, 2 repeat
    interval_days: np.ndarray
    store_shopper: np.ndarray
    favourite_leaf: np.ndarray
    sessions_per_month: np.ndarray
    email_subscribed: np.ndarray
    unsubscribed_at: np.ndarray  # µs; NEVER if still subscribed
    sms_subscribed: np.ndarray
    open_rate: np.ndarray
    machine_opener: np.ndarray
    click_rate: np.ndarray

    @property
    def size(self) -> int:
        return len(self.kind)


def _kinds(rng: np.random.Generator, n: int, mix: Mix) -> np.ndarray:
    u = rng.random(n)
    return np.where(
        u < mix.anonymous_only,
        ANONYMOUS,
        np.where(u < mix.anonymous_only + mix.offline_only, OFFLINE, WEB),
    )


def _first_seen(rng: np.random.Generator, n: int, cal: Calendar, mix: Mix) -> np.ndarray:
    existing = rng.random(n) < mix.existing_customers
    early = cal.start_us + rng.integers(0, 20 * US_PER_DAY, n)
    lo = np.full(n, cal.start_us)
    later = cal.sample(rng, lo, np.full(n, cal.now_us - US_PER_DAY))
    return np.where(existing, early, later)


def _end(
    rng: np.random.Generator, kind: np.ndarray, first: np.ndarray, cal: Calendar, mix: Mix
) -> np.ndarray:
    n = len(kind)
    churned = (kind != ANONYMOUS) & (rng.random(n) < mix.churn)
    stay = np.where(kind == ANONYMOUS, rng.exponential(35, n), rng.exponential(120, n) + 14)
    gone = first + (stay * US_PER_DAY).astype(np.int64)
    limited = churned | (kind == ANONYMOUS)
    return np.minimum(np.where(limited, gone, cal.now_us), cal.now_us - US_PER_HOUR)


def _registered(
    rng: np.random.Generator, kind: np.ndarray, first: np.ndarray, end: np.ndarray, mix: Mix
) -> np.ndarray:
    n = len(kind)
    browsed_first = (kind == WEB) & (rng.random(n) < mix.pre_registration_history)
    delay = (rng.exponential(12, n) * US_PER_DAY).astype(np.int64) + US_PER_HOUR
    reg = np.where(browsed_first, np.minimum(first + delay, end - 10 * 60 * US_PER_SECOND), first)
    return np.where(kind == ANONYMOUS, NEVER, np.maximum(reg, first))


def _buyers(rng: np.random.Generator, kind: np.ndarray, mix: Mix) -> np.ndarray:
    u = rng.random(len(kind))
    buyer = np.where(
        u < mix.one_time_buyer, 1, np.where(u < mix.one_time_buyer + mix.repeat_buyer, 2, 0)
    )
    buyer = np.where(kind == OFFLINE, np.where(u < 0.5, 1, 2), buyer)
    return np.where(kind == ANONYMOUS, 0, buyer)


# How much each department appeals, to women and to men.
DEPARTMENT_APPEAL = {
    "Women": (3.0, 0.3), "Men": (0.4, 3.0), "Kids": (1.2, 0.8), "Home": (1.5, 1.0),
    "Beauty": (2.0, 0.3), "Sports": (0.6, 1.5), "Electronics": (0.5, 1.5),
}  # fmt: skip


def favourite_leaves(rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
    """Each person's favourite category, drawn by how their department appeals to them."""
    out = np.empty(len(gender), dtype=np.int64)
    for g in (0, 1):
        appeal = np.array([DEPARTMENT_APPEAL[leaf.split("/")[0]][g] for leaf in LEAVES])
        mask = gender == g
        out[mask] = rng.choice(len(LEAVES), int(mask.sum()), p=appeal / appeal.sum())
    return out


def simulate_people(rng: np.random.Generator, n: int, cal: Calendar, mix: Mix) -> Population:
    """Who the chunk's people are and how they tend to behave."""
    kind = _kinds(rng, n, mix)
    first = _first_seen(rng, n, cal, mix)
    end = np.maximum(_end(rng, kind, first, cal, mix), first + 10 * 60 * US_PER_SECOND)
    reg = _registered(rng, kind, first, end, mix)
    known = kind != ANONYMOUS
    subscribed = known & (rng.random(n) < 0.7)
    unsub_delay = (rng.uniform(10, 200, n) * US_PER_DAY).astype(np.int64)
    unsubscribes = subscribed & (rng.random(n) < 0.1) & (reg + unsub_delay < cal.now_us)
    gender = (rng.random(n) < 0.42).astype(np.int64)  # 1 = male; the store skews female
    return Population(
        kind=kind,
        lang=rng.choice(len(LANGUAGES), n, p=LANGUAGE_SHARE),
        gender=gender,
        first_seen=first,
        registered=reg,
        end=end,
        two_devices=(kind == WEB) & (rng.random(n) < mix.two_devices),
        has_phone=(kind == OFFLINE) | (known & (rng.random(n) < 0.75)),
        has_email=(kind == WEB) | ((kind == OFFLINE) & (rng.random(n) < 0.5)),
        buyer=_buyers(rng, kind, mix),
        interval_days=np.clip(rng.lognormal(np.log(38), 0.55, n), 6, 240),
        store_shopper=(kind == OFFLINE) | ((kind == WEB) & (rng.random(n) < mix.store_shopper)),
        favourite_leaf=favourite_leaves(rng, gender),
        sessions_per_month=mix.sessions_per_month * rng.lognormal(-0.4, 0.9, n),
        email_subscribed=subscribed,
        unsubscribed_at=np.where(unsubscribes, reg + unsub_delay, NEVER),
        sms_subscribed=known & (rng.random(n) < 0.35),
        open_rate=rng.beta(2.0, 3.5, n),
        machine_opener=rng.random(n) < 0.22,
        click_rate=rng.beta(1.2, 6.0, n),
    )


@dataclass(frozen=True)
class Orders:
    """Purchases (one row each) and their lines, grouped by order."""

    person: np.ndarray
    placed: np.ndarray  # µs
    offline: np.ndarray
    n_items: np.ndarray
    item_product: np.ndarray  # flat, grouped by order
    item_qty: np.ndarray
    cancelled: np.ndarray
    refund_at: np.ndarray  # µs or NEVER
    refund_full: np.ndarray

    @property
    def size(self) -> int:
        return len(self.person)

    @property
    def item_order(self) -> np.ndarray:
        return np.repeat(np.arange(self.size), self.n_items)


def _repeat_times(
    rng: np.random.Generator, pop: Population, who: np.ndarray, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each repeat buyer's own rhythm: gaps around a personal interval until they stop."""
    k = 40
    gaps = rng.gamma(4.0, 0.25, (len(who), k)) * pop.interval_days[who, None] * US_PER_DAY
    gaps[:, 0] = 0
    times = first[:, None] + np.cumsum(gaps.astype(np.int64), axis=1)
    keep = times < pop.end[who, None]
    rows = np.nonzero(keep)
    return who[rows[0]], times[rows]


def _purchase_times(
    rng: np.random.Generator, pop: Population, cal: Calendar
) -> tuple[np.ndarray, np.ndarray]:
    buyers = np.nonzero(pop.buyer > 0)[0]
    reg, end = pop.registered[buyers], pop.end[buyers]
    at_signup = rng.random(len(buyers)) < 0.45
    seasonal = cal.sample(rng, reg, end)
    soon = reg + rng.integers(5, 40, len(buyers)) * 60 * US_PER_SECOND
    first = np.minimum(np.where(at_signup, soon, seasonal), end - 1)
    one = pop.buyer[buyers] == 1
    rep_who, rep_t = _repeat_times(rng, pop, buyers[~one], first[~one])
    who = np.concatenate([buyers[one], rep_who])
    times = np.concatenate([first[one], rep_t])
    order = np.lexsort((times, who))
    return who[order], times[order]


def distinct_within(owner: np.ndarray, product: np.ndarray, size: int) -> np.ndarray:
    """Bump repeated products inside an owner's group until each group's products are distinct.

    >>> distinct_within(np.array([0, 0, 0, 1]), np.array([5, 5, 5, 5]), 10).tolist()
    [5, 6, 7, 5]
    """
    product = product.copy()
    for _ in range(64):
        order = np.lexsort((product, owner))
        o, p = owner[order], product[order]
        dup = np.concatenate([[False], (o[1:] == o[:-1]) & (p[1:] == p[:-1])])
        if not dup.any():
            break
        product[order[dup]] = (p[dup] + 1) % size
    return product


def _items(
    rng: np.random.Generator, pop: Population, cat: Catalog, who: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_items = np.minimum(1 + rng.poisson(0.7, len(who)), 6)
    owner = np.repeat(np.arange(len(who)), n_items)
    person = who[owner]
    favourite = rng.random(len(owner)) < 0.6
    leaf = np.where(favourite, pop.favourite_leaf[person], rng.integers(0, len(LEAVES), len(owner)))
    product = distinct_within(owner, sample_products(rng, cat, leaf, len(owner)), cat.size)
    qty = np.where(rng.random(len(owner)) < 0.86, 1, rng.integers(2, 4, len(owner)))
    return n_items, product, qty


def plan_orders(
    rng: np.random.Generator, pop: Population, cat: Catalog, cal: Calendar, mix: Mix
) -> Orders:
    """Every purchase of the chunk: when, where (web or shop), what, and what went wrong."""
    who, placed = _purchase_times(rng, pop, cal)
    n = len(who)
    offline = (pop.kind[who] == OFFLINE) | (pop.store_shopper[who] & (rng.random(n) < 0.4))
    n_items, product, qty = _items(rng, pop, cat, who)
    cancelled = rng.random(n) < mix.cancel_rate
    refund_at = placed + (rng.uniform(5, 25, n) * US_PER_DAY).astype(np.int64)
    refunded = (
        ~cancelled & (rng.random(n) < mix.refund_rate) & (refund_at < cal.now_us - US_PER_HOUR)
    )
    return Orders(
        person=who,
        placed=placed,
        offline=offline,
        n_items=n_items,
        item_product=product,
        item_qty=qty,
        cancelled=cancelled,
        refund_at=np.where(refunded, refund_at, NEVER),
        refund_full=(n_items == 1) | (rng.random(n) < 0.5),
    )


@dataclass(frozen=True)
class Sessions:
    """Web visits, sorted by (person, start)."""

    person: np.ndarray
    start: np.ndarray  # µs
    device: np.ndarray  # 0 or 1 (second device)
    order: np.ndarray  # index into Orders, or -1
    signup: np.ndarray  # the visit in which the person registered

    @property
    def size(self) -> int:
        return len(self.person)


def _browse_sessions(
    rng: np.random.Generator, pop: Population, cal: Calendar
) -> tuple[np.ndarray, np.ndarray]:
    web = pop.kind != OFFLINE
    months = (pop.end - pop.first_seen) / (30 * US_PER_DAY)
    count = np.where(web, rng.poisson(pop.sessions_per_month * months), 0)
    who = np.repeat(np.arange(pop.size), count)
    return who, cal.sample(rng, pop.first_seen[who], pop.end[who])


def plan_sessions(
    rng: np.random.Generator, pop: Population, orders: Orders, cal: Calendar
) -> Sessions:
    """Browsing visits, the first visit, the sign-up visit and one visit per web order."""
    b_who, b_start = _browse_sessions(rng, pop, cal)
    web = np.nonzero(pop.kind != OFFLINE)[0]
    signed = np.nonzero(pop.kind == WEB)[0]
    online = np.nonzero(~orders.offline)[0]
    who = np.concatenate([b_who, web, signed, orders.person[online]])
    start = np.concatenate(
        [b_start, pop.first_seen[web], pop.registered[signed], orders.placed[online]]
    )
    order = np.concatenate([np.full(len(b_who) + len(web) + len(signed), -1), online])
    signup = np.zeros(len(who), dtype=bool)
    signup[len(b_who) + len(web) : len(b_who) + len(web) + len(signed)] = True
    # the first visit is the sign-up visit when the person registered straight away
    first_visit = np.zeros(len(who), dtype=bool)
    first_visit[len(b_who) : len(b_who) + len(web)] = True
    dup_first = first_visit & (pop.registered[who] == start)
    keep = ~dup_first
    who, start, order, signup = who[keep], start[keep], order[keep], signup[keep]
    device = np.where(
        pop.two_devices[who] & (start > pop.first_seen[who]) & (rng.random(len(who)) < 0.4), 1, 0
    )
    idx = np.lexsort((~signup, start, who))  # sign-up first when two visits start together
    return Sessions(who[idx], start[idx], device[idx], order[idx], signup[idx])


@dataclass(frozen=True)
class SessionEvents:
    """Events inside visits, sorted by (session, time)."""

    session: np.ndarray
    kind: np.ndarray
    product: np.ndarray  # catalog index or -1
    qty: np.ndarray
    time: np.ndarray  # µs
    cart: np.ndarray  # cart index (per chunk) or -1
    search_query: np.ndarray  # leaf index searched for, -1 if not a search


def _cart_products(
    rng: np.random.Generator, pop: Population, cat: Catalog, ses: Sessions, orders: Orders
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per session: how many distinct products went into the cart, which, and how many of each."""
    is_order = ses.order >= 0
    browse_adds = np.where(
        ~is_order & (rng.random(ses.size) < 0.16), 1 + (rng.random(ses.size) < 0.3), 0
    )
    n_cart = np.where(is_order, orders.n_items[np.maximum(ses.order, 0)], browse_adds)
    owner = np.repeat(np.arange(ses.size), n_cart)
    leaf = pop.favourite_leaf[ses.person[owner]]
    product = distinct_within(owner, sample_products(rng, cat, leaf, len(owner)), cat.size)
    qty = np.ones(len(owner), dtype=np.int64)
    # an order's session holds exactly that order's lines
    item_start = group_starts(orders.n_items)
    pos = item_start[np.maximum(ses.order[owner], 0)] + rank_within(owner)
    from_order = ses.order[owner] >= 0
    product[from_order] = orders.item_product[pos[from_order]]
    qty[from_order] = orders.item_qty[pos[from_order]]
    return n_cart, product, qty


def cart_fate(ses: Sessions, n_cart: np.ndarray) -> np.ndarray:
    """0 no cart, 1 converted, 2 left open (the person's last cart), 3 emptied.

    >>> person, order = np.array([0, 0, 0, 1]), np.array([-1, 0, -1, -1])
    >>> s = Sessions(person, np.arange(4), np.zeros(4), order, np.zeros(4, bool))
    >>> cart_fate(s, np.array([1, 2, 1, 1])).tolist()
    [3, 1, 2, 2]
    """
    has = n_cart > 0
    idx = np.nonzero(has)[0]
    last = np.zeros(ses.size, dtype=bool)
    if len(idx):
        owner = ses.person[idx]
        is_last = np.concatenate([owner[1:] != owner[:-1], [True]])
        last[idx[is_last]] = True
    fate = np.where(ses.order >= 0, 1, np.where(last, 2, 3))
    return np.where(has, fate, 0)


def _block(
    session: np.ndarray, count: np.ndarray, kind: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.repeat(session, count)
    return s, np.full(len(s), kind), rank_within(s)


def expand_sessions(
    rng: np.random.Generator,
    pop: Population,
    cat: Catalog,
    ses: Sessions,
    orders: Orders,
    cal: Calendar,
) -> tuple[SessionEvents, np.ndarray]:
    """Every event of every visit, seconds apart; also each session's cart fate."""
    n = ses.size
    sid = np.arange(n)
    n_cart, cart_product, cart_qty = _cart_products(rng, pop, cat, ses, orders)
    fate = cart_fate(ses, n_cart)
    is_order = ses.order >= 0
    browse = rng.random(n) < 0.35
    counts = {
        K_HOME: np.ones(n, dtype=np.int64),
        K_IDENTIFY: ses.signup.astype(np.int64),
        K_SIGNUP: ses.signup.astype(np.int64),
        K_SEARCH: (rng.random(n) < 0.3).astype(np.int64),
        K_CATEGORY: browse.astype(np.int64),
        K_LIST: browse.astype(np.int64),
        K_VIEW: np.maximum(1 + rng.poisson(1.4, n), n_cart),
        K_WISHLIST: (rng.random(n) < 0.06).astype(np.int64),
        K_ADD: n_cart,
        K_REMOVE: np.where(fate == 3, n_cart, 0),
        K_CART: (n_cart > 0).astype(np.int64),
        K_CHECKOUT: is_order.astype(np.int64),
        K_ORDER: is_order.astype(np.int64),
    }
    blocks = [_block(sid, c, k) for k, c in counts.items()]
    session = np.concatenate([b[0] for b in blocks])
    kind = np.concatenate([b[1] for b in blocks])
    rank = np.concatenate([b[2] for b in blocks])
    order = np.lexsort((rank, kind, session))
    session, kind, rank = session[order], kind[order], rank[order]
    product, qty = _event_products(
        rng, pop, cat, ses, session, kind, rank, n_cart, cart_product, cart_qty, counts[K_VIEW]
    )
    gaps = rng.integers(4, 95, len(session)) * US_PER_SECOND
    offset = np.cumsum(gaps) - gaps
    offset -= offset[group_starts(np.bincount(session, minlength=n))][session]
    time = np.minimum(ses.start[session] + offset, cal.now_us - 60 * US_PER_SECOND)
    cart = np.where(n_cart[session] > 0, session, -1)
    query = np.where(
        kind == K_SEARCH,
        np.where(
            rng.random(len(session)) < 0.7,
            pop.favourite_leaf[ses.person[session]],
            rng.integers(0, len(LEAVES), len(session)),
        ),
        -1,
    )
    return SessionEvents(session, kind, product, qty, time, cart, query), fate


def _event_products(
    rng: np.random.Generator,
    pop: Population,
    cat: Catalog,
    ses: Sessions,
    session: np.ndarray,
    kind: np.ndarray,
    rank: np.ndarray,
    n_cart: np.ndarray,
    cart_product: np.ndarray,
    cart_qty: np.ndarray,
    n_view: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Viewed products (the first views are what ends up in the cart), added, removed, wished."""
    m = len(session)
    product = np.full(m, -1, dtype=np.int64)
    qty = np.zeros(m, dtype=np.int64)
    cart_start = group_starts(n_cart)
    view_start = group_starts(n_view)
    favourite = rng.random(m) < 0.55
    leaf = np.where(
        favourite, pop.favourite_leaf[ses.person[session]], rng.integers(0, len(LEAVES), m)
    )
    viewed = sample_products(rng, cat, leaf, m)
    in_cart = (rank < n_cart[session]) & np.isin(kind, [K_VIEW, K_ADD, K_REMOVE])
    pos = cart_start[session] + np.minimum(rank, np.maximum(n_cart[session] - 1, 0))
    product = np.where(kind == K_VIEW, viewed, product)
    product = np.where(
        in_cart,
        cart_product[np.minimum(pos, max(len(cart_product) - 1, 0))] if len(cart_product) else -1,
        product,
    )
    qty = np.where(
        in_cart & (kind != K_VIEW),
        cart_qty[np.minimum(pos, max(len(cart_qty) - 1, 0))] if len(cart_qty) else 0,
        qty,
    )
    # a wish is for something seen in the same visit
    first_view = view_start[session]
    wished = kind == K_WISHLIST
    view_rows = np.nonzero(kind == K_VIEW)[0]
    product[wished] = product[view_rows[first_view[wished]]] if wished.any() else product[wished]
    return product, qty


@dataclass(frozen=True)
class Emails:
    """E-mail engagement events (delivered, opened, clicked), one row each."""

    person: np.ndarray
    kind: np.ndarray
    time: np.ndarray
    campaign: np.ndarray  # index into the campaign calendar
    machine: np.ndarray  # opens by a mail client's privacy proxy, not a person


def campaign_times(cal: Calendar) -> np.ndarray:
    """Tuesday and Friday sends at 10:00 Kyiv (08:00 UTC) across the window."""
    days = np.arange(len(cal.day_cdf) - 1)
    start = cal.start_us + days * US_PER_DAY + 8 * US_PER_HOUR
    weekday = ((start // US_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday
    sends = start[(weekday == 1) | (weekday == 4)]
    return np.asarray(sends[sends < cal.now_us - US_PER_HOUR])


def plan_emails(rng: np.random.Generator, pop: Population, cal: Calendar, mix: Mix) -> Emails:
    """Campaign deliveries to subscribers, and who opened and clicked them."""
    sends = campaign_times(cal)
    subscribed = np.nonzero(pop.email_subscribed & pop.has_email)[0]
    until = np.minimum(pop.unsubscribed_at[subscribed], cal.now_us)
    lo = np.searchsorted(sends, pop.registered[subscribed])
    hi = np.searchsorted(sends, until)
    months = (hi - lo) * 3.5 / 30
    count = np.minimum(rng.poisson(mix.emails_per_month * months), hi - lo)
    who = np.repeat(subscribed, count)
    pick = np.repeat(lo, count) + (rng.random(len(who)) * np.repeat(hi - lo, count)).astype(
        np.int64
    )
    keys = np.unique(who.astype(np.int64) * 1_000_000 + pick)
    who, campaign = keys // 1_000_000, keys % 1_000_000
    delivered = sends[campaign] + rng.integers(5, 900, len(who)) * US_PER_SECOND
    active = delivered < pop.end[who]
    machine = pop.machine_opener[who]
    opened = machine | (rng.random(len(who)) < pop.open_rate[who] * np.where(active, 1.0, 0.08))
    open_delay = np.where(
        machine,
        rng.integers(30, 300, len(who)) * US_PER_SECOND,
        (rng.exponential(5, len(who)) * US_PER_HOUR).astype(np.int64),
    )
    open_at = delivered + open_delay
    human_open = opened & ~machine
    clicked = human_open & (rng.random(len(who)) < pop.click_rate[who] * 2)
    click_at = open_at + rng.integers(5, 180, len(who)) * US_PER_SECOND
    limit = cal.now_us - 60 * US_PER_SECOND
    parts = [
        (
            np.ones(len(who), bool) & (delivered < limit),
            K_DELIVERED,
            delivered,
            np.zeros(len(who), bool),
        ),
        (opened & (open_at < limit), K_OPENED, open_at, machine),
        (clicked & (click_at < limit), K_CLICKED, click_at, np.zeros(len(who), bool)),
    ]
    return Emails(
        person=np.concatenate([who[m] for m, _, _, _ in parts]),
        kind=np.concatenate([np.full(int(m.sum()), k) for m, k, _, _ in parts]),
        time=np.concatenate([t[m] for m, _, t, _ in parts]),
        campaign=np.concatenate([campaign[m] for m, _, _, _ in parts]),
        machine=np.concatenate([f[m] for m, _, _, f in parts]),
    )
