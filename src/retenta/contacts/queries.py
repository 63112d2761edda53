"""Read-side SQL of the profile. Every query is scoped by workspace and, where a contact
is involved, by contact id, so DuckDB prunes by zone maps or probes an ART index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from retenta.contacts.traits import display_name

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
LIST_ID_TYPES = ("email", "phone", "external_id")
MAX_MERGE_HOPS = 64


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


def live_contact_id(cur: Any, workspace_id: str, contact_id: int) -> int | None:
    """Follow ``merged_into`` from ``contact_id`` to the live contact (None if unknown)."""
    current = contact_id
    for _ in range(MAX_MERGE_HOPS):
        row = cur.execute(
            "SELECT merged_into FROM contacts WHERE id = ? AND workspace_id = ?"
            " AND erased_at IS NULL",
            [current, workspace_id],
        ).fetchone()
        if row is None:
            return None
        if row[0] is None:
            return current
        current = int(row[0])
    return None


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
    sql, params = per_contact(
        "SELECT type, value, first_seen, last_seen FROM identities"
        " WHERE workspace_id = ? AND contact_id = {cid}",
        workspace_id,
        ids,
    )
    rows = cur.execute(
        f"SELECT * FROM ({sql}) ORDER BY type, last_seen DESC, value", params
    ).fetchall()
    keys = ("type", "value", "first_seen", "last_seen")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def consent_history(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every consent change of the contacts, in recording order."""
    rows = cur.execute(
        "SELECT channel, topic, status, source, changed_at FROM consents"
        " WHERE workspace_id = ? AND contact_id IN (SELECT unnest(?::BIGINT[]))"
        " ORDER BY changed_at, rowid",
        [workspace_id, list(ids)],
    ).fetchall()
    keys = ("channel", "topic", "status", "source", "changed_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def timeline(
    cur: Any,
    workspace_id: str,
    ids: Sequence[int],
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of the contacts, newest first, after the cursor ``before``."""
    cols = ", ".join(EVENT_FIELDS)
    after = ""
    cursor_params: list[Any] = []
    if before is not None:
        after = " AND (timestamp < ? OR (timestamp = ? AND message_id < ?))"
        cursor_params = [before[0], before[0], before[1]]
    branch = f"SELECT {cols} FROM {{tier}} WHERE workspace_id = ? AND contact_id = ?{after}"
    branches, params = [], []
    for cid in ids:
        for tier in ("events", "events_l1", "events_recent"):
            branches.append(branch.format(tier=tier))
            params += [workspace_id, cid, *cursor_params]
    rows = cur.execute(
        f"SELECT * FROM ({' UNION ALL '.join(branches)})"
        " ORDER BY timestamp DESC, message_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_event(r) for r in rows]


def _event(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(EVENT_FIELDS, row, strict=True))
    for key in JSON_EVENT_FIELDS:
        out[key] = parse_json(out[key]) or {}
    return out


def last_activity(cur: Any, workspace_id: str, ids: Sequence[int]) -> datetime | None:
    sql, params = per_contact(
        "SELECT max(timestamp) AS last_at FROM all_events"
        " WHERE workspace_id = ? AND contact_id = {cid}",
        workspace_id,
        ids,
    )
    row = cur.execute(f"SELECT max(last_at) FROM ({sql})", params).fetchone()
    return row[0] if row else None


def order_figures(cur: Any, workspace_id: str, ids: Sequence[int]) -> dict[str, Any]:
    """Orders (not cancelled), revenue net of returns, first and last order."""
    row = cur.execute(
        """
        WITH o AS (
            SELECT order_id, status, coalesce(revenue, total) AS amount, placed_at
            FROM orders WHERE workspace_id = ? AND contact_id IN (SELECT unnest(?::BIGINT[]))
              AND status <> 'cancelled'
        ), items AS (
            SELECT i.order_id, sum(i.price * greatest(i.quantity - i.returned_quantity, 0)) AS net
            FROM order_items i JOIN o USING (order_id)
            WHERE i.workspace_id = ? GROUP BY i.order_id
        )
        SELECT count(*), sum(CASE WHEN items.net IS NOT NULL THEN items.net
                                  WHEN o.status = 'returned' THEN 0 ELSE o.amount END),
               min(o.placed_at), max(o.placed_at)
        FROM o LEFT JOIN items USING (order_id)
        """,
        [workspace_id, list(ids), workspace_id],
    ).fetchone()
    return {"orders": row[0], "revenue": row[1], "first": row[2], "last": row[3]}


def purchased_categories(
    cur: Any, workspace_id: str, ids: Sequence[int]
) -> list[tuple[str, float]]:
    """Units bought per category, net of returns (the item's category, else the product's)."""
    rows = cur.execute(
        """
        SELECT coalesce(i.category, p.category_path[-1]) AS category,
               sum(greatest(i.quantity - i.returned_quantity, 0)) AS units
        FROM orders o
        JOIN order_items i ON i.workspace_id = o.workspace_id AND i.order_id = o.order_id
        LEFT JOIN products p ON p.workspace_id = i.workspace_id AND p.sku = i.sku
        WHERE o.workspace_id = ? AND o.contact_id IN (SELECT unnest(?::BIGINT[]))
          AND o.status <> 'cancelled'
        GROUP BY ALL
        """,
        [workspace_id, list(ids)],
    ).fetchall()
    return [(r[0], float(r[1] or 0)) for r in rows]


def viewed_categories(cur: Any, workspace_id: str, ids: Sequence[int]) -> list[tuple[str, float]]:
    """Product views per category, from the events' ``properties.category``."""
    sql, params = per_contact(
        "SELECT properties ->> 'category' AS category FROM all_events"
        " WHERE workspace_id = ? AND contact_id = {cid} AND event = 'Product Viewed'",
        workspace_id,
        ids,
    )
    rows = cur.execute(
        f"SELECT category, count(*) FROM ({sql}) WHERE category IS NOT NULL GROUP BY ALL", params
    ).fetchall()
    return [(r[0], float(r[1])) for r in rows]


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
    rows = cur.execute(
        "SELECT contact_id, type, arg_max(value, last_seen) FROM identities"
        " WHERE workspace_id = ? AND contact_id IN (SELECT unnest(?::BIGINT[]))"
        " AND type IN ('email', 'phone', 'external_id') GROUP BY ALL",
        [workspace_id, list(ids)],
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
    cur: Any, workspace_id: str, prefix: str, *, before: int | None, limit: int
) -> list[int]:
    """Live contacts whose email or name starts with ``prefix`` (case-insensitive)."""
    rows = cur.execute(
        """
        WITH hits AS (
            SELECT contact_id AS id FROM identities
            WHERE workspace_id = $ws AND type = 'email' AND starts_with(value, $p)
            UNION
            SELECT id FROM contacts
            WHERE workspace_id = $ws AND list_bool_or([starts_with(lower(attributes ->> k), $p)
                FOR k IN ['name', 'first_name', 'firstName', 'last_name', 'lastName']])
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
