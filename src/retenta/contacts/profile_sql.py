"""The whole profile in one statement (plus one for order lines, one for merged contacts).

Each DuckDB statement costs ~0.3–0.5 ms before it reads anything (parse, plan, pipeline
set-up, result conversion), and the profile used to issue eight, one of them a scan of
every event tier's JSON. Here one statement returns the contact (with ``merged_into`` and
whether anything is merged into it, which decide whether a second read is needed), its
identifiers, consents, orders and event figures, as rows tagged by kind, each branch
filtered by the contact id alone — an index probe where there is an index, else a
zone-map-pruned read (``event_summary``, ``storage/duckdb/event_summary.py``) — with the
workspace checked on the rows returned (a ``MATERIALIZED`` CTE per probe, as
``queries.probe`` builds, cost more to plan than the reads themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retenta.contacts import prepared
from retenta.contacts.queries import (
    MAX_PREPARED_BRANCHES,
    Together,
    fold_figures,
    lines_of,
    live_contact_id,
    parse_json,
)
from retenta.storage.base import TierProbe
from retenta.storage.duckdb.tier_members import L0_TIER


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
    " NULL AS views FROM contacts WHERE id = $1"
    # The merges naming it as winner, as rows (reverted or not, checked in Python like the
    # workspace): a count(*) here cost ~0.3 ms more to plan and run (session 9).
    f" UNION ALL SELECT {MERGED_IN}, workspace_id, NULL, NULL, NULL, NULL, NULL, reverted_at,"
    " NULL, NULL, NULL, NULL, NULL, NULL FROM merges WHERE winner_id = $1"
)
_PER_ID = (
    f"SELECT {IDENTITY}, workspace_id, type, value, NULL, NULL, NULL, first_seen, last_seen,"
    " NULL, NULL, NULL, NULL, NULL FROM identities WHERE contact_id = ${k}",
    f"SELECT {CONSENT}, workspace_id, channel, topic, status, source, NULL, changed_at, NULL,"
    " NULL, rowid, NULL, NULL, NULL FROM consents WHERE contact_id = ${k}",
    f"SELECT {ORDER}, workspace_id, order_id, status, NULL, NULL, NULL, placed_at, NULL, NULL,"
    " NULL, coalesce(revenue, total), NULL, NULL FROM orders WHERE contact_id = ${k}",
    # Events: L1 ∪ L2 from their summary, L0 from its rows (storage/duckdb/event_summary).
    f"SELECT {SUMMARY}, workspace_id, NULL, NULL, NULL, NULL, NULL, last_at, NULL, NULL, NULL,"
    " NULL, categories, views FROM event_summary WHERE contact_id = ${k}",
    f"SELECT {RECENT}, workspace_id, CASE WHEN event = 'Product Viewed'"
    " THEN properties ->> 'category' END, NULL, NULL, NULL, NULL, timestamp, NULL, NULL,"
    " CAST(event = 'Product Viewed' AS BIGINT), NULL, NULL, NULL"
    " FROM events_recent WHERE contact_id = ${k}",
)


# The profile of one contact as two statements run side by side (``Database.read_together``):
# the contact, its merges, identifiers and consents; then its orders and event figures.
# Planning is most of a point read's CPU, and one thread plans a statement: the halves
# took the profile from 4.7 to 2.9 ms at p50 in process at 1M contacts (session 18).
HEAD_HALF = " UNION ALL ".join([_HEAD, *(part.format(k=1) for part in _PER_ID[:2])])
FACTS_HALF = " UNION ALL ".join(part.format(k=1) for part in _PER_ID[2:])
# … and for a contact L0 holds nothing of (``Database.probe_event_tiers``, 91% of the bench
# store's), without L0's branch: with its JSON extraction to plan it was ~1 ms of the facts'
# ~3 (session 19). The consents then move to the facts, so that the halves stay even: 2.89
# against 3.17 ms at p50 in process, 3.78 against 4.23 at p99.
LEAN_HEAD_HALF = " UNION ALL ".join([_HEAD, _PER_ID[0].format(k=1)])
LEAN_FACTS_HALF = " UNION ALL ".join(part.format(k=1) for part in _PER_ID[1:4])


def profile_sql(n: int) -> str:
    """The one statement for ``n`` contact ids (``$1``…; the first one's row).

    >>> sql = profile_sql(2)
    >>> sql.count("UNION ALL"), "$2" in sql, "$3" in sql, "MATERIALIZED" in sql
    (11, True, False, False)
    """
    parts = [_HEAD, *(part.format(k=j + 1) for j in range(n) for part in _PER_ID)]
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
# ``Database.probe_event_tiers``: the event tiers that hold nothing of some contacts.
Probe = Callable[[list[int]], TierProbe]


def read_profile(
    cur: Any,
    workspace_id: str,
    contact_id: int,
    merged_ids: MergedIds,
    together: Together | None = None,
    probe: Probe | None = None,
) -> Profile | None:
    """The profile of the live contact for ``contact_id`` (None: unknown or erased).

    Usually one statement (two side by side with ``together``, leaving out L0 when
    ``probe`` says it holds nothing of the contact): a contact that was merged away, or
    that others were merged into, takes a second one (``merged_ids`` gives every contact
    merged into a live one).
    """
    profile = _read(cur, workspace_id, [contact_id], together, probe)
    if profile is None:
        return None
    head = profile.head
    if head.merged_into is not None:
        live = live_contact_id(cur, workspace_id, head.merged_into)
        if live is None:
            return None
        return read_profile(cur, workspace_id, live, merged_ids, together, probe)
    if head.has_merged_in:
        merged = merged_ids(cur, workspace_id, contact_id)
        ids = [contact_id, *sorted(i for i in set(merged) if i != contact_id)]
        return _read(cur, workspace_id, ids)
    return profile


def _profile_rows(
    cur: Any, ids: list[int], together: Together | None, probe: Probe | None
) -> list[tuple[Any, ...]]:
    args: list[Any] = list(ids)
    if together is not None and len(ids) == 1:
        found = probe(ids) if probe is not None else TierProbe()
        skip_l0 = L0_TIER in found.absent
        rows = _halves(together, args, skip_l0=skip_l0)
        if skip_l0 and not found.held():  # a unit committed meanwhile: read L0 too
            rows = _halves(together, args, skip_l0=False)
        return rows
    if len(ids) <= MAX_PREPARED_BRANCHES:  # parsed once per connection (contacts/prepared)
        result = prepared.execute(cur, f"retenta_profile_{len(ids)}", profile_sql(len(ids)), args)
    else:
        result = cur.execute(profile_sql(len(ids)), args)
    every: list[tuple[Any, ...]] = result.fetchall()
    return every


def _halves(together: Together, args: list[Any], *, skip_l0: bool) -> list[tuple[Any, ...]]:
    """The profile's rows as two statements side by side; without L0's branch (and with
    the consents moved to the facts) when ``skip_l0``."""
    (head_name, head), (facts_name, facts) = (
        (
            ("retenta_profile_lean_head", LEAN_HEAD_HALF),
            ("retenta_profile_lean_facts", LEAN_FACTS_HALF),
        )
        if skip_l0
        else (("retenta_profile_head", HEAD_HALF), ("retenta_profile_facts", FACTS_HALF))
    )
    head_rows, fact_rows = together(
        [
            lambda c: prepared.execute(c, head_name, head, args).fetchall(),
            lambda c: prepared.execute(c, facts_name, facts, args).fetchall(),
        ]
    )
    rows: list[tuple[Any, ...]] = head_rows + fact_rows
    return rows


def _read(
    cur: Any,
    workspace_id: str,
    ids: list[int],
    together: Together | None = None,
    probe: Probe | None = None,
) -> Profile | None:
    by_kind: dict[int, list[tuple[Any, ...]]] = {}
    for kind, w, *row in _profile_rows(cur, ids, together, probe):
        if w == workspace_id:
            by_kind.setdefault(kind, []).append((kind, *row))
    heads = [r for r in by_kind.get(CONTACT, []) if r[1] is None]  # not erased
    if not heads:
        return None
    ((_, *r),) = heads
    merged_in = any(r[6] is None for r in by_kind.get(MERGED_IN, []))  # not reverted
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
