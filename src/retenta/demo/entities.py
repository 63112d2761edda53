"""Contacts, identities, consents and commerce rows of a chunk, derived from its timeline.

Each table is what the live pipeline would have left after receiving the chunk's
events: identities carry first/last seen from the events that used them, orders and
carts mirror "Order Completed"/"Product Added"… exactly, money in integer cents.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retenta.demo import behaviour as bh
from retenta.demo.catalog import CURRENCY
from retenta.demo.jsonparts import join, take
from retenta.demo.model import group_starts, rank_within
from retenta.demo.tables import (
    STORES,
    Chunk,
    OrderMoney,
    const,
    order_status,
    person_locales,
    person_traits,
    refund_amounts,
    search_codes,
    search_queries,
    search_results,
    stamps,
)

STATUS_NAMES = np.array(["", "converted", "open", "emptied"], dtype=object)


def first_last(person: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last of ``rows`` (sorted by person, then time) per person; -1 if none.

    >>> f, l = first_last(np.array([0, 0, 2, 2, 2]), np.array([0, 1, 2, 3, 4]), 3)
    >>> f.tolist(), l.tolist()
    ([0, -1, 2], [1, -1, 4])
    """
    first = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    if len(rows):
        p = person[rows]
        starts = np.concatenate([[True], p[1:] != p[:-1]])
        ends = np.concatenate([p[1:] != p[:-1], [True]])
        first[p[starts]] = rows[starts]
        last[p[ends]] = rows[ends]
    return first, last


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string())


def contacts_table(ch: Chunk, message_id: pa.Array) -> pa.Table:
    """One row per person: first/last event times, attributes from their identify traits."""
    tl, pop, n = ch.tl, ch.pop, ch.pop.size
    first, last = first_last(tl.person, np.arange(tl.size), n)
    if (first < 0).any():
        raise AssertionError("every generated person has at least one event")
    ident, _ = first_last(tl.person, np.nonzero(tl.kind == bh.K_IDENTIFY)[0], n)
    traits = person_traits(ch)
    # the live resolver writes ``timestamp.isoformat()``
    at = join(
        pc.strftime(stamps(tl.time[np.maximum(ident, 0)]), format="%Y-%m-%dT%H:%M:%S"), "+00:00"
    )
    meta = join(
        '{"source":"demo","at":"',
        at,
        '","message_id":"',
        take(message_id, np.maximum(ident, 0)),
        '"}',
    )
    email = pc.if_else(pa.array(pop.has_email), join(',"email":', meta), "")
    phone = pc.if_else(pa.array(pop.has_phone), join(',"phone":', meta), "")
    keys = [f'"{k}":' for k in ("firstName", "lastName", "name")]
    provenance = join(
        "{",
        keys[0],
        meta,
        ",",
        keys[1],
        meta,
        ",",
        keys[2],
        meta,
        email,
        phone,
        ',"city":',
        meta,
        ',"gender":',
        meta,
        ',"language":',
        meta,
        ',"timezone":',
        meta,
        "}",
    )
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, n),
            "id": pa.array(ch.contact_ids, pa.int64()),
            "created_at": stamps(tl.time[first]),
            "updated_at": stamps(tl.time[last]),
            "last_seen_at": stamps(tl.time[last]),
            "attributes": traits,
            "provenance": pc.if_else(pa.array(ident >= 0), provenance, "{}"),
            "language": person_locales(ch),
            "timezone": _strings(ch.people.timezone),
        }
    )


def _identity_rows(
    ch: Chunk, id_type: str, values: pa.Array, mask: np.ndarray, rows: np.ndarray
) -> pa.Table:
    first, last = first_last(ch.tl.person, rows, ch.pop.size)
    who = np.nonzero(mask & (first >= 0))[0]
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(who)),
            "type": const(id_type, len(who)),
            "value": take(values, who),
            "contact_id": pa.array(ch.contact_ids[who], pa.int64()),
            "first_seen": stamps(ch.tl.time[first[who]]),
            "last_seen": stamps(ch.tl.time[last[who]]),
        }
    )


def identities_table(ch: Chunk) -> pa.Table:
    """external_id, email, phone (from identified events) and each browser's anonymous id."""
    tl, pop = ch.tl, ch.pop
    known = np.nonzero(tl.known(pop) & (pop.kind[tl.person] != bh.ANONYMOUS))[0]
    registered = pop.kind != bh.ANONYMOUS
    p = ch.people
    parts = [
        _identity_rows(ch, "external_id", _strings(p.external_id), registered, known),
        _identity_rows(ch, "email", _strings(p.email), registered & pop.has_email, known),
        _identity_rows(ch, "phone", _strings(p.phone), registered & pop.has_phone, known),
    ]
    for device in (0, 1):
        rows = np.nonzero(tl.device == device)[0]
        parts.append(
            _identity_rows(
                ch, "anonymous_id", _strings(ch.anon[device]), np.ones(pop.size, bool), rows
            )
        )
    return pa.concat_tables(parts)


def consents_table(ch: Chunk) -> pa.Table:
    """E-mail and SMS permission given at sign-up, and later unsubscribes."""
    pop = ch.pop
    known = pop.kind != bh.ANONYMOUS
    source = np.where(pop.kind == bh.OFFLINE, "store", "signup_form")
    email = np.nonzero(known & pop.has_email)[0]
    sms = np.nonzero(known & pop.has_phone)[0]
    unsub = np.nonzero(known & pop.has_email & (pop.unsubscribed_at < bh.NEVER))[0]
    who = np.concatenate([email, sms, unsub])
    channel = ["email"] * len(email) + ["sms"] * len(sms) + ["email"] * len(unsub)
    status = np.concatenate([
        np.where(pop.email_subscribed[email], "subscribed", "unsubscribed"),
        np.where(pop.sms_subscribed[sms], "subscribed", "unsubscribed"),
        np.full(len(unsub), "unsubscribed"),
    ])  # fmt: skip
    sources = np.concatenate([source[email], source[sms], np.full(len(unsub), "unsubscribe_link")])
    at = np.concatenate([pop.registered[email], pop.registered[sms], pop.unsubscribed_at[unsub]])
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(who)),
            "contact_id": pa.array(ch.contact_ids[who], pa.int64()),
            "channel": pa.array(channel, pa.string()),
            "topic": const("*", len(who)),
            "status": _strings(status.astype(object)),
            "source": _strings(sources.astype(object)),
            "changed_at": stamps(at),
        }
    )


def _row_of_order(ch: Chunk, kind: int) -> np.ndarray:
    """Per order, the timeline row of its event of ``kind`` (-1 if none)."""
    rows = np.nonzero(ch.tl.kind == kind)[0]
    out = np.full(ch.orders.size, -1, dtype=np.int64)
    out[ch.tl.order[rows]] = rows
    return out


def _time_or_zero(ch: Chunk, rows: np.ndarray) -> np.ndarray:
    return np.where(rows >= 0, ch.tl.time[np.maximum(rows, 0)], 0)


def orders_tables(ch: Chunk, m: OrderMoney, message_id: pa.Array) -> dict[str, pa.Table]:
    """orders, order_items, order_status_history and order_returns."""
    o, n = ch.orders, ch.orders.size
    order_id = ch.order_ids()
    done = _row_of_order(ch, bh.K_ORDER)
    refund = _row_of_order(ch, bh.K_REFUND)
    cancel = _row_of_order(ch, bh.K_CANCEL)
    status = order_status(ch)
    shipped = _row_of_order(ch, bh.K_SHIPPED)
    updated = np.maximum.reduce(
        [ch.placed, *(_time_or_zero(ch, r) for r in (shipped, refund, cancel))]
    )
    null = pa.scalar(None, pa.string())
    orders = pa.table(
        {
            "workspace_id": const(ch.workspace_id, n),
            "order_id": order_id,
            "contact_id": pa.array(ch.contact_ids[o.person], pa.int64()),
            "status": _strings(status),
            "channel": pc.if_else(pa.array(o.offline), "offline", "online"),
            "store_id": pc.if_else(
                pa.array(o.offline), take(pa.array(STORES), o.person % len(STORES)), null
            ),
            "total_cents": pa.array(m.total, pa.int64()),
            "revenue_cents": pa.array(m.revenue, pa.int64()),
            "discount_cents": pa.array(m.discount, pa.int64()),
            "shipping_cents": pa.array(m.shipping, pa.int64()),
            "currency": const(CURRENCY, n),
            "coupon": pc.if_else(
                pa.array(m.coupon >= 0),
                take(pa.array(["SALE10", "WELCOME10", "VIP10"]), np.maximum(m.coupon, 0)),
                null,
            ),
            "placed_at": stamps(ch.placed),
            "updated_at": stamps(updated),
            "source_message_id": take(message_id, done),
        }
    )
    return {
        "orders": orders,
        "order_items": _items_table(ch, order_id),
        "order_status_history": _history_table(ch, order_id, message_id),
        "order_returns": _returns_table(ch, order_id, message_id, refund, refund_amounts(ch, m)),
    }


def _items_table(ch: Chunk, order_id: pa.Array) -> pa.Table:
    o = ch.orders
    owner = o.item_order
    line = rank_within(owner)
    refunded = (o.refund_at < bh.NEVER)[owner]
    returned = np.where(refunded & (o.refund_full[owner] | (line == 0)), o.item_qty, 0)
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(owner)),
            "order_id": take(order_id, owner),
            "line_no": pa.array(line + 1, pa.int32()),
            "sku": take(ch.text.sku, o.item_product),
            "name": take(ch.text.name, o.item_product),
            "category": take(ch.text.category, o.item_product),
            "brand": take(ch.text.brand, o.item_product),
            "quantity": pa.array(o.item_qty, pa.int32()),
            "price_cents": pa.array(ch.cat.selling_cents[o.item_product], pa.int64()),
            "returned_quantity": pa.array(returned, pa.int32()),
        }
    )


STATUS_EVENTS = ((bh.K_ORDER, "paid"), (bh.K_SHIPPED, "shipped"), (bh.K_CANCEL, "cancelled"))


def _history_table(ch: Chunk, order_id: pa.Array, message_id: pa.Array) -> pa.Table:
    """One row per status an order's events moved it to (a full refund: "returned")."""
    tl, o = ch.tl, ch.orders
    full_refund = (tl.kind == bh.K_REFUND) & o.refund_full[np.maximum(tl.order, 0)]
    masks = [(tl.kind == kind, name) for kind, name in STATUS_EVENTS] + [(full_refund, "returned")]
    rows = np.concatenate([np.nonzero(mask)[0] for mask, _ in masks])
    names = [name for mask, name in masks for _ in range(int(mask.sum()))]
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(rows)),
            "order_id": take(order_id, tl.order[rows]),
            "status": pa.array(names, pa.string()),
            "changed_at": stamps(tl.time[rows]),
            "source_message_id": take(message_id, rows),
        }
    )


def _returns_table(
    ch: Chunk, order_id: pa.Array, message_id: pa.Array, refund: np.ndarray, amount: np.ndarray
) -> pa.Table:
    o = ch.orders
    which = np.nonzero(refund >= 0)[0]
    first = group_starts(o.n_items)[which]
    full = o.refund_full[which]
    null_s, null_i = pa.scalar(None, pa.string()), pa.scalar(None, pa.int32())
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(which)),
            "order_id": take(order_id, which),
            "sku": pc.if_else(pa.array(full), null_s, take(ch.text.sku, o.item_product[first])),
            "quantity": pc.if_else(pa.array(full), null_i, pa.array(o.item_qty[first], pa.int32())),
            "returned_at": stamps(ch.tl.time[refund[which]]),
            "amount_cents": pa.array(amount[which], pa.int64()),
            "source_message_id": take(message_id, refund[which]),
        }
    )


def carts_tables(ch: Chunk) -> dict[str, pa.Table]:
    """Carts (converted, left open, emptied) and the items of those still holding any."""
    tl = ch.tl
    cart_kinds = [bh.K_ADD, bh.K_REMOVE, bh.K_CART, bh.K_CHECKOUT, bh.K_ORDER]
    rows = np.nonzero((tl.cart >= 0) & np.isin(tl.kind, cart_kinds))[0]
    sessions, first_idx = np.unique(tl.cart[rows], return_index=True)
    created = np.full(len(ch.fate), -1, dtype=np.int64)
    updated = np.full(len(ch.fate), -1, dtype=np.int64)
    created[sessions] = tl.time[rows[first_idx]]
    np.maximum.at(updated, tl.cart[rows], tl.time[rows])
    person = np.full(len(ch.fate), -1, dtype=np.int64)
    person[tl.cart[rows]] = tl.person[rows]
    carts = pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(sessions)),
            "cart_id": ch.cart_ids(sessions),
            "contact_id": pa.array(ch.contact_ids[person[sessions]], pa.int64()),
            "status": _strings(STATUS_NAMES[ch.fate[sessions]]),
            "created_at": stamps(created[sessions]),
            "updated_at": stamps(updated[sessions]),
        }
    )
    adds = rows[(tl.kind[rows] == bh.K_ADD) & np.isin(ch.fate[tl.cart[rows]], [1, 2])]
    items = pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(adds)),
            "cart_id": ch.cart_ids(tl.cart[adds]),
            "sku": take(ch.text.sku, tl.product[adds]),
            "quantity": pa.array(tl.qty[adds], pa.int32()),
            "price_cents": pa.array(ch.cat.selling_cents[tl.product[adds]], pa.int64()),
            "added_at": stamps(tl.time[adds]),
        }
    )
    return {"carts": carts, "cart_items": items}


def wishlist_table(ch: Chunk) -> pa.Table:
    """First time each person wished for each product."""
    tl = ch.tl
    rows = np.nonzero(tl.kind == bh.K_WISHLIST)[0]
    key = tl.person[rows] * np.int64(ch.cat.size) + tl.product[rows]
    _, first = np.unique(key, return_index=True)
    rows = rows[first]
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(rows)),
            "contact_id": pa.array(ch.contact_ids[tl.person[rows]], pa.int64()),
            "sku": take(ch.text.sku, tl.product[rows]),
            "wishlist": const("default", len(rows)),
            "added_at": stamps(tl.time[rows]),
        }
    )


def searches_table(ch: Chunk, message_id: pa.Array) -> pa.Table:
    tl = ch.tl
    rows = np.nonzero(tl.kind == bh.K_SEARCH)[0]
    results = search_results(search_codes(ch, rows))
    return pa.table(
        {
            "workspace_id": const(ch.workspace_id, len(rows)),
            "contact_id": pa.array(ch.contact_ids[tl.person[rows]], pa.int64()),
            "query": search_queries(ch, rows),
            "results": pa.array(results, pa.int32()),
            "searched_at": stamps(tl.time[rows]),
            "message_id": take(message_id, rows),
        }
    )
