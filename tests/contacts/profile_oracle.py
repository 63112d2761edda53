"""The profile and timeline reads as they were at ``fc6aa38`` (before session 9), frozen
here verbatim as the oracle of ``test_profile_exact.py``: whatever the reads become, they
must answer exactly this, byte for byte."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

MAX_MERGE_HOPS = 64
EVENT_FIELDS = (
    "message_id",
    "type",
    "event",
    "timestamp",
    "received_at",
    "properties",
    "traits",
    "context",
    "source",
)
JSON_EVENT_FIELDS = ("properties", "traits", "context")


def parse_json(value: Any) -> Any:
    """DuckDB returns JSON columns as text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def holder_of(cur: Any, workspace_id: str, id_type: str, value: str) -> int | None:
    """The contact an identity row names (maybe merged away since: see ``find_contact``).

    The value's equality is the statement's only filter, so DuckDB probes its index; the
    few rows sharing a value (other types, other workspaces) are told apart here. A plain
    statement plans in about half the time of ``probe``'s CTE with a filter around it.
    """
    rows = cur.execute(
        "SELECT workspace_id, type, contact_id FROM identities WHERE value = ?", [value]
    ).fetchall()
    found = [int(r[2]) for r in rows if r[0] == workspace_id and r[1] == id_type]
    return found[0] if found else None


def live_contact_id(cur: Any, workspace_id: str, contact_id: int) -> int | None:
    """Follow ``merged_into`` from ``contact_id`` to the live contact (None if unknown).

    The id is each read's only filter, so DuckDB probes the primary key's index instead of
    scanning a row group (~0.55 instead of ~0.8 ms); workspace and erasure are checked here.
    """
    current = contact_id
    for _ in range(MAX_MERGE_HOPS):
        row = cur.execute(
            "SELECT merged_into, workspace_id, erased_at FROM contacts WHERE id = ?", [current]
        ).fetchone()
        if row is None or row[1] != workspace_id or row[2] is not None:
            return None
        if row[0] is None:
            return current
        current = int(row[0])
    return None


def liveness(cur: Any, workspace_id: str, contact_id: int) -> tuple[bool, int | None, bool]:
    """``(exists, merged_into, has_merged_in)`` of a contact in one statement: what
    ``live_contact_id`` and ``has_merged_in`` read in two for the common live, unmerged
    contact. Each branch's only filter is the id (the contact through its primary key's
    index), the rest is checked here: ~0.8 instead of ~1.5 ms of CPU at 1M contacts."""
    rows = cur.execute(
        "SELECT true, merged_into, workspace_id, erased_at FROM contacts WHERE id = $k"
        " UNION ALL SELECT false, NULL, workspace_id, reverted_at FROM merges"
        " WHERE winner_id = $k",
        {"k": contact_id},
    ).fetchall()
    exists, merged_into, merged_in = False, None, False
    for is_contact, into, ws, ended in rows:
        if ws != workspace_id or ended is not None:
            continue
        if is_contact:
            exists, merged_into = True, None if into is None else int(into)
        else:
            merged_in = True
    return exists, merged_into, merged_in


def has_merged_in(cur: Any, workspace_id: str, contact_id: int) -> bool:
    """Whether any contact is merged into this one (unreverted): the first step of
    ``identity.timeline_contact_ids``, a plain scan of ``merges`` instead of its recursive
    query (~0.4 instead of ~1 ms), so the common unmerged contact skips the recursion."""
    rows = cur.execute(
        "SELECT count(*) FROM merges WHERE workspace_id = ? AND winner_id = ?"
        " AND reverted_at IS NULL",
        [workspace_id, contact_id],
    ).fetchall()
    return bool(rows[0][0])


def _timeline_rows(
    cur: Any,
    workspace_id: str,
    ids: Sequence[int],
    limit: int,
    before: tuple[datetime, str] | None,
    *,
    by_workspace: bool,
) -> list[tuple[Any, ...]]:
    cols = ", ".join(EVENT_FIELDS)
    where = "workspace_id = ? AND contact_id = ?" if by_workspace else "contact_id = ?"
    after = ""
    cursor_params: list[Any] = []
    if before is not None:
        after = " AND (timestamp < ? OR (timestamp = ? AND message_id < ?))"
        cursor_params = [before[0], before[0], before[1]]
    branch = f"SELECT workspace_id, {cols} FROM {{tier}} WHERE {where}{after}"
    branches, params = [], []
    for cid in ids:
        for tier in ("events", "events_l1", "events_l1_runs", "events_recent"):
            branches.append(branch.format(tier=tier))
            params += [*([workspace_id] if by_workspace else []), cid, *cursor_params]
    rows: list[tuple[Any, ...]] = cur.execute(
        f"SELECT * FROM ({' UNION ALL '.join(branches)})"
        " ORDER BY timestamp DESC, message_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return rows


def timeline(
    cur: Any,
    workspace_id: str,
    ids: Sequence[int],
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of the contacts, newest first, after the cursor ``before``.

    Each tier's branch filters by the contact id alone (one filter is cheaper to plan and
    to evaluate per row group than two: ~10% of the page); contact ids are unique across
    workspaces, so the workspace check on the rows returned only ever passes — should it
    not, the page is read again with the workspace in the filter.
    """
    rows = _timeline_rows(cur, workspace_id, ids, limit, before, by_workspace=False)
    if any(r[0] != workspace_id for r in rows):
        rows = _timeline_rows(cur, workspace_id, ids, limit, before, by_workspace=True)
    return [_event(r[1:]) for r in rows]


def _event(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(EVENT_FIELDS, row, strict=True))
    for key in JSON_EVENT_FIELDS:
        out[key] = parse_json(out[key]) or {}
    return out


def fold_figures(
    rows: Sequence[tuple[datetime | None, Sequence[str | None], Sequence[int]]],
) -> tuple[datetime | None, list[tuple[str, float]]]:
    """``(last_at, categories, views)`` rows → newest time and views per category.

    >>> fold_figures([(None, ["a", None], [2, 1]), (5, ["a"], [1]), (3, [], [])])
    (5, [('a', 3.0)])
    """
    last = max((r[0] for r in rows if r[0] is not None), default=None)
    views: dict[str, float] = {}
    for _, categories, counts in rows:
        for category, n in zip(categories, counts, strict=True):
            if category is not None and n:
                views[category] = views.get(category, 0.0) + n
    return last, list(views.items())


def lines_of(cur: Any, workspace_id: str, order_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Order lines with their category (the line's, else the product's last category).

    One branch per order whose only filter is the order id (an index probe, as for the
    profile's reads); the product is read only for lines without a category of their own
    (a join with ``products`` planned and built a hash table every time: ~1.4 ms).
    """
    if not order_ids:
        return []
    branch = (
        "SELECT workspace_id, order_id, sku, category, quantity, price, returned_quantity"
        " FROM order_items WHERE order_id = ?"
    )
    rows = cur.execute(" UNION ALL ".join([branch] * len(order_ids)), list(order_ids)).fetchall()
    rows = [r for r in rows if r[0] == workspace_id]
    missing = sorted({r[2] for r in rows if r[3] is None})
    from_products = product_categories(cur, workspace_id, missing) if missing else {}
    return [
        {
            "order_id": r[1],
            "category": from_products.get(r[2]) if r[3] is None else r[3],
            "quantity": r[4],
            "price": r[5],
            "returned_quantity": r[6],
        }
        for r in rows
    ]


def product_categories(cur: Any, workspace_id: str, skus: Sequence[str]) -> dict[str, str | None]:
    """Each product's last category (``category_path[-1]``), for the skus it knows."""
    rows = cur.execute(
        "SELECT sku, category_path[-1] FROM products"
        " WHERE workspace_id = ? AND sku IN (SELECT unnest(?::VARCHAR[]))",
        [workspace_id, list(skus)],
    ).fetchall()
    return {str(r[0]): r[1] for r in rows}


@dataclass(frozen=True, slots=True)
class Head:
    """The contact row and what decides the rest of the profile's reads."""

    row: dict[str, Any]
    merged_into: int | None
    has_merged_in: bool


# One row per fact, tagged by kind, in shared columns (a union of plain scans costs ~20%
# less than list-aggregating subqueries): w the row's workspace; a–e text (the contact
# row: erased_at, language, time zone, attributes and provenance as JSON text); t1, t2, t3
# times; n a number; amount; cats/views the summary's lists. Every column and every NULL
# is bound and typed on each execution, so the union is kept narrow.
#
# Each branch filters by the contact id alone: DuckDB probes an ART index only for a
# scan whose one filter is the indexed column's equality (identities, consents, orders,
# the contact's primary key), and a lone filter plans cheaper anyway. The workspace (and
# for the contact row, erasure) is checked on the few rows that come back (``_read``).
# Planning dominated the statement: with a MATERIALIZED CTE per probe and the filters in
# SQL it cost ~2.5 ms of CPU to bind and optimize, more than reading the rows.
_COLUMNS = ("kind", "w", "a", "b", "c", "d", "e", "t1", "t2", "t3", "n", "amount", "cats",
            "views")  # fmt: skip
CONTACT, MERGED_IN, IDENTITY, CONSENT, ORDER, SUMMARY, RECENT = range(7)
_HEAD = (
    f"SELECT {CONTACT} AS kind, workspace_id AS w, erased_at::VARCHAR AS a, language AS b,"
    " timezone AS c, attributes::VARCHAR AS d, provenance::VARCHAR AS e, created_at AS t1,"
    " updated_at AS t2, last_seen_at AS t3, merged_into AS n, NULL AS amount, NULL AS cats,"
    " NULL AS views FROM contacts WHERE id = $k0"
    f" UNION ALL SELECT {MERGED_IN}, $ws, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " count(*), NULL, NULL, NULL FROM merges"
    " WHERE workspace_id = $ws AND winner_id = $k0 AND reverted_at IS NULL"
)
_PER_ID = (
    f"SELECT {IDENTITY}, workspace_id, type, value, NULL, NULL, NULL, first_seen, last_seen,"
    " NULL, NULL, NULL, NULL, NULL FROM identities WHERE contact_id = $k{j}",
    f"SELECT {CONSENT}, workspace_id, channel, topic, status, source, NULL, changed_at, NULL,"
    " NULL, rowid, NULL, NULL, NULL FROM consents WHERE contact_id = $k{j}",
    f"SELECT {ORDER}, workspace_id, order_id, status, NULL, NULL, NULL, placed_at, NULL, NULL,"
    " NULL, coalesce(revenue, total), NULL, NULL FROM orders WHERE contact_id = $k{j}",
    # Events: L1 ∪ L2 from their summary, L0 from its rows (storage/duckdb/event_summary).
    f"SELECT {SUMMARY}, workspace_id, NULL, NULL, NULL, NULL, NULL, last_at, NULL, NULL, NULL,"
    " NULL, categories, views FROM event_summary WHERE contact_id = $k{j}",
    f"SELECT {RECENT}, workspace_id, CASE WHEN event = 'Product Viewed'"
    " THEN properties ->> 'category' END, NULL, NULL, NULL, NULL, timestamp, NULL, NULL,"
    " CAST(event = 'Product Viewed' AS BIGINT), NULL, NULL, NULL"
    " FROM events_recent WHERE contact_id = $k{j}",
)


def profile_sql(n: int) -> str:
    """The one statement for ``n`` contact ids (``$k0``…; the first one's row), workspace
    ``$ws``.

    >>> sql = profile_sql(2)
    >>> sql.count("UNION ALL"), "$k1" in sql, "MATERIALIZED" in sql
    (11, True, False)
    """
    parts = [_HEAD, *(part.format(j=j) for j in range(n) for part in _PER_ID)]
    return " UNION ALL ".join(parts)


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything the profile reads, for the contacts ``ids`` (the live one first)."""

    head: Head
    ids: list[int]
    identifiers: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    last_activity: Any
    viewed: list[tuple[str, float]]


MergedIds = Callable[[Any, str, int], list[int]]


def read_profile(
    cur: Any, workspace_id: str, contact_id: int, merged_ids: MergedIds
) -> Profile | None:
    """The profile of the live contact for ``contact_id`` (None: unknown or erased).

    Usually one statement: a contact that was merged away, or that others were merged
    into, takes a second one (``merged_ids`` gives every contact merged into a live one).
    """
    profile = _read(cur, workspace_id, [contact_id])
    if profile is None:
        return None
    head = profile.head
    if head.merged_into is not None:
        live = live_contact_id(cur, workspace_id, head.merged_into)
        return read_profile(cur, workspace_id, live, merged_ids) if live is not None else None
    if head.has_merged_in:
        merged = merged_ids(cur, workspace_id, contact_id)
        ids = [contact_id, *sorted(i for i in set(merged) if i != contact_id)]
        return _read(cur, workspace_id, ids)
    return profile


def _read(cur: Any, workspace_id: str, ids: list[int]) -> Profile | None:
    params: dict[str, Any] = {"ws": workspace_id}
    params.update({f"k{j}": cid for j, cid in enumerate(ids)})
    by_kind: dict[int, list[tuple[Any, ...]]] = {}
    for kind, w, *row in cur.execute(profile_sql(len(ids)), params).fetchall():
        if w == workspace_id:
            by_kind.setdefault(kind, []).append((kind, *row))
    heads = [r for r in by_kind.get(CONTACT, []) if r[1] is None]  # not erased
    if not heads:
        return None
    ((_, *r),) = heads
    merged_in = bool(by_kind[MERGED_IN][0][9])
    identifiers = [
        {"type": r[1], "value": r[2], "first_seen": r[6], "last_seen": r[7]}
        for r in by_kind.get(IDENTITY, [])
    ]
    identifiers.sort(key=lambda x: x["value"])
    identifiers.sort(key=lambda x: x["last_seen"], reverse=True)
    identifiers.sort(key=lambda x: x["type"])
    changes = sorted(by_kind.get(CONSENT, []), key=lambda r: (r[6], r[9]))
    consents = [
        {"channel": r[1], "topic": r[2], "status": r[3], "source": r[4], "changed_at": r[6]}
        for r in changes
    ]
    orders = [
        {"order_id": r[1], "status": r[2], "amount": r[10], "placed_at": r[6]}
        for r in by_kind.get(ORDER, [])
    ]
    figures = [(r[6], r[11], r[12]) for r in by_kind.get(SUMMARY, [])]
    figures += [(r[6], [r[1]], [r[9]]) for r in by_kind.get(RECENT, [])]
    last, viewed = fold_figures(figures)
    # The lines in the same statement cost more than this second one: there DuckDB scanned
    # order_items instead of probing its index with the order ids.
    lines = lines_of(cur, workspace_id, [o["order_id"] for o in orders]) if orders else []
    head = _head(ids[0], r, merged_in)
    return Profile(head, ids, identifiers, consents, orders, lines, last, viewed)


def _head(contact_id: int, r: list[Any], merged_in: bool) -> Head:
    """The contact's row from its ``CONTACT`` row (``r`` without the kind)."""
    row = {
        "id": contact_id,
        "created_at": r[5],
        "updated_at": r[6],
        "last_seen_at": r[7],
        "attributes": parse_json(r[3]) or {},
        "provenance": parse_json(r[4]) or {},
        "language": r[1],
        "timezone": r[2],
    }
    merged_into = r[8]
    return Head(row, int(merged_into) if merged_into is not None else None, merged_in)
