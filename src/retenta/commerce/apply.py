"""Write a batch's ``Changes`` (from ``events.changes_from``) set-based: each entity is one
Arrow table and a handful of ``INSERT … SELECT`` / ``UPDATE … FROM`` statements."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from retenta.commerce import orders as order_store
from retenta.commerce.arrowsql import run
from retenta.commerce.cartmemory import CartMemory, UnitToken
from retenta.commerce.carts import Sequence, consolidate, write_carts
from retenta.commerce.events import Changes
from retenta.commerce.memory import CatalogMemory, ReturnsMemory
from retenta.commerce.orders import ITEM_STAGE, ORDER_STAGE, STATUS_STAGE
from retenta.commerce.refunds import apply_refunds
from retenta.commerce.tables import MONEY, TIMESTAMP

PRODUCT_FILL = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("url", pa.string()),
        ("image_url", pa.string()),
        ("price", MONEY),
        ("currency", pa.string()),
        ("category_path", pa.list_(pa.string())),
        ("brand", pa.string()),
        ("seen_at", TIMESTAMP),
    ]
)
FILLED = ("name", "url", "image_url", "price", "currency", "category_path", "brand")


def category_path(category: str | None) -> list[str] | None:
    """Segment's ``category`` as a path (memoized: a store has few categories; the list is
    shared, so callers never change it).

    >>> category_path("Women > Shoes/Sneakers"), category_path("Games"), category_path(None)
    (['Women', 'Shoes', 'Sneakers'], ['Games'], None)
    """
    if not category:
        return None
    return _category_path(category)


@functools.lru_cache(maxsize=4096)
def _category_path(category: str) -> list[str] | None:
    parts = [p.strip() for p in re.split(r"[>/]", category)]
    return [p for p in parts if p] or None


def insert_products_sql() -> str:
    """New skus, created from events (``CHANGING_PRODUCTS_SQL`` found them absent; the single
    writer makes that hold until the insert, and the primary key guards it anyway). No
    ``RETURNING`` (0.4 ms of writer CPU a statement): the rows are stored as the unit's
    Python rows hold them (money already has its 2 decimals)."""
    cols = ", ".join(FILLED)
    return (
        f"INSERT INTO products (workspace_id, sku, {cols}, created_at, updated_at, source)"
        f" SELECT workspace_id, sku, {cols}, seen_at, seen_at, 'event' FROM _cm_fill"
    )


@functools.lru_cache(maxsize=128)
def set_products_sql(fields: tuple[str, ...] = FILLED) -> str:
    """Stored skus worth a write, set to the values ``settled`` computed (``seen_at``: the new
    ``updated_at``). Plain assignments: binding the fill's ``CASE`` and ``worth`` terms in SQL
    was most of the statement's cost (4.0 ms of writer CPU with 0 rows and all seven fields;
    docs/commerce.md, sessions 11 and 12). ``fields``: the catalog fields that may change
    (``changing_fields``); the others keep their stored value."""
    sets = ", ".join(f"{f} = f.{f}" for f in fields)
    return (
        f"UPDATE products SET {sets}, updated_at = f.seen_at FROM _cm_fill f"
        " WHERE products.workspace_id = f.workspace_id AND products.sku = f.sku"
    )


def settled(row: dict[str, Any], stored: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The stored product ``stored`` (its catalog fields, ``source`` and ``updated_at``, as
    the join read them in this unit or ``CatalogMemory.same`` holds them) after the event row
    ``row``, for ``fields``: an event-made product no newer than the row takes the row's
    non-empty values; any other keeps its own and only gets its empty fields filled (events
    never overwrite the feed). ``seen_at`` is the new ``updated_at``.

    >>> from datetime import UTC, timedelta
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> feed = {"name": "F", "source": "feed", "updated_at": at}
    >>> out = settled({"name": "x", "currency": "UAH", "seen_at": at}, feed, ("name", "currency"))
    >>> out["name"], out["currency"], out["seen_at"] == at
    ('F', 'UAH', True)
    >>> made = {"name": "F", "source": "event", "updated_at": at - timedelta(seconds=1)}
    >>> settled({"name": "x", "seen_at": at}, made, ("name",))["name"]
    'x'
    """
    seen, at = row["seen_at"], stored["updated_at"]
    fresh = stored["source"] == "event" and seen is not None and at <= seen
    out = {"workspace_id": row.get("workspace_id"), "sku": row.get("sku")}
    out["seen_at"] = seen if fresh else at
    get, has = row.get, stored.get
    for f in fields:
        new, old = get(f), has(f)
        out[f] = (old if new is None else new) if fresh else (new if old is None else old)
    return out


def changing_products_sql() -> str:
    """For each row of ``_cm_fill``: whether its sku is ``new``, and the stored product's
    ``source``, ``updated_at`` and catalog fields, from which ``worth`` decides whether the
    row would change it (the upsert's ``DO UPDATE … WHERE``). The fields are remembered when
    the row is not written, so that any later event row whose non-empty fields are among
    them needs no query. A plain join reads far less than a conflict check. (Until session
    11 the join computed ``worth`` itself: its seven terms cost ~1.5 ms of writer CPU a
    statement, docs/commerce.md.)"""
    stored = ", ".join(f"p.{c}" for c in FILLED)
    return (
        f"SELECT f.workspace_id, f.sku, p.sku IS NULL AS new, p.source, p.updated_at, {stored}"
        " FROM _cm_fill f LEFT JOIN products p ON p.workspace_id = f.workspace_id"
        " AND p.sku = f.sku"
    )


def worth(
    read: dict[str, Any], source: str, updated_at: datetime, row: dict[str, Any]
) -> list[str]:
    """Whether an event row would change a stored product (the upsert's ``DO UPDATE …
    WHERE`` as SQL had it; tests/commerce/test_product_update.py keeps that SQL as the
    oracle), for the product as the join read it (``read``: its catalog fields): a field the
    row carries that the product lacks, or, for an event-made product no newer than the row,
    one that differs. Returns the fields the row may change (``changing_fields``) when it is
    worth writing, none when it is not.

    >>> from datetime import UTC, timedelta
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> row = {"name": "x", "currency": "UAH", "seen_at": at, "category_path": None}
    >>> worth({"name": "x", "currency": None}, "feed", at, row)
    ['currency']
    >>> worth({"name": "y", "currency": "UAH"}, "feed", at, row)
    []
    >>> worth({"name": "y", "currency": "UAH"}, "event", at, row)
    ['name']
    >>> worth({"name": "y", "currency": "UAH"}, "event", at + timedelta(seconds=1), row)
    []
    """
    changed = list(changing_fields(read, row, row["category_path"]))
    seen = row["seen_at"]
    fresh = source == "event" and seen is not None and updated_at <= seen
    return changed if any(fresh or read.get(f) is None for f in changed) else []


INSERT_PRODUCTS_SQL = insert_products_sql()
CHANGING_PRODUCTS_SQL = changing_products_sql()


def apply_products(
    conn: Any, changes: Changes, memory: CatalogMemory, token: Callable[[], UnitToken]
) -> None:
    """Fill the catalog from events, skipping products the feed already describes fully and
    event rows known to repeat what is stored (read by a query, or written by an earlier
    unit that ``token`` proved committed)."""
    memory.learn(conn, list(changes.products))
    rows: list[dict[str, Any]] = []
    stored: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (event row, stored product)
    changing: set[str] = set()  # fields that may change in a stored product (the UPDATE's)
    same, feed = memory.same, memory.known  # hot: every product row of a unit
    for key, r in changes.products.items():
        if key in feed and not memory.needs_write(key, r):
            continue
        path = _category_path(cat) if (cat := r.get("category")) else None
        known = same.get(key)
        if known is None:
            rows.append({**r, "category_path": path})
        elif not _repeats(known, r, path):  # a stored product: ``worth`` decides
            row = {**r, "category_path": path}
            if fields := worth(known, known["source"], known["updated_at"], row):
                stored.append((row, known))
                changing.update(fields)
    new = []
    if rows:
        table = pa.Table.from_pylist(rows, schema=PRODUCT_FILL)
        verdicts = {(w, s): (new, source, at, fields) for w, s, new, source, at, *fields
                    in run(conn, CHANGING_PRODUCTS_SQL, _cm_fill=table).fetchall()}  # fmt: skip
        for row in rows:
            key = (row["workspace_id"], row["sku"])
            is_new, source, at, fields = verdicts[key]
            read = dict(zip(FILLED, fields, strict=True))
            read["source"], read["updated_at"] = source, at
            if is_new:
                new.append(row)
            elif fields_changed := worth(read, source, at, row):
                stored.append((row, read))
                changing.update(fields_changed)
            else:  # the stored product stays as read, before this unit wrote any product
                memory.remember_same(key, read)
    written: list[dict[str, Any]] = []
    if new:
        run(conn, INSERT_PRODUCTS_SQL, _cm_fill=pa.Table.from_pylist(new, schema=PRODUCT_FILL))
        written += [{**row, "source": "event", "updated_at": row["seen_at"]} for row in new]
    if stored:
        written += update_stored(conn, stored, tuple(f for f in FILLED if f in changing))
    # A feed product whose gaps were filled is re-read when next seen; an event-made one is
    # not remembered at all (re-reading it found no feed row and cost a statement a unit).
    for product in written:
        if (key := (product["workspace_id"], product["sku"])) in memory.known:
            memory.forget(key[0], [key[1]])
    if written:
        memory.written(token(), written)


def update_stored(
    conn: Any, stored: list[tuple[dict[str, Any], dict[str, Any]]], fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Write the stored products that event rows change (``settled`` in Python, one plain
    ``UPDATE``); returns them as written, for ``CatalogMemory.written``."""
    values = [settled(row, product, fields) for row, product in stored]
    run(conn, set_products_sql(fields), _cm_fill=pa.Table.from_pylist(values, schema=PRODUCT_FILL))
    written = []
    for (_, product), value in zip(stored, values, strict=True):
        after = {**product, **value, "updated_at": value["seen_at"]}
        del after["seen_at"]
        written.append(after)
    return written


def _repeats(known: dict[str, Any], row: dict[str, Any], path: list[str] | None) -> bool:
    """``CatalogMemory.repeats`` of an event row without building its fields (hot: every
    product row of a unit).

    >>> _repeats({"name": "x", "category_path": ["A"]}, {"name": "x"}, ["A"])
    True
    >>> _repeats({"name": "x"}, {"name": "x", "brand": "b"}, None)
    False
    """
    if path is not None and known.get("category_path") != path:
        return False
    for f in _EVENT_FIELDS:
        v = row.get(f)
        if v is not None and known.get(f) != v:
            return False
    return True


_EVENT_FIELDS = tuple(f for f in FILLED if f != "category_path")


def changing_fields(
    known: dict[str, Any], row: dict[str, Any], path: list[str] | None
) -> Iterator[str]:
    """The catalog fields of an event row that may change the stored product ``known`` (its
    fields as read in this unit, or as ``CatalogMemory.same`` holds them): the row carries the
    field and it differs from the stored one. Any other field keeps its stored value whatever
    the product's source and times (``settled`` takes the stored value when the event's is
    empty or equal), so the ``UPDATE`` can leave it out.

    >>> list(changing_fields({"name": "x", "price": 1}, {"name": "x", "currency": "UAH"}, None))
    ['currency']
    >>> list(changing_fields({"category_path": ["A"]}, {"name": "y"}, ["B"]))
    ['name', 'category_path']
    """
    for f in _EVENT_FIELDS:
        v = row.get(f)
        if v is not None and known.get(f) != v:
            yield f
    if path is not None and known.get("category_path") != path:
        yield "category_path"


def order_rows(changes: Changes) -> list[dict[str, Any]]:
    """Staged order rows (``ORDER_STAGE``); a new order without ``total`` gets Σ quantity ×
    price of its items."""
    rows = []
    for key, row in changes.orders.items():
        attrs = row.get("attributes")
        total = row.get("total")
        if total is None and key in changes.order_items:
            total = sum((i["quantity"] * i["price"] for i in changes.order_items[key]), Decimal(0))
        rows.append(
            {**row, "status": None, "attributes": orjson.dumps(attrs).decode() if attrs else None,
             "total": total}
        )  # fmt: skip
    return rows


def item_stage(changes: Changes) -> pa.Table:
    rows = [
        {"workspace_id": ws, "order_id": oid, **line}
        for (ws, oid), lines in changes.order_items.items()
        for line in lines
    ]
    return pa.Table.from_pylist(rows, schema=ITEM_STAGE)


def apply_orders(conn: Any, changes: Changes, facts: ReturnsMemory) -> set[tuple[str, str]]:
    """Orders, statuses and returns; returns the keys of orders that are new."""
    new: set[tuple[str, str]] = set()
    tail = order_store.Tail()  # one history insert and one summary mark for the unit
    if changes.orders or changes.statuses:
        rows = order_rows(changes)
        _, new = order_store.write_orders(
            conn,
            pa.Table.from_pylist(rows, schema=ORDER_STAGE),
            item_stage(changes),
            pa.Table.from_pylist(changes.statuses, schema=STATUS_STAGE),
            authoritative=False,
            facts=facts,
            tail=tail,
            rows=(rows, changes.statuses),
        )
    if changes.returns:
        apply_refunds(conn, changes.returns, tail)
        facts.add(sorted({(r["workspace_id"], r["order_id"]) for r in changes.returns}))
    tail.flush(conn)
    return new


SEARCHES = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("query", pa.string()),
        ("results", pa.int32()),
        ("searched_at", TIMESTAMP),
        ("message_id", pa.string()),
    ]
)
WISHLIST = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("contact_id", pa.int64()),
        ("wishlist", pa.string()),
        ("sku", pa.string()),
        ("add", pa.bool_()),
        ("added_at", TIMESTAMP),
    ]
)
SEARCH_SQL = f"INSERT INTO searches ({', '.join(SEARCHES.names)}) SELECT * FROM _cm_searches"
WISHLIST_STATEMENTS = (
    "INSERT INTO wishlist_items (workspace_id, contact_id, wishlist, sku, added_at)"
    " SELECT workspace_id, contact_id, wishlist, sku, added_at FROM _cm_wish WHERE add"
    " ON CONFLICT DO NOTHING",
    "DELETE FROM wishlist_items USING _cm_wish w WHERE NOT w.add"
    " AND wishlist_items.workspace_id = w.workspace_id"
    " AND wishlist_items.contact_id = w.contact_id AND wishlist_items.wishlist = w.wishlist"
    " AND wishlist_items.sku = w.sku",
)
# The orders are read by a bound id list (migration 0043's index on ``order_id``; a join with
# the coupons' Arrow table read ``orders`` whole), the changed ones updated by key and by
# their literal rowids (``orders.rowids_in``: the CHECK on ``orders`` made an ``UPDATE … FROM``
# by key alone read every order; docs/commerce.md, session 9 REFUNDS).
COUPON_ROWS_SQL = (
    "SELECT workspace_id, order_id, coupon, rowid FROM orders WHERE order_id IN ({ids})"
)
COUPON_SQL = (
    "UPDATE orders SET coupon = c.coupon FROM _cm_coupons c"
    " WHERE orders.workspace_id = c.workspace_id AND orders.order_id = c.order_id"
)
COUPON_ROW_SQL = (
    "UPDATE orders SET coupon = ? WHERE rowid = ? AND workspace_id = ? AND order_id = ?"
)
COUPONS = pa.schema(
    [("workspace_id", pa.string()), ("order_id", pa.string()), ("coupon", pa.string())]
)


def apply_searches(conn: Any, changes: Changes) -> None:
    run(conn, SEARCH_SQL, _cm_searches=pa.Table.from_pylist(changes.searches, schema=SEARCHES))


def apply_wishlist(conn: Any, changes: Changes) -> None:
    rows = [
        {"workspace_id": ws, "contact_id": cid, "wishlist": name, "sku": sku, **state}
        for (ws, cid, name, sku), state in changes.wishlist.items()
    ]
    adding, removing = WISHLIST_STATEMENTS
    table = pa.Table.from_pylist(rows, schema=WISHLIST)
    if any(r["add"] for r in rows):
        run(conn, adding, _cm_wish=table)
    if not all(r["add"] for r in rows):
        run(conn, removing, _cm_wish=table)


def apply_coupons(conn: Any, changes: Changes) -> None:
    """The last coupon of each order in the unit, on the stored orders whose coupon differs."""
    last = {(c["workspace_id"], c["order_id"]): c["coupon"] for c in changes.coupons}
    ids = sorted({oid for _, oid in last})
    body, params = order_store.id_list(ids)
    sql = COUPON_ROWS_SQL.format(ids=body)
    rows = [
        (last[key], rowid, *key)
        for ws, oid, stored, rowid in conn.execute(sql, params).fetchall()
        if (key := (ws, oid)) in last and stored != last[key]
    ]
    if rows and order_store.one_per_row([r[1] for r in rows]):
        conn.executemany(COUPON_ROW_SQL, rows)
    elif rows:
        table = pa.Table.from_pylist(
            [{"workspace_id": w, "order_id": o, "coupon": cp} for cp, _, w, o in rows],
            schema=COUPONS,
        )
        rowids = order_store.rowids_in("orders", [r[1] for r in rows])
        run(conn, COUPON_SQL + rowids, _cm_coupons=table)


class WriterMemory:
    """What the single writer keeps between units of work (see ``memory``, ``cartmemory``)."""

    # Cart change rows between folds. A fold is one writer stall: ~8 ms plus ~1.7 µs a row
    # of writer CPU, and twice that in wall time (50k rows: 92 ms CPU / 173 ms wall; 10k:
    # 25 / 67; docs/commerce.md, session 12), so smaller folds, more often, for the p99.
    CONSOLIDATE_EVERY = 10_000

    def __init__(self) -> None:
        self.catalog = CatalogMemory()
        self.returns = ReturnsMemory()
        self.carts = CartMemory()
        self.cart_seq = Sequence()
        self.cart_rows: int | None = None  # change rows since the last fold; None: unknown
        self.unit_token: UnitToken | None = None  # this unit's, once written

    def token(self, conn: Any) -> UnitToken:
        """This unit's token, written at most once per ``apply_changes``; the catalog's
        pending products are settled by it."""
        if self.unit_token is None:
            self.unit_token = UnitToken.next(conn)
            self.catalog.settle(self.unit_token)
        return self.unit_token

    def write_carts(self, conn: Any, changes: Changes, converted: set[tuple[str, str]]) -> None:
        if self.cart_rows is None or self.cart_rows >= self.CONSOLIDATE_EVERY:
            consolidate(conn)  # at the first cart batch of the process, and then and again
            self.cart_rows = 0
        self.cart_rows += write_carts(
            conn, changes.carts, converted, self.carts, self.cart_seq, self.token(conn)
        )


def apply_changes(conn: Any, changes: Changes, memory: WriterMemory) -> None:
    """Each entity in dependency order; entities the batch does not touch cost nothing."""
    facts = memory.returns
    memory.unit_token = None
    if memory.catalog.pending and (changes.products or changes.carts):
        memory.token(conn)  # first: products an earlier unit wrote may need no query now
    if changes.products:
        apply_products(conn, changes, memory.catalog, lambda: memory.token(conn))
    new_orders: set[tuple[str, str]] = set()
    if changes.orders or changes.statuses or changes.returns:
        new_orders = apply_orders(conn, changes, facts)
    if changes.carts:  # after orders: only an order that is new converts a cart
        memory.write_carts(conn, changes, new_orders)
    if changes.coupons:
        apply_coupons(conn, changes)
    if changes.searches:
        apply_searches(conn, changes)
    if changes.wishlist:
        apply_wishlist(conn, changes)
