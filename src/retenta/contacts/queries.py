"""Read-side SQL of the profile. Every query is scoped by workspace and, where a contact
is involved, by contact id, so DuckDB prunes by zone maps or probes an ART index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from retenta.contacts import prepared
from retenta.contacts.traits import display_name
from retenta.storage.duckdb.tier_members import BITMAP_OF, EVENT_TABLES, L1_RUNS, L1_TIER, MERGES

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
# L2, L1 (its sorted passes and its flush runs), L0 (storage/duckdb/compaction)
EVENT_TIERS = EVENT_TABLES
# ``Database.read_together``: independent reads side by side, as one snapshot.
Together = Callable[[Sequence[Callable[[Any], Any]]], list[Any]]
LIST_ID_TYPES = ("email", "phone", "external_id")
MAX_MERGE_HOPS = 64
# Statements with one branch per contact (or order) are prepared for up to this many
# (``contacts/prepared.py``); longer ones, rare, are planned from their text each time.
MAX_PREPARED_BRANCHES = 4


def parse_json(value: Any) -> Any:
    """DuckDB returns JSON columns as text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def per_contact(sql: str, workspace_id: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``sql`` (``workspace_id = ?`` then ``contact_id = {cid}``) once per id, as UNION ALL.

    One equality per branch lets each branch prune to the contact's row groups (or probe
    an index); an IN list would not.

    >>> sql, params = per_contact("SELECT 1 FROM t WHERE w = ? AND c = {cid}", "ws", [5, 6])
    >>> sql.count("UNION ALL"), params
    (1, ['ws', 5, 'ws', 6])
    """
    branches = [sql.format(cid="?") for _ in ids]
    params: list[Any] = []
    for cid in ids:
        params += [workspace_id, cid]
    return " UNION ALL ".join(branches), params


def probe(table: str, column: str, columns: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """Rows of ``table`` whose ``column`` equals one of ``keys``, through its ART index.

    DuckDB 2.0 probes an index only when the indexed column's equality is the scan's only
    filter, so each key is probed in its own MATERIALIZED CTE (no filter is pushed into
    it) and the caller filters the union further.

    >>> sql, params = probe("orders", "contact_id", "order_id", [7, 9])
    >>> sql.count("MATERIALIZED"), params
    (2, [7, 9])
    """
    if not keys:
        return f"SELECT {columns} FROM {table} WHERE false", []
    ctes = ", ".join(
        f"p{n} AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {column} = ?)"
        for n in range(len(keys))
    )
    union = " UNION ALL ".join(f"SELECT * FROM p{n}" for n in range(len(keys)))
    return f"WITH {ctes} {union}", list(keys)


def find_contact(cur: Any, workspace_id: str, id_type: str, value: str) -> int | None:
    """The live contact holding a normalized identifier (an index probe, ~1 ms at 1M)."""
    found = holder_of(cur, workspace_id, id_type, value)
    return live_contact_id(cur, workspace_id, found) if found is not None else None


def holder_of(cur: Any, workspace_id: str, id_type: str, value: str) -> int | None:
    """The contact an identity row names (maybe merged away since: see ``find_contact``).

    The value's equality is the statement's only filter, so DuckDB probes its index; the
    few rows sharing a value (other types, other workspaces) are told apart here. A plain
    statement plans in about half the time of ``probe``'s CTE with a filter around it.
    """
    rows = prepared.execute(
        cur,
        "retenta_holder_of",
        "SELECT workspace_id, type, contact_id FROM identities WHERE value = $1",
        [value],
    ).fetchall()
    found = [int(r[2]) for r in rows if r[0] == workspace_id and r[1] == id_type]
    return found[0] if found else None


def holders_of(cur: Any, workspace_id: str, wanted: Sequence[tuple[str, str]]) -> list[int]:
    """The contacts that hold any of the normalized ``(type, value)`` identifiers, in the
    order asked (merged-away ones included: see ``live_contact_id``). One statement, a
    branch per distinct value, each probing the value index alone (``holder_of``).

    >>> holders_of(None, "ws", [])
    []
    """
    values = sorted({value for _, value in wanted})
    if not values:
        return []
    branch = "SELECT workspace_id, type, value, contact_id FROM identities WHERE value = ?"
    rows = cur.execute(" UNION ALL ".join([branch] * len(values)), values).fetchall()
    held = {(r[1], r[2]): int(r[3]) for r in rows if r[0] == workspace_id}
    return [held[key] for key in wanted if key in held]


def live_contact_id(cur: Any, workspace_id: str, contact_id: int) -> int | None:
    """Follow ``merged_into`` from ``contact_id`` to the live contact (None if unknown).

    The id is each read's only filter, so DuckDB probes the primary key's index instead of
    scanning a row group (~0.55 instead of ~0.8 ms); workspace and erasure are checked here.
    """
    current = contact_id
    for _ in range(MAX_MERGE_HOPS):
        row = prepared.execute(
            cur,
            "retenta_contact_link",
            "SELECT merged_into, workspace_id, erased_at FROM contacts WHERE id = $1",
            [current],
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
    rows = prepared.execute(
        cur,
        "retenta_liveness",
        "SELECT true, merged_into, workspace_id, erased_at FROM contacts WHERE id = $1"
        " UNION ALL SELECT false, NULL, workspace_id, reverted_at FROM merges"
        " WHERE winner_id = $1",
        [contact_id],
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


def contact_row(cur: Any, workspace_id: str, contact_id: int) -> dict[str, Any] | None:
    row = cur.execute(
        "SELECT id, created_at, updated_at, last_seen_at, attributes, provenance, language,"
        " timezone FROM contacts WHERE id = ? AND workspace_id = ?",
        [contact_id, workspace_id],
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "created_at", "updated_at", "last_seen_at", "attributes", "provenance")
    out = dict(zip(keys, row[:6], strict=True))
    out["attributes"] = parse_json(out["attributes"]) or {}
    out["provenance"] = parse_json(out["provenance"]) or {}
    out["language"], out["timezone"] = row[6], row[7]
    return out


def identifiers(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    keys = ("type", "value", "first_seen", "last_seen")
    sql, params = probe("identities", "contact_id", f"workspace_id, {', '.join(keys)}", ids)
    rows = cur.execute(
        f"SELECT {', '.join(keys)} FROM ({sql}) WHERE workspace_id = ?"
        " ORDER BY type, last_seen DESC, value",
        [*params, workspace_id],
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def consent_history(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every consent change of the contacts, in recording order."""
    keys = ("channel", "topic", "status", "source", "changed_at")
    cols = f"workspace_id, {', '.join(keys)}, rowid AS seq"
    sql, params = probe("consents", "contact_id", cols, ids)
    rows = cur.execute(
        f"SELECT {', '.join(keys)} FROM ({sql}) WHERE workspace_id = ? ORDER BY changed_at, seq",
        [*params, workspace_id],
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def timeline(
    cur: Any,
    workspace_id: str,
    ids: Sequence[int],
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of the contacts, newest first, after the cursor ``before``,
    from every event tier but those in ``skip`` (``Database.probe_event_tiers``).

    Each tier's branch filters by the contact id alone (one filter is cheaper to plan and
    to evaluate per row group than two: ~10% of the page); contact ids are unique across
    workspaces, so the workspace check on the rows returned only ever passes — should it
    not, the page is read again with the workspace in the filter.
    """
    tiers = tiers_to_read(skip)
    rows = _timeline_rows(cur, workspace_id, ids, limit, before, tiers, by_workspace=False)
    if any(r[0] != workspace_id for r in rows):
        rows = _timeline_rows(cur, workspace_id, ids, limit, before, tiers, by_workspace=True)
    return [_event(r[1:]) for r in rows]


def _timeline_rows(
    cur: Any,
    workspace_id: str,
    ids: Sequence[int],
    limit: int,
    before: tuple[datetime, str] | None,
    tiers: tuple[str, ...],
    *,
    by_workspace: bool,
) -> list[tuple[Any, ...]]:
    cols = ", ".join(EVENT_FIELDS)
    if before is None and not by_workspace and len(ids) <= MAX_PREPARED_BRANCHES:
        return _first_page_rows(cur, cols, ids, limit, tiers)
    where = "workspace_id = ? AND contact_id = ?" if by_workspace else "contact_id = ?"
    after = ""
    cursor_params: list[Any] = []
    if before is not None:
        after = " AND (timestamp < ? OR (timestamp = ? AND message_id < ?))"
        cursor_params = [before[0], before[0], before[1]]
    branch = f"SELECT workspace_id, {cols} FROM {{tier}} WHERE {where}{after}"
    branches, params = [], []
    for cid in ids:
        for tier in tiers:
            branches.append(branch.format(tier=tier))
            params += [*([workspace_id] if by_workspace else []), cid, *cursor_params]
    rows: list[tuple[Any, ...]] = cur.execute(
        f"SELECT * FROM ({' UNION ALL '.join(branches)})"
        " ORDER BY timestamp DESC, message_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return rows


def _first_page_rows(
    cur: Any, cols: str, ids: Sequence[int], limit: int, tiers: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """``_timeline_rows`` of a first page (no cursor, contact id the only filter), as a
    prepared statement: ``$1`` the limit, ``$2``… the contact ids."""
    branches = [
        f"SELECT workspace_id, {cols} FROM {tier} WHERE contact_id = ${j + 2}"
        for j in range(len(ids))
        for tier in tiers
    ]
    sql = (
        f"SELECT * FROM ({' UNION ALL '.join(branches)})"
        " ORDER BY timestamp DESC, message_id DESC LIMIT $1"
    )
    name = f"retenta_first_page_{len(ids)}{_tiers_suffix(tiers)}"
    rows: list[tuple[Any, ...]] = prepared.execute(cur, name, sql, [limit, *ids]).fetchall()
    return rows


def live_first_page(
    cur: Any,
    workspace_id: str,
    contact_id: int,
    *,
    limit: int,
    skip: frozenset[str] = frozenset(),
    together: Together | None = None,
) -> list[dict[str, Any]] | None:
    """The first page of a live contact that has nothing merged into it — the common case —
    in one statement: the page of ``_first_page_rows`` and, beside it, what ``liveness``
    reads (the contact row, the merges naming it as winner), told apart by their NULL
    ``message_id`` (an event's is never NULL). None when the contact is not that case
    (unknown, erased, another workspace's, merged away or merged into) or a row of another
    workspace came back: the caller then reads the page the general way. One statement
    instead of two saves ~0.2 ms p50, ~0.5 ms p99 of CPU (session 9).

    A *plain* contact (``MERGES`` in ``skip``: no merge ever named it, its row was never
    marked merged or erased) needs no liveness rows when its page holds events and all of
    them are the workspace's: they prove the contact exists there (erasure deletes a
    person's events with the row), and nothing else is merged into it. Those two branches
    were ~1.1 ms of the statement (session 19). An empty page is read again with them.

    With ``together`` (``Database.read_together``), a contact that may have events in L1
    has L1's part read beside the rest, on the other core: L1's straddling row groups were
    the longest part of its page (in process, for contacts in L1: p50 7.64 → 6.59 ms, p99
    11.04 → 9.99, session 19).
    """
    tiers = tiers_to_read(skip)
    if MERGES in skip:
        rows = _page_rows(cur, tiers, limit, contact_id, together, liveness=False)
        if rows and all(r[0] == workspace_id for r in rows):
            return _newest(rows, limit)
    rows = _page_rows(cur, tiers, limit, contact_id, together, liveness=True)
    events, live = [], False
    for row in rows:
        if row[1] is not None:
            events.append(row)
        elif row[0] == workspace_id and row[4] is None:  # not erased, not reverted
            if row[2] != "contact" or row[3] is not None:
                return None  # something is merged into it, or it was merged away
            live = True
    if not live or any(r[0] != workspace_id for r in events):
        return None
    return _newest(events, limit)


def _newest(events: list[tuple[Any, ...]], limit: int) -> list[dict[str, Any]]:
    """The page's events newest first. A UNION ALL does not keep its branches' order: sort
    as the page did (timestamp, then message id, descending; VARCHARs compare bytewise in
    DuckDB, as code points here)."""
    events.sort(key=lambda r: (r[4], r[1]), reverse=True)
    return [_event(r[1:]) for r in events[:limit]]


def _page_rows(
    cur: Any,
    tiers: tuple[str, ...],
    limit: int,
    contact_id: int,
    together: Together | None,
    *,
    liveness: bool,
) -> list[tuple[Any, ...]]:
    """The first page's rows over ``tiers`` (and the liveness rows), L1's beside the rest
    when ``together`` is given."""
    if together is not None and L1_TIER in tiers:
        rest = tuple(t for t in tiers if t not in (L1_TIER, L1_RUNS))
        page, beside = together(
            [
                lambda c: _live_page_rows(c, rest, limit, contact_id, liveness=liveness),
                lambda c: _l1_rows(c, limit, contact_id),
            ]
        )
        rows: list[tuple[Any, ...]] = page + beside
        return rows
    return _live_page_rows(cur, tiers, limit, contact_id, liveness=liveness)


def _live_page_rows(
    cur: Any, tiers: tuple[str, ...], limit: int, contact_id: int, *, liveness: bool = True
) -> list[tuple[Any, ...]]:
    """``live_first_page``'s statement over ``tiers``: the page's rows and, with
    ``liveness``, the liveness rows."""
    cols = ", ".join(EVENT_FIELDS)
    page = " UNION ALL ".join(
        f"SELECT workspace_id, {cols} FROM {tier} WHERE contact_id = $2" for tier in tiers
    )
    # The page as a parenthesized operand, without ``SELECT *`` around it: ~0.5 ms less a
    # page at p50 in process (session 18: 6.0–7.0 against 6.7–7.8 ms over four rounds; over
    # HTTP within the noise).
    sql = f"({page} ORDER BY timestamp DESC, message_id DESC LIMIT $1)"
    if liveness:
        sql += (
            " UNION ALL SELECT workspace_id, NULL, 'contact', merged_into::VARCHAR,"
            " erased_at, NULL, NULL, NULL, NULL, NULL FROM contacts WHERE id = $2"
            " UNION ALL SELECT workspace_id, NULL, 'merge', NULL, reverted_at, NULL, NULL, NULL,"
            " NULL, NULL FROM merges WHERE winner_id = $2"
        )
    kind = "live_first_page" if liveness else "plain_first_page"
    name = f"retenta_{kind}{_tiers_suffix(tiers)}"
    rows: list[tuple[Any, ...]] = prepared.execute(cur, name, sql, [limit, contact_id]).fetchall()
    return rows


def _tier_top_rows(cur: Any, tier: str, limit: int, contact_id: int) -> list[tuple[Any, ...]]:
    """The newest ``limit`` events of one contact in one tier."""
    cols = ", ".join(EVENT_FIELDS)
    sql = (
        f"SELECT workspace_id, {cols} FROM {tier} WHERE contact_id = $2"
        " ORDER BY timestamp DESC, message_id DESC LIMIT $1"
    )
    rows: list[tuple[Any, ...]] = prepared.execute(
        cur, f"retenta_top_{tier}", sql, [limit, contact_id]
    ).fetchall()
    return rows


# A contact's rows in L1's runs are read unsorted while fewer than this (``_l1_rows``).
L1_PROBE_CAP = 1_000


def _l1_rows(cur: Any, limit: int, contact_id: int) -> list[tuple[Any, ...]]:
    """The contact's newest ``limit`` events in L1's sorted part and its events in L1's runs,
    unsorted (the caller sorts the page: ``_newest``).

    The runs are found through their index (migration 0050), without ``ORDER BY … LIMIT``:
    its Top-N pushes a dynamic filter on the timestamp into the scan, and DuckDB then scans
    instead of probing (p50 ~4.4 against ~2.1 ms for 1M rows, session 20). A contact with
    ``L1_PROBE_CAP`` rows there or more gets its newest ``limit`` the ordered way. The
    sorted part is read the ordered way: zone maps keep a row group or two of it."""
    cols = ", ".join(EVENT_FIELDS)
    sql = f"SELECT workspace_id, {cols} FROM {L1_RUNS} WHERE contact_id = $2 LIMIT $1"
    found = prepared.execute(cur, "retenta_l1_runs", sql, [L1_PROBE_CAP, contact_id])
    runs: list[tuple[Any, ...]] = found.fetchall()
    if len(runs) >= L1_PROBE_CAP:
        runs = _tier_top_rows(cur, L1_RUNS, limit, contact_id)
    return runs + _tier_top_rows(cur, L1_TIER, limit, contact_id)


def tiers_to_read(skip: frozenset[str]) -> tuple[str, ...]:
    """The event tables, oldest first, but those of the tiers in ``skip`` (L1's runs go
    with L1: ``tier_members.BITMAP_OF``).

    >>> tiers_to_read(frozenset({"events_l1"}))
    ('events', 'events_recent')
    >>> tiers_to_read(frozenset({"events_recent"}))
    ('events', 'events_l1', 'events_l1_runs')
    """
    return tuple(t for t in EVENT_TIERS if BITMAP_OF.get(t, t) not in skip)


def _tiers_suffix(tiers: tuple[str, ...]) -> str:
    """Part of a prepared statement's name: which tables it reads (empty for all)."""
    return "" if tiers == EVENT_TIERS else "_" + "_".join(tiers)


def _event(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(EVENT_FIELDS, row, strict=True))
    for key in JSON_EVENT_FIELDS:
        out[key] = parse_json(out[key]) or {}
    return out


def event_figures(
    cur: Any, workspace_id: str, ids: Sequence[int]
) -> tuple[datetime | None, list[tuple[str, float]]]:
    """The newest event's time and product views per category (``properties.category``).

    L1 and L2 are read through their per-contact summary (``event_summary``: no JSON, one
    or two row groups), L0 (small) from its events; see ``storage/duckdb/event_summary``.
    """
    summary = (
        "SELECT last_at, categories, views FROM event_summary"
        " WHERE workspace_id = ? AND contact_id = ?"
    )
    recent = (
        "SELECT timestamp, CASE WHEN event = 'Product Viewed'"
        " THEN [properties ->> 'category'] ELSE [] END, CASE WHEN event = 'Product Viewed'"
        " THEN [1::BIGINT] ELSE [] END FROM events_recent WHERE workspace_id = ? AND contact_id = ?"
    )
    branches, params = [], []
    for cid in ids:
        branches += [summary, recent]
        params += [workspace_id, cid, workspace_id, cid]
    rows = cur.execute(" UNION ALL ".join(branches), params).fetchall()
    return fold_figures(rows)


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


def orders_of(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The contacts' orders: id, status, amount and time."""
    keys = ("order_id", "status", "amount", "placed_at")
    cols = "workspace_id, order_id, status, coalesce(revenue, total) AS amount, placed_at"
    sql, params = probe("orders", "contact_id", cols, ids)
    rows = cur.execute(
        f"SELECT {', '.join(keys)} FROM ({sql}) WHERE workspace_id = ?", [*params, workspace_id]
    ).fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


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
        " FROM order_items WHERE order_id = {p}"
    )
    if len(order_ids) <= MAX_PREPARED_BRANCHES:
        sql = " UNION ALL ".join(branch.format(p=f"${j + 1}") for j in range(len(order_ids)))
        name = f"retenta_order_lines_{len(order_ids)}"
        rows = prepared.execute(cur, name, sql, list(order_ids)).fetchall()
    else:
        sql = " UNION ALL ".join([branch.format(p="?")] * len(order_ids))
        rows = cur.execute(sql, list(order_ids)).fetchall()
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


def list_rows(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """List items for contact ids (newest id first), with their main identifiers."""
    if not ids:
        return []
    rows = cur.execute(
        "SELECT id, created_at, last_seen_at, attributes FROM contacts"
        " WHERE workspace_id = ? AND id IN (SELECT unnest(?::BIGINT[])) ORDER BY id DESC",
        [workspace_id, list(ids)],
    ).fetchall()
    found = main_identifiers(cur, workspace_id, ids)
    return [
        {
            "id": r[0],
            **{t: found.get((r[0], t)) for t in LIST_ID_TYPES},
            "name": display_name(parse_json(r[3]) or {}),
            "last_seen_at": r[2],
            "created_at": r[1],
        }
        for r in rows
    ]


def main_identifiers(cur: Any, workspace_id: str, ids: Sequence[int]) -> dict[tuple[int, str], str]:
    """The most recently seen email, phone and external id of each contact."""
    sql, params = probe(
        "identities", "contact_id", "workspace_id, contact_id, type, value, last_seen", ids
    )
    rows = cur.execute(
        f"SELECT contact_id, type, arg_max(value, last_seen) FROM ({sql})"
        " WHERE workspace_id = ? AND type IN ('email', 'phone', 'external_id') GROUP BY ALL",
        [*params, workspace_id],
    ).fetchall()
    return {(int(r[0]), str(r[1])): str(r[2]) for r in rows}


def page_of_ids(cur: Any, workspace_id: str, *, before: int | None, limit: int) -> list[int]:
    """Live contacts, newest first, with ids below ``before``."""
    rows = cur.execute(
        "SELECT id FROM contacts WHERE workspace_id = ? AND merged_into IS NULL"
        " AND erased_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?",
        [workspace_id, before if before is not None else 2**62, limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def prefix_ids(
    cur: Any, workspace_id: str, prefix: str, *, names: bool, before: int | None, limit: int
) -> list[int]:
    """Live contacts whose email (or, with ``names``, name) starts with ``prefix``.

    Case-insensitive; a scan (an ART index is not probed for ranges), so the exact
    identifier match is tried first by the caller.
    """
    name_hits = (
        " UNION SELECT id FROM contacts WHERE workspace_id = $ws AND list_bool_or("
        "[starts_with(lower(attributes ->> k), $p)"
        " FOR k IN ['name', 'first_name', 'firstName', 'last_name', 'lastName']])"
        if names
        else ""
    )
    rows = cur.execute(
        f"""
        WITH hits AS (
            SELECT contact_id AS id FROM identities
            WHERE workspace_id = $ws AND type = 'email' AND starts_with(value, $p){name_hits}
        )
        SELECT c.id FROM hits JOIN contacts c ON c.id = hits.id
        WHERE c.workspace_id = $ws AND c.merged_into IS NULL AND c.erased_at IS NULL
          AND c.id < $before
        ORDER BY c.id DESC LIMIT $limit
        """,
        {
            "ws": workspace_id,
            "p": prefix.lower(),
            "before": before if before is not None else 2**62,
            "limit": limit,
        },
    ).fetchall()
    return [int(r[0]) for r in rows]
