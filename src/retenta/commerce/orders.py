"""Orders, line items, status history and returns: the set-based write path shared by
events (``apply``), the orders API and bulk import (``upsert_orders``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from retenta.commerce import lifecycle
from retenta.commerce.arrowsql import run
from retenta.commerce.tables import MONEY, TIMESTAMP
from retenta.storage.duckdb import order_summary

Key = tuple[str, str]

ORDER_STAGE = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("order_id", pa.string()),
        ("contact_id", pa.int64()),
        ("status", pa.string()),
        ("channel", pa.string()),
        ("store_id", pa.string()),
        ("total", MONEY),
        ("revenue", MONEY),
        ("discount", MONEY),
        ("shipping", MONEY),
        ("tax", MONEY),
        ("currency", pa.string()),
        ("coupon", pa.string()),
        ("placed_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
        ("source_message_id", pa.string()),
        ("attributes", pa.string()),
    ]
)
ITEM_STAGE = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("order_id", pa.string()),
        ("line_no", pa.int32()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("quantity", pa.int32()),
        ("price", MONEY),
    ]
)
STATUS_STAGE = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("order_id", pa.string()),
        ("status", pa.string()),
        ("changed_at", TIMESTAMP),
        ("source_message_id", pa.string()),
    ]
)
RETURN_STAGE = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("order_id", pa.string()),
        ("sku", pa.string()),
        ("quantity", pa.int32()),
        ("amount", MONEY),
        ("returned_at", TIMESTAMP),
        ("source_message_id", pa.string()),
    ]
)
KEY_SCHEMA = pa.schema([("workspace_id", pa.string()), ("order_id", pa.string())])
DATA_FIELDS = (
    "channel", "store_id", "total", "revenue", "discount", "shipping", "tax", "currency", "coupon",
)  # fmt: skip


@contextmanager
def registered(conn: Any, **tables: pa.Table) -> Iterator[None]:
    """Arrow tables visible to SQL under the given names for the duration of the block."""
    for name, table in tables.items():
        conn.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            conn.unregister(name)


def keys_table(keys: list[Key]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"workspace_id": w, "order_id": o} for w, o in keys], schema=KEY_SCHEMA
    )


BOUND_IDS = 1000  # a longer id list (imports) is one list parameter, which DuckDB joins


def id_list(ids: list[str]) -> tuple[str, list[Any]]:
    """The body of ``order_id IN (…)`` for ``ids`` and its parameters: one ``?`` an id, which
    DuckDB answers from an index on ``order_id`` when the table has no changes of the
    current transaction (then it scans); past ``BOUND_IDS`` ids, one list parameter.

    >>> id_list(["a", "b"]), id_list(["x"] * 1001)[0]
    (('?, ?', ['a', 'b']), 'SELECT unnest(?::VARCHAR[])')
    """
    if len(ids) <= BOUND_IDS:
        return ", ".join(["?"] * len(ids)), list(ids)
    return "SELECT unnest(?::VARCHAR[])", [list(ids)]


POINT_LOOKUPS = 8  # up to this many keys, one probe each; more: one read by a bound id list
STATUS_PROBE = (
    "SELECT workspace_id, order_id, status FROM orders WHERE workspace_id = ? AND order_id = ?"
)
STATUS_BY_IDS = "SELECT workspace_id, order_id, status FROM orders WHERE order_id IN ({ids})"


def current_statuses(conn: Any, keys: list[Key]) -> dict[Key, str]:
    """The stored status of each of ``keys`` that exists.

    Both forms are answered from migration 0043's index on ``order_id`` (the two-column
    primary key is never probed); the workspace is checked on the rows found. A join with the
    keys' Arrow table read ``orders`` whole: 20 stored orders at 1M orders, 11.3 ms of writer
    CPU (docs/commerce.md, session 9 REFUNDS)."""
    if not keys:
        return {}
    if len(keys) <= POINT_LOOKUPS:
        sql = " UNION ALL ".join([STATUS_PROBE] * len(keys))
        rows = conn.execute(sql, [part for key in keys for part in key]).fetchall()
    else:
        ids = sorted({oid for _, oid in keys})
        body, params = id_list(ids)
        wanted = set(keys)
        rows = [
            r
            for r in conn.execute(STATUS_BY_IDS.format(ids=body), params).fetchall()
            if (r[0], r[1]) in wanted
        ]
    return {(r[0], r[1]): r[2] for r in rows}


def plan_statuses(
    orders: list[dict[str, Any]],
    events: list[dict[str, Any]],
    stored: dict[Key, str],
    *,
    authoritative: bool,
) -> tuple[dict[Key, str], list[dict[str, Any]]]:
    """Final status per order and the history rows to add. Pure.

    ``authoritative`` (import, API): the given status is taken as is. Otherwise (events)
    the lifecycle decides, so late or repeated events cannot move an order backwards.
    """
    if authoritative:
        return _plan_given(orders, stored)
    return _plan_events(orders, events, stored)


def _plan_given(
    orders: list[dict[str, Any]], stored: dict[Key, str]
) -> tuple[dict[Key, str], list[dict[str, Any]]]:
    final, history = {}, []
    for row in orders:
        key = (row["workspace_id"], row["order_id"])
        old = stored.get(key)
        final[key] = row.get("status") or old or "paid"
        if final[key] != old:
            at = row["placed_at"] if old is None else row["updated_at"]
            history.append(_history(key, final[key], at, row.get("source_message_id")))
    return final, history


def _plan_events(
    orders: list[dict[str, Any]], events: list[dict[str, Any]], stored: dict[Key, str]
) -> tuple[dict[Key, str], list[dict[str, Any]]]:
    per_key: dict[Key, list[dict[str, Any]]] = {}
    for ev in sorted(events, key=lambda e: e["changed_at"]):
        per_key.setdefault((ev["workspace_id"], ev["order_id"]), []).append(ev)
    known = set(stored) | {(r["workspace_id"], r["order_id"]) for r in orders}
    final, history = {}, []
    for key in known:
        evs = per_key.get(key, [])
        old = stored.get(key)
        status, accepted = lifecycle.fold(old, [e["status"] for e in evs])
        history += [_from_event(evs[i]) for i in accepted]
        if status is None:  # a new order whose events name no status
            row = next(r for r in orders if (r["workspace_id"], r["order_id"]) == key)
            status = "paid"
            history.append(_history(key, status, row["placed_at"], row["source_message_id"]))
        final[key] = status
    return final, history


def _history(key: Key, status: str, at: datetime, message_id: str | None) -> dict[str, Any]:
    return {
        "workspace_id": key[0],
        "order_id": key[1],
        "status": status,
        "changed_at": at,
        "source_message_id": message_id,
    }


def _from_event(ev: dict[str, Any]) -> dict[str, Any]:
    key = (ev["workspace_id"], ev["order_id"])
    return _history(key, ev["status"], ev["changed_at"], ev["source_message_id"])


def upsert_sql(*, authoritative: bool) -> str:
    cols = ", ".join(ORDER_STAGE.names)
    keep = ", ".join(f"{f} = COALESCE(excluded.{f}, orders.{f})" for f in DATA_FIELDS)
    contact = "excluded.contact_id" if authoritative else "orders.contact_id"
    placed = (
        "excluded.placed_at" if authoritative else "LEAST(orders.placed_at, excluded.placed_at)"
    )
    return (
        f"INSERT INTO orders ({cols})"
        f" SELECT workspace_id, order_id, contact_id, status, COALESCE(channel, 'online'),"
        f" store_id, COALESCE(total, (SELECT sum(i.quantity * i.price) FROM _cm_items i"
        f"   WHERE i.workspace_id = s.workspace_id AND i.order_id = s.order_id), 0),"
        f" revenue, discount, shipping, tax, currency, coupon, placed_at, updated_at,"
        f" source_message_id, COALESCE(CAST(attributes AS JSON), JSON '{{}}')"
        f" FROM _cm_orders s"
        f" ON CONFLICT (workspace_id, order_id) DO UPDATE SET {keep},"
        f" status = excluded.status, contact_id = {contact}, placed_at = {placed},"
        f" updated_at = GREATEST(orders.updated_at, excluded.updated_at),"
        f" source_message_id = COALESCE(excluded.source_message_id, orders.source_message_id),"
        f" attributes = json_merge_patch(orders.attributes, excluded.attributes), fp = NULL"
    )


# Status updates of stored orders (Order Cancelled, Order Updated without an order row) name
# the rows by key and by the rowids a read by bound ids found just before (migration 0043's
# index; the rowid join it replaces read ``orders`` whole: 20 orders at 1M, 10.8 ms of writer
# CPU). With migration 0041's CHECK DuckDB updates ``orders`` by delete + insert: an
# ``UPDATE … FROM`` by key alone read every column of every order (3 orders at 1M: 27.7 ms
# CPU, session 8); with the literal rowids it reads those of each row group holding one.
ROWIDS_BY_IDS = "SELECT workspace_id, order_id, rowid FROM orders WHERE order_id IN ({ids})"
STATUS_ROWS_SQL = (
    "UPDATE orders SET status = u.status, updated_at = GREATEST(orders.updated_at, u.changed_at),"
    " fp = NULL FROM _cm_status_only u"
    " WHERE orders.workspace_id = u.workspace_id AND orders.order_id = u.order_id"
)
STATUS_ROWS = pa.schema(
    [("workspace_id", pa.string()), ("order_id", pa.string()), ("status", pa.string()),
     ("changed_at", TIMESTAMP)]
)  # fmt: skip


ROW_GROUP = 122_880  # DuckDB's rows a row group (a heuristic's input only)
STORED_ROWIDS = 1 << 54  # rows this transaction wrote have rowids near 2^55 (MAX_ROW_ID)


def one_per_row(rowids: list[int]) -> bool:
    """Whether to update rows one statement each: when there are several and each is a stored
    row in a row group of its own. An update by ``rowid IN (…)`` reads every column of each
    row group holding one (~1–1.5 ms each at 1M orders), one statement a row reads its row
    but costs ~1 ms a statement, also on a small store (docs/commerce.md, session 9 REFUNDS).

    >>> one_per_row([5]), one_per_row([5, 7]), one_per_row([5, ROW_GROUP + 5])
    (False, False, True)
    >>> one_per_row([5, STORED_ROWIDS + 1, STORED_ROWIDS + 2 * ROW_GROUP])
    False
    """
    groups = {r // ROW_GROUP for r in rowids}
    return len(rowids) > 1 and len(groups) == len(rowids) and max(rowids) < STORED_ROWIDS


STATUS_ROW_SQL = (
    "UPDATE orders SET status = ?, updated_at = GREATEST(updated_at, ?), fp = NULL"
    " WHERE rowid = ? AND workspace_id = ? AND order_id = ?"
)
LINE_ROW_SQL = (
    "UPDATE order_items SET returned_quantity = ?, fp = NULL"
    " WHERE rowid = ? AND workspace_id = ? AND order_id = ? AND line_no = ?"
)


def write_statuses(conn: Any, rows: list[tuple[str, datetime, int, str, str]]) -> None:
    """Move stored orders to a status: ``(status, changed_at, rowid, workspace_id, order_id)``
    each, the rowid found in this unit. By key and by rowid: one statement a row when the rows
    are spread over row groups (``one_per_row``), otherwise one statement by the literal
    rowids (``rowids_in``)."""
    if not rows:
        return
    if one_per_row([r[2] for r in rows]):
        conn.executemany(STATUS_ROW_SQL, rows)
        return
    table = pa.Table.from_pylist(
        [{"workspace_id": w, "order_id": o, "status": st, "changed_at": at}
         for st, at, _, w, o in rows],
        schema=STATUS_ROWS,
    )  # fmt: skip
    run(conn, STATUS_ROWS_SQL + rowids_in("orders", [r[2] for r in rows]), _cm_status_only=table)


def rowids_in(table: str, rowids: Iterable[int]) -> str:
    """`` AND <table>.rowid IN (…)``: a literal list (integers DuckDB gave us), which DuckDB
    reads by rowid; a bound list became a semi-join after a full scan.

    >>> rowids_in("orders", [7, 3])
    ' AND orders.rowid IN (7, 3)'
    """
    return f" AND {table}.rowid IN ({', '.join(str(int(r)) for r in rowids)})"


def write_status_only(conn: Any, table: pa.Table) -> None:
    """Move the staged orders (key, status, changed_at; one row an order) to their status;
    keys without a stored order change nothing."""
    staged = table.to_pylist()
    if not staged:
        return
    ids = sorted({r["order_id"] for r in staged})
    body, params = id_list(ids)
    found = conn.execute(ROWIDS_BY_IDS.format(ids=body), params).fetchall()
    rowids = {(w, o): rowid for w, o, rowid in found}
    rows = [
        (r["status"], r["changed_at"], rowids[key], *key)
        for r in staged
        if (key := (r["workspace_id"], r["order_id"])) in rowids
    ]
    write_statuses(conn, rows)


HISTORY_SQL = (
    "INSERT INTO order_status_history (workspace_id, order_id, status, changed_at,"
    " source_message_id) SELECT * FROM _cm_history"
)
ITEMS_UPSERT_SQL = (
    "INSERT INTO order_items (workspace_id, order_id, line_no, sku, name, category, brand,"
    " quantity, price) SELECT * FROM _cm_items"
    " ON CONFLICT (workspace_id, order_id, line_no) DO UPDATE SET sku = excluded.sku,"
    " name = excluded.name, category = excluded.category, brand = excluded.brand,"
    " quantity = excluded.quantity, price = excluded.price, fp = NULL"
)
ITEMS_TRIM_SQL = (
    "DELETE FROM order_items USING (SELECT workspace_id, order_id, max(line_no) AS last"
    " FROM _cm_items GROUP BY ALL) m WHERE order_items.workspace_id = m.workspace_id"
    " AND order_items.order_id = m.order_id AND order_items.line_no > m.last"
)


@dataclass
class Tail:
    """Appends that nothing later in the unit reads back, written once at its end: status
    history rows and the orders marked for the order summary. An ingest unit with orders
    and a refund wrote each of them twice (about 1 ms a statement here)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    marked: list[Key] = field(default_factory=list)

    def flush(self, conn: Any) -> None:
        _write_history(conn, self.history)
        order_summary.mark(conn, self.marked)  # the traits' summary: these orders changed
        self.history, self.marked = [], []


def write_orders(
    conn: Any,
    orders: pa.Table,
    items: pa.Table,
    statuses: pa.Table,
    *,
    authoritative: bool,
    facts: FactsIndex | None = None,
    tail: Tail | None = None,
    rows: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, int], set[Key]]:
    """Upsert staged orders (``ORDER_STAGE``), replace their items (``ITEM_STAGE``) and move
    statuses (``STATUS_STAGE`` events, or the ``status`` column when ``authoritative``).

    New orders — nearly all of them on the event path — are written by one
    ``INSERT … ON CONFLICT DO NOTHING RETURNING`` that also tells which keys were new, so
    the common batch never scans ``orders``; only repeats and updates read what is stored.
    Returns the counts and the keys of the orders that were new. With ``tail`` the history
    rows and summary marks are left for the caller to flush; without, they are written here.
    ``rows``: the Python rows the caller built ``orders`` and ``statuses`` from, when it has
    them (``apply``): reading them back from Arrow cost ~1 ms a unit of 80 orders, most of it
    in the time-zone-aware timestamps.
    """
    own = tail is None
    tail = Tail() if tail is None else tail
    order_rows, event_rows = rows or (orders.to_pylist(), statuses.to_pylist())
    final, history = plan_statuses(order_rows, event_rows, {}, authoritative=authoritative)
    new = _insert_new(conn, _with_status(orders, final), items)
    tail.history += [h for h in history if (h["workspace_id"], h["order_id"]) in new]
    rest = _update_existing(
        conn,
        _without(orders, new),
        _without(items, new),
        [e for e in event_rows if (e["workspace_id"], e["order_id"]) not in new],
        authoritative=authoritative,
        tail=tail,
    )
    settle_new_with_facts(conn, new, mark_returned=not authoritative, facts=facts, tail=tail)
    touched = [(e["workspace_id"], e["order_id"]) for e in event_rows]
    tail.marked += [*table_keys(orders), *table_keys(items), *touched]
    if own:
        tail.flush(conn)
    new_history = sum(1 for h in history if (h["workspace_id"], h["order_id"]) in new)
    counts = {
        "orders_inserted": len(new),
        "orders_updated": len(order_rows) - len(new),
        "items": items.num_rows,
        "status_changes": new_history + rest,
    }
    return counts, new


def _without(table: pa.Table, keys: set[Key]) -> pa.Table:
    if not keys or table.num_rows == 0:
        return table
    mask = [k not in keys for k in table_keys(table)]
    return table.filter(pa.array(mask, pa.bool_()))


def _only(table: pa.Table, keys: set[Key]) -> pa.Table:
    mask = [k in keys for k in table_keys(table)]
    return table.filter(pa.array(mask, pa.bool_()))


INSERT_NEW_SQL = (
    f"INSERT INTO orders ({', '.join(ORDER_STAGE.names)}) SELECT workspace_id, order_id,"
    " contact_id, status,"
    " COALESCE(channel, 'online'), store_id, COALESCE(total, (SELECT sum(i.quantity * i.price)"
    "  FROM _cm_items i WHERE i.workspace_id = s.workspace_id AND i.order_id = s.order_id), 0),"
    " revenue, discount, shipping, tax, currency, coupon, placed_at, updated_at, source_message_id,"
    " COALESCE(CAST(attributes AS JSON), JSON '{}') FROM _cm_orders s"
    " ON CONFLICT DO NOTHING RETURNING workspace_id, order_id"
)


# When every order carries its total, the statement needs no subquery over the items.
INSERT_NEW_GIVEN_TOTAL_SQL = INSERT_NEW_SQL.replace(
    "COALESCE(total, (SELECT sum(i.quantity * i.price)"
    "  FROM _cm_items i WHERE i.workspace_id = s.workspace_id AND i.order_id = s.order_id), 0)",
    "total",
)


# Which of a unit's orders are stored, and which have stored lines, by migration 0043's index
# on ``order_id`` and ``order_items_order`` (two index scans; the workspace is checked in
# Python). The orders it finds absent are new: the single writer keeps them absent until the
# plain inserts below, and the primary keys still guard both.
STORED_PROBE_SQL = (
    "SELECT workspace_id, order_id, false FROM orders WHERE order_id IN ({ids}) UNION ALL"
    " SELECT DISTINCT workspace_id, order_id, true FROM order_items WHERE order_id IN ({ids})"
)
_CONFLICT = " ON CONFLICT DO NOTHING RETURNING workspace_id, order_id"
INSERT_PLAIN_SQL = INSERT_NEW_SQL.replace(_CONFLICT, "")
INSERT_PLAIN_GIVEN_TOTAL_SQL = INSERT_NEW_GIVEN_TOTAL_SQL.replace(_CONFLICT, "")
ITEMS_INSERT_SQL = ITEMS_UPSERT_SQL[: ITEMS_UPSERT_SQL.index(" ON CONFLICT")]
PROBED_ORDERS = BOUND_IDS  # more (imports): the conflict-checking inserts


def _insert_new(conn: Any, orders: pa.Table, items: pa.Table) -> set[Key]:
    """Insert the staged orders that are not stored, and their lines; the keys inserted.

    Up to ``PROBED_ORDERS`` distinct orders (every ingest unit), one index probe says which are
    stored and which have stored lines, and the rest are plain inserts: an ``ON CONFLICT``
    insert cost ~1.3 ms more writer CPU (~2.5 ms more wall) than a plain one, for orders and
    again for their lines, while the probe costs ~1.4 ms for both (docs/commerce.md, session
    11). Lines already stored under a new order's key (no writer leaves such orphans, but an
    old store might hold some) still go through the upsert, as before."""
    if orders.num_rows == 0:
        return set()
    staged = table_keys(orders)
    if len(staged) > PROBED_ORDERS or len(set(staged)) < len(staged):
        return _insert_new_on_conflict(conn, orders, items)
    body, params = id_list(sorted({oid for _, oid in staged}))
    stored: set[Key] = set()
    lined: set[Key] = set()
    for ws, oid, is_line in conn.execute(STORED_PROBE_SQL.format(ids=body), params * 2).fetchall():
        (lined if is_line else stored).add((ws, oid))
    new = set(staged) - stored
    if not new:
        return new
    given = orders["total"].null_count == 0
    sql = INSERT_PLAIN_GIVEN_TOTAL_SQL if given else INSERT_PLAIN_SQL
    run(conn, sql, _cm_orders=orders if not stored else _only(orders, new), _cm_items=items)
    fresh = _only(items, new)
    if fresh.num_rows:
        lines = _line_keys(fresh)
        plain = not (new & lined) and len(set(lines)) == len(lines)
        run(conn, ITEMS_INSERT_SQL if plain else ITEMS_UPSERT_SQL, _cm_items=fresh)
    return new


def _line_keys(items: pa.Table) -> list[tuple[str, str, int]]:
    columns = (items[c].to_pylist() for c in ("workspace_id", "order_id", "line_no"))
    return list(zip(*columns, strict=True))


def _insert_new_on_conflict(conn: Any, orders: pa.Table, items: pa.Table) -> set[Key]:
    """``_insert_new`` for many orders (imports) or repeated keys: the conflict check tells
    which are new."""
    given = orders["total"].null_count == 0
    sql = INSERT_NEW_GIVEN_TOTAL_SQL if given else INSERT_NEW_SQL
    inserted = run(conn, sql, _cm_orders=orders, _cm_items=items).fetchall()
    new = {(w, o) for w, o in inserted}
    fresh = _only(items, new) if new else items.slice(0, 0)
    if fresh.num_rows:
        run(conn, ITEMS_UPSERT_SQL, _cm_items=fresh)
    return new


def _update_existing(
    conn: Any,
    orders: pa.Table,
    items: pa.Table,
    event_rows: list[dict[str, Any]],
    *,
    authoritative: bool,
    tail: Tail,
) -> int:
    """Orders that were stored before: read their status, move it, replace items."""
    order_rows = orders.to_pylist()
    keys = {(r["workspace_id"], r["order_id"]) for r in order_rows + event_rows}
    if not keys:
        return 0
    stored = current_statuses(conn, sorted(keys))
    final, history = plan_statuses(order_rows, event_rows, stored, authoritative=authoritative)
    staged = _with_status(orders, final)
    changed = {k: s for k, s in final.items() if stored.get(k) != s}
    _write(conn, staged, items, authoritative=authoritative)
    _write_status_only(conn, status_only_rows(staged, changed, history))
    tail.history += history
    if items.num_rows:
        settle_returns(conn, sorted(set(table_keys(items))), mark_returned=False, tail=tail)
    return len(history)


def _with_status(orders: pa.Table, final: dict[Key, str]) -> pa.Table:
    column = pa.array([final[k] for k in table_keys(orders)], pa.string())
    return orders.set_column(orders.schema.get_field_index("status"), "status", column)


def table_keys(table: pa.Table) -> list[Key]:
    if table.num_rows == 0:
        return []
    ws, ids = table["workspace_id"].to_pylist(), table["order_id"].to_pylist()
    return list(zip(ws, ids, strict=True))


def _write(conn: Any, orders: pa.Table, items: pa.Table, *, authoritative: bool) -> None:
    if orders.num_rows:
        run(conn, upsert_sql(authoritative=authoritative), _cm_orders=orders, _cm_items=items)
    if items.num_rows:
        run(conn, ITEMS_UPSERT_SQL, _cm_items=items)
        run(conn, ITEMS_TRIM_SQL, _cm_items=items)


def status_only_rows(
    orders: pa.Table, changed: dict[Key, str], history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stored orders whose status moves without an order row in this batch (Order Cancelled)."""
    in_batch = set(table_keys(orders))
    return [
        {
            "workspace_id": k[0],
            "order_id": k[1],
            "status": s,
            "changed_at": _last_change(history, k),
        }
        for k, s in changed.items()
        if k not in in_batch
    ]


def _write_history(conn: Any, history: list[dict[str, Any]]) -> None:
    if history:
        run(conn, HISTORY_SQL, _cm_history=pa.Table.from_pylist(history, schema=STATUS_STAGE))


def _last_change(history: list[dict[str, Any]], key: Key) -> datetime | None:
    times = [h["changed_at"] for h in history if (h["workspace_id"], h["order_id"]) == key]
    return max(times) if times else None


def _write_status_only(conn: Any, rows: list[dict[str, Any]]) -> None:
    rows = [r for r in rows if r["changed_at"] is not None]
    if not rows:
        return
    schema = pa.schema(
        [("workspace_id", pa.string()), ("order_id", pa.string()), ("status", pa.string()),
         ("changed_at", TIMESTAMP)]
    )  # fmt: skip
    write_status_only(conn, pa.Table.from_pylist(rows, schema=schema))


RETURNS_INSERT_SQL = (
    "INSERT INTO order_returns (workspace_id, order_id, sku, quantity, returned_at,"
    " source_message_id, amount)"
    " SELECT r.workspace_id, r.order_id, r.sku, r.quantity, r.returned_at, r.source_message_id,"
    " r.amount FROM _cm_returns r WHERE NOT EXISTS (SELECT 1 FROM order_returns x"
    " WHERE x.workspace_id = r.workspace_id AND x.order_id = r.order_id"
    " AND x.source_message_id IS NOT DISTINCT FROM r.source_message_id"
    " AND x.sku IS NOT DISTINCT FROM r.sku)"
)
# returned_quantity is derived from the facts: a whole-order fact (sku NULL) or a sku fact
# without quantity returns every unit of the line; otherwise the facts' quantities add up.
# The lines of ``_cm_keys`` whose returned quantity the facts move: the new quantity, then the
# line's rowid and key (``write_line_quantities``' rows). ``{ids}``: one ``?`` an order id of
# ``_cm_keys``, bound for each read, so that both are answered from an index on ``order_id``
# (``order_items_order``, migration 0043's ``order_returns_order``). An ``UPDATE … FROM`` this
# join with ``_cm_keys`` alone read the lines, the facts and the updated table whole (20
# re-sent orders at 1M: 79.4 ms of writer CPU, 159.5 ms process; docs/commerce.md, session 9
# REFUNDS). The rule is unchanged.
RETURNED_QTY_SQL = (
    "SELECT r.q, r.rowid, r.workspace_id, r.order_id, r.line_no FROM ("
    " SELECT i.workspace_id, i.order_id, i.line_no, i.rowid, i.returned_quantity,"
    "  LEAST(i.quantity, CASE WHEN"
    "  bool_or(f.order_id IS NOT NULL AND (f.sku IS NULL OR f.quantity IS NULL))"
    "  THEN i.quantity ELSE COALESCE(sum(f.quantity), 0) END) AS q"
    " FROM (SELECT *, rowid FROM order_items WHERE order_id IN ({ids})) i JOIN _cm_keys k"
    "  ON i.workspace_id = k.workspace_id AND i.order_id = k.order_id"
    " LEFT JOIN (SELECT * FROM order_returns WHERE order_id IN ({ids})) f"
    "  ON f.workspace_id = i.workspace_id AND f.order_id = i.order_id"
    "  AND (f.sku IS NULL OR f.sku = i.sku)"
    " GROUP BY i.workspace_id, i.order_id, i.line_no, i.quantity, i.rowid,"
    "  i.returned_quantity) r"
    " WHERE r.returned_quantity <> r.q"
)
# The lines' new returned quantities, by key and by the literal rowids a read in the same unit
# found (``rowids_in``; with migration 0041's CHECK DuckDB updates ``order_items`` by delete +
# insert, and an ``UPDATE … FROM`` by key alone read every line).
LINE_QTY_SQL = (
    "UPDATE order_items SET returned_quantity = u.q, fp = NULL FROM _cm_items u"
    " WHERE order_items.workspace_id = u.workspace_id AND order_items.order_id = u.order_id"
    " AND order_items.line_no = u.line_no"
)
LINE_QTY = pa.schema(
    [("workspace_id", pa.string()), ("order_id", pa.string()), ("line_no", pa.int32()),
     ("q", pa.int32())]
)  # fmt: skip


def write_line_quantities(conn: Any, moved: list[tuple[int, int, str, str, int]]) -> None:
    """``(returned_quantity, rowid, workspace_id, order_id, line_no)`` each; one statement a
    row or one for all, as in ``write_statuses``."""
    if not moved:
        return
    if one_per_row([m[1] for m in moved]):
        conn.executemany(LINE_ROW_SQL, moved)
        return
    table = pa.Table.from_pylist(
        [{"workspace_id": w, "order_id": o, "line_no": no, "q": q} for q, _, w, o, no in moved],
        schema=LINE_QTY,
    )
    run(conn, LINE_QTY_SQL + rowids_in("order_items", [m[1] for m in moved]), _cm_items=table)


def fully_returned_sql() -> str:
    """Orders among ``_cm_keys`` that a return covers completely and may become 'returned'."""
    may_return = lifecycle.transitions_sql("o.status", "'returned'")
    return (
        "SELECT o.workspace_id, o.order_id, f.at, f.mid FROM orders o JOIN _cm_keys k"
        " ON o.workspace_id = k.workspace_id AND o.order_id = k.order_id"
        " JOIN (SELECT workspace_id, order_id, max(returned_at) AS at,"
        "  arg_max(source_message_id, returned_at) AS mid, bool_or(sku IS NULL) AS whole"
        "  FROM order_returns WHERE order_id IN (SELECT order_id FROM _cm_keys)"
        "  GROUP BY workspace_id, order_id) f"
        " ON f.workspace_id = o.workspace_id AND f.order_id = o.order_id"
        f" WHERE {may_return} AND (f.whole OR ("
        "  EXISTS (SELECT 1 FROM order_items i WHERE i.workspace_id = o.workspace_id"
        "   AND i.order_id = o.order_id) AND NOT EXISTS (SELECT 1 FROM order_items i"
        "   WHERE i.workspace_id = o.workspace_id AND i.order_id = o.order_id"
        "   AND i.returned_quantity < i.quantity)))"
    )


def write_returns(conn: Any, returns: pa.Table) -> None:
    """Record return facts; the same refund message twice adds nothing."""
    if returns.num_rows:
        run(conn, RETURNS_INSERT_SQL, _cm_returns=returns)


FACTS_SQL = (
    "SELECT DISTINCT workspace_id, order_id FROM order_returns WHERE list_contains(?, order_id)"
)


class FactsIndex(Protocol):
    def among(self, conn: Any, keys: set[Key]) -> set[Key]: ...


def settle_new_with_facts(
    conn: Any,
    new: set[Key],
    *,
    mark_returned: bool,
    facts: FactsIndex | None = None,
    tail: Tail | None = None,
) -> None:
    """A refund can arrive before its order: new orders with stored return facts settle now.
    ``facts`` (the writer's memory) answers without SQL; otherwise ``order_returns`` — small,
    a few percent of orders — is read."""
    if not new:
        return
    if facts is not None:
        found = facts.among(conn, new)
    else:
        rows = conn.execute(FACTS_SQL, [sorted({o for _, o in new})]).fetchall()
        found = {(w, o) for w, o in rows} & new
    keys = sorted(found)
    if keys:
        settle_returns(conn, keys, mark_returned=mark_returned, tail=tail)


def settle_returns(
    conn: Any, keys: list[Key], *, mark_returned: bool, tail: Tail | None = None
) -> int:
    """Derive ``returned_quantity`` for ``keys``; with ``mark_returned``, fully returned
    orders move to 'returned'. Returns the number of status changes. History rows and
    summary marks go to ``tail`` when given (the caller flushes it)."""
    if not keys:
        return 0
    keys_t = keys_table(keys)
    ids = sorted({oid for _, oid in keys})
    body, params = id_list(ids)
    moved = run(conn, RETURNED_QTY_SQL.format(ids=body), params * 2, _cm_keys=keys_t).fetchall()
    write_line_quantities(conn, moved)
    rows = run(conn, fully_returned_sql(), _cm_keys=keys_t).fetchall() if mark_returned else []
    history = [_history((w, o), "returned", at, mid) for w, o, at, mid in rows]
    changed = {(h["workspace_id"], h["order_id"]): "returned" for h in history}
    _write_status_only(conn, status_only_rows(keys_table([]), changed, history))
    own = Tail() if tail is None else tail
    own.history += history
    own.marked += keys  # returned quantities changed: the traits' summary
    if tail is None:
        own.flush(conn)
    return len(history)


def change_status(conn: Any, key: Key, status: str, at: datetime, *, by: str) -> dict[str, Any]:
    """Move one stored order to ``status`` through the lifecycle (caller checked it is
    allowed); a move to 'returned' records a whole-order return fact."""
    event = {"workspace_id": key[0], "order_id": key[1], "status": status, "changed_at": at,
             "source_message_id": by}  # fmt: skip
    counts, _ = write_orders(
        conn,
        pa.Table.from_pylist([], schema=ORDER_STAGE),
        pa.Table.from_pylist([], schema=ITEM_STAGE),
        pa.Table.from_pylist([event], schema=STATUS_STAGE),
        authoritative=False,
    )
    if status == "returned" and counts["status_changes"]:
        fact = {**event, "sku": None, "quantity": None, "amount": None, "returned_at": at}
        fact.pop("status"), fact.pop("changed_at")
        write_returns(conn, pa.Table.from_pylist([fact], schema=RETURN_STAGE))
        settle_returns(conn, [key], mark_returned=False)
    return counts
