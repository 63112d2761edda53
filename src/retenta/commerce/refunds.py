"""Order Refunded events of one unit: return facts, ``returned_quantity`` and the 'returned'
status, decided in Python from one read.

The set-based settle that the API and imports use (``orders.write_returns`` then
``orders.settle_returns``) runs three joins over ``order_returns`` / ``order_items`` /
``orders`` and a status update: about 12 ms of CPU a unit with a refund here, the costliest
step of a storefront unit. Here one statement reads the refunded orders' lines, statuses and
stored facts, and the writes are plain: the new facts, the lines whose quantity moves, the
orders that become 'returned'. The stored facts are always read: the writer's
``ReturnsMemory`` does not see facts written by imports or the API, so it cannot say "none".
The rules are the SQL ones (``orders.RETURNED_QTY_SQL``, ``orders.fully_returned_sql``);
``tests/commerce/test_refunds.py`` checks that both paths leave the same tables.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import pyarrow as pa

from retenta.commerce import lifecycle
from retenta.commerce.arrowsql import run
from retenta.commerce.orders import (
    RETURN_STAGE,
    Key,
    Tail,
    id_list,
    write_line_quantities,
    write_statuses,
)

Fact = dict[str, Any]
Line = tuple[int, str, int, int, int]  # line_no, sku, quantity, returned_quantity, rowid

LINE, ORDER, FACT = 0, 1, 2
# The orders are named by a bound list (``{ids}``: one ``?`` an order id, the same ids for each
# branch), which DuckDB answers from the one-column indexes on ``order_id`` (``order_items_order``,
# migration 0043's ``orders_order`` and ``order_returns_order``; the primary key has two columns
# and is never probed). ``IN (SELECT order_id FROM _cm_keys)`` was a semi-join that, inside a
# writer unit, read the three tables whole: 9 refunds at 1M orders, 13–16 ms of writer CPU for
# this read, 2.9–3.6 ms with the bound list (docs/commerce.md, session 9 REFUNDS). The
# workspace is checked in Python on the rows found.
READ_SQL = (
    "SELECT 0, i.workspace_id, i.order_id, i.line_no, i.sku, i.quantity, i.returned_quantity,"
    " NULL::VARCHAR, NULL::TIMESTAMPTZ, NULL::VARCHAR, i.rowid FROM order_items i"
    " WHERE i.order_id IN ({ids})"
    " UNION ALL SELECT 1, o.workspace_id, o.order_id, NULL, NULL, NULL, NULL, o.status, NULL, NULL,"
    " o.rowid"
    " FROM orders o WHERE o.order_id IN ({ids})"
    " UNION ALL SELECT 2, f.workspace_id, f.order_id, NULL, f.sku, f.quantity, NULL, NULL,"
    " f.returned_at, f.source_message_id, NULL FROM order_returns f"
    " WHERE f.order_id IN ({ids})"
)
INSERT_SQL = (
    "INSERT INTO order_returns (workspace_id, order_id, sku, quantity, amount, returned_at,"
    " source_message_id) SELECT * FROM _cm_returns"
)


def apply_refunds(conn: Any, returns: list[Fact], tail: Tail) -> None:
    """Record the unit's return facts (the same refund message twice adds nothing), derive
    the refunded orders' returned quantities and move fully returned orders to 'returned'."""
    keys = {(r["workspace_id"], r["order_id"]) for r in returns}
    lines, status, stored = _read(conn, keys)
    seen = {_identity(f) for fs in stored.values() for f in fs}
    new = [r for r in returns if _identity(r) not in seen]  # repeats within the unit stay
    if new:
        run(conn, INSERT_SQL, _cm_returns=pa.Table.from_pylist(new, schema=RETURN_STAGE))
    for r in new:
        stored[(r["workspace_id"], r["order_id"])].append(r)
    moved = {k: _settled(ls, stored[k]) for k, ls in lines.items()}
    _write_lines(conn, moved, lines)
    _mark_returned(conn, keys, stored, moved, lines, status, tail)
    tail.marked += sorted(keys)  # returned quantities changed: the traits' summary


def _identity(fact: Fact) -> tuple[Any, ...]:
    """What makes a fact a repeat: the same message about the same sku of the same order."""
    return (fact["workspace_id"], fact["order_id"], fact["source_message_id"], fact["sku"])


def _read(
    conn: Any, keys: set[Key]
) -> tuple[dict[Key, list[Line]], dict[Key, tuple[str, int]], defaultdict[Key, list[Fact]]]:
    """The refunded orders' lines (of orders without a row too), stored statuses (with the
    order's rowid) and facts."""
    lines: dict[Key, list[Line]] = defaultdict(list)
    status: dict[Key, tuple[str, int]] = {}  # the stored status and the order's rowid
    facts: defaultdict[Key, list[Fact]] = defaultdict(list)
    ids = sorted({oid for _, oid in keys})
    body, params = id_list(ids)
    sql = READ_SQL.format(ids=body)
    for kind, ws, oid, no, sku, qty, returned, st, at, mid, rowid in conn.execute(
        sql, params * 3
    ).fetchall():
        key = (ws, oid)
        if key not in keys:  # the same order id in another workspace
            continue
        if kind == LINE:
            lines[key].append((no, sku, qty, returned, rowid))
        elif kind == ORDER:
            status[key] = (st, rowid)
        else:
            facts[key].append({"workspace_id": ws, "order_id": oid, "sku": sku, "quantity": qty,
                               "returned_at": at, "source_message_id": mid})  # fmt: skip
    return lines, status, facts


def returned_quantity(quantity: int, sku: str, facts: list[Fact]) -> int:
    """A line's returned quantity from its order's facts (``orders.RETURNED_QTY_SQL``): a
    whole-order fact or a sku fact without quantity returns every unit; otherwise the
    quantities of the sku's facts add up; never more than the line holds.

    >>> f = lambda sku, q: {"sku": sku, "quantity": q}
    >>> returned_quantity(3, "a", [f("a", 1), f("b", 5), f("a", 1)]), returned_quantity(3, "a", [])
    (2, 0)
    >>> returned_quantity(3, "a", [f(None, None)]), returned_quantity(3, "a", [f("a", 9)])
    (3, 3)
    """
    matching = [f for f in facts if f["sku"] is None or f["sku"] == sku]
    if any(f["sku"] is None or f["quantity"] is None for f in matching):
        return quantity
    returned: int = sum(f["quantity"] for f in matching)
    return min(quantity, returned)


def _settled(lines: list[Line], facts: list[Fact]) -> dict[int, int]:
    """Each line's returned quantity after the facts: line_no → quantity."""
    return {no: returned_quantity(qty, sku, facts) for no, sku, qty, _, _ in lines}


def _write_lines(conn: Any, moved: dict[Key, dict[int, int]], lines: dict[Key, list[Line]]) -> None:
    changed = [
        (q, rowid, k[0], k[1], no)
        for k, ls in lines.items()
        for (no, _, _, before, rowid), q in zip(ls, moved[k].values(), strict=True)
        if q != before
    ]
    if changed:
        write_line_quantities(conn, changed)


def _mark_returned(
    conn: Any,
    keys: set[Key],
    facts: dict[Key, list[Fact]],
    moved: dict[Key, dict[int, int]],
    lines: dict[Key, list[Line]],
    status: dict[Key, tuple[str, int]],
    tail: Tail,
) -> None:
    """Stored orders that a return now covers completely move to 'returned' when the
    lifecycle allows (``orders.fully_returned_sql``); each gets a history row. The update
    names the rows by the rowids the read found (nothing in the unit writes ``orders``
    between the two), so it needs no read of its own (``orders.write_status_only`` does one)."""
    rows = []
    for key in sorted(keys):
        fs = facts.get(key)
        if key not in status or not fs or not lifecycle.reachable(status[key][0], "returned"):
            continue
        whole = any(f["sku"] is None for f in fs)
        covered = bool(lines.get(key)) and all(
            moved[key][no] >= qty for no, _, qty, _, _ in lines[key]
        )
        if whole or covered:
            at, mid = _last(fs)
            rows.append(("returned", at, status[key][1], key[0], key[1]))
            tail.history.append({"workspace_id": key[0], "order_id": key[1],
                                 "status": "returned", "changed_at": at,
                                 "source_message_id": mid})  # fmt: skip
    write_statuses(conn, rows)


def _last(facts: list[Fact]) -> tuple[datetime, str | None]:
    """The newest fact's time and message (``max(returned_at)``, ``arg_max`` of the id)."""
    newest = max(facts, key=lambda f: f["returned_at"])
    return newest["returned_at"], newest["source_message_id"]
