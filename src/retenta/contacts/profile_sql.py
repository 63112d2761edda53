"""The whole profile in one statement (plus one for order lines, one for merged contacts).

Each DuckDB statement costs ~0.3–0.5 ms before it reads anything (parse, plan, pipeline
set-up, result conversion), and the profile used to issue eight, one of them a scan of
every event tier's JSON. Here one row comes back: the contact (with ``merged_into`` and
whether anything is merged into it, which decide whether a second read is needed), then
identifiers, consents, orders and the event figures as list columns, each
gathered through index probes (one ``MATERIALIZED`` CTE per key; see ``queries.probe``)
or a zone-map-pruned read (``event_summary``, ``storage/duckdb/event_summary.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retenta.contacts.queries import fold_figures, lines_of, live_contact_id, parse_json

ROW_KEYS = ("id", "created_at", "updated_at", "last_seen_at", "attributes", "provenance")


@dataclass(frozen=True, slots=True)
class Head:
    """The contact row and what decides the rest of the profile's reads."""

    row: dict[str, Any]
    merged_into: int | None
    has_merged_in: bool


_PROBES = {
    "i": "SELECT workspace_id, type, value, first_seen, last_seen FROM identities"
    " WHERE contact_id = ${k}",
    "c": "SELECT workspace_id, channel, topic, status, source, changed_at, rowid AS seq"
    " FROM consents WHERE contact_id = ${k}",
    "o": "SELECT workspace_id, order_id, status, coalesce(revenue, total) AS amount, placed_at"
    " FROM orders WHERE contact_id = ${k}",
}
_HEAD = (
    "(SELECT {{'id': id, 'created_at': created_at, 'updated_at': updated_at,"
    " 'last_seen_at': last_seen_at, 'attributes': attributes, 'provenance': provenance,"
    " 'language': language, 'timezone': timezone, 'merged_into': merged_into,"
    " 'has_merged_in': EXISTS (SELECT 1 FROM merges WHERE workspace_id = $ws"
    " AND winner_id = $k0 AND reverted_at IS NULL)}}"
    " FROM contacts WHERE id = $k0 AND workspace_id = $ws AND erased_at IS NULL)"
)
_LISTS = (
    "(SELECT list({{'type': type, 'value': value, 'first_seen': first_seen,"
    " 'last_seen': last_seen}} ORDER BY type, last_seen DESC, value) FROM ({i}) WHERE"
    " workspace_id = $ws)",
    "(SELECT list({{'channel': channel, 'topic': topic, 'status': status, 'source': source,"
    " 'changed_at': changed_at}} ORDER BY changed_at, seq) FROM ({c}) WHERE workspace_id = $ws)",
    "(SELECT list({{'order_id': order_id, 'status': status, 'amount': amount,"
    " 'placed_at': placed_at}}) FROM ({o}) WHERE workspace_id = $ws)",
    "(SELECT list({{'last_at': last_at, 'categories': categories, 'views': views}}) FROM ({e}))",
)
# Events: L1 ∪ L2 from their summary, L0 from its rows (see storage/duckdb/event_summary).
_SUMMARY = (
    "SELECT last_at, categories, views FROM event_summary"
    " WHERE workspace_id = $ws AND contact_id = ${k}"
)
_RECENT = (
    "SELECT timestamp, CASE WHEN event = 'Product Viewed' THEN [properties ->> 'category']"
    " ELSE [] END, CASE WHEN event = 'Product Viewed' THEN [1::BIGINT] ELSE [] END"
    " FROM events_recent WHERE workspace_id = $ws AND contact_id = ${k}"
)


def profile_sql(n: int) -> str:
    """The one statement for ``n`` contact ids (``$k0``…; the first one's row), workspace
    ``$ws``.

    >>> sql = profile_sql(2)
    >>> sql.count("MATERIALIZED"), "$k1" in sql
    (6, True)
    """
    keys = [f"k{j}" for j in range(n)]
    ctes = [
        f"{p}{j} AS MATERIALIZED ({sql.format(k=k)})"
        for p, sql in _PROBES.items()
        for j, k in enumerate(keys)
    ]
    unions = {p: " UNION ALL ".join(f"SELECT * FROM {p}{j}" for j in range(n)) for p in _PROBES}
    events = " UNION ALL ".join(
        f"{_SUMMARY.format(k=k)} UNION ALL {_RECENT.format(k=k)}" for k in keys
    )
    lists = [part.format(**unions, e=events) for part in (_HEAD, *_LISTS)]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(lists)}"


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
    found = cur.execute(profile_sql(len(ids)), params).fetchone()
    if found[0] is None:
        return None
    identifiers, consents, orders, events = (x or [] for x in found[1:])
    # The lines in the same statement cost more than this second one: there DuckDB scanned
    # order_items instead of probing its index with the order ids.
    lines = lines_of(cur, workspace_id, [o["order_id"] for o in orders]) if orders else []
    last, viewed = fold_figures([(e["last_at"], e["categories"], e["views"]) for e in events])
    return Profile(_head(found[0]), ids, identifiers, consents, orders, lines, last, viewed)


def _head(found: dict[str, Any]) -> Head:
    row = {k: found[k] for k in (*ROW_KEYS, "language", "timezone")}
    row["attributes"] = parse_json(row["attributes"]) or {}
    row["provenance"] = parse_json(row["provenance"]) or {}
    merged_into = found["merged_into"]
    return Head(row, int(merged_into) if merged_into is not None else None, found["has_merged_in"])
