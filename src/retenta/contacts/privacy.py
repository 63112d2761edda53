"""GDPR erase and export of one person: every table that points at their contacts.

The tables are found from the catalogue (any base table with a ``contact_id``,
``winner_id``, ``loser_id`` or ``other_contact_id`` column), so a table another
capability adds later is erased and exported without a change here. Line tables that
hang off a person's orders or carts by key (``order_items``, ``cart_items``, …) are found
the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.contacts.queries import EVENT_TIERS, parse_json

PERSON_COLUMNS = ("contact_id", "winner_id", "loser_id", "other_contact_id")
# Parent table → the key its line tables use.
CHILD_KEYS = {"orders": "order_id", "carts": "cart_id"}
HANDLED_APART = {"contacts", *EVENT_TIERS}
IDS = "(SELECT unnest(?::BIGINT[]))"


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]
    json_columns: tuple[str, ...]

    @property
    def person_columns(self) -> tuple[str, ...]:
        return tuple(c for c in PERSON_COLUMNS if c in self.columns)


def base_tables(cur: Any) -> dict[str, TableInfo]:
    """Every base table of the main schema with its columns."""
    rows = cur.execute(
        "SELECT c.table_name, list(c.column_name ORDER BY c.ordinal_position),"
        " list(c.column_name) FILTER (WHERE c.data_type = 'JSON')"
        " FROM information_schema.columns c JOIN information_schema.tables t"
        " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main'"
        " AND t.table_catalog = current_database() AND c.table_catalog = current_database()"
        " GROUP BY c.table_name"
    ).fetchall()
    return {r[0]: TableInfo(r[0], tuple(r[1]), tuple(r[2] or ())) for r in rows}


def person_tables(tables: dict[str, TableInfo]) -> list[TableInfo]:
    """Tables with a column naming a contact, except the ones handled apart."""
    return sorted(
        (t for t in tables.values() if t.person_columns and t.name not in HANDLED_APART),
        key=lambda t: t.name,
    )


def child_tables(
    tables: dict[str, TableInfo], *, with_person_columns: bool = False
) -> list[tuple[TableInfo, str, str]]:
    """``(line table, parent table, key)`` for tables keyed by a person's order or cart.

    With ``with_person_columns`` also those that have a contact column of their own (a
    line may still lack the value).
    """
    out = []
    for parent, key in CHILD_KEYS.items():
        for t in tables.values():
            if t.name == parent or key not in t.columns:
                continue
            if with_person_columns or not t.person_columns:
                out.append((t, parent, key))
    return sorted(out, key=lambda x: x[0].name)


def _person_filter(table: TableInfo) -> str:
    cols = " OR ".join(f"{c} IN {IDS}" for c in table.person_columns)
    scope = "workspace_id = ? AND " if "workspace_id" in table.columns else ""
    return f"{scope}({cols})"


def _person_params(table: TableInfo, workspace_id: str, ids: Sequence[int]) -> list[Any]:
    scope = [workspace_id] if "workspace_id" in table.columns else []
    return scope + [list(ids)] * len(table.person_columns)


def _child_filter(parent: str, key: str) -> str:
    return (
        f"workspace_id = ? AND {key} IN (SELECT {key} FROM {parent}"
        f" WHERE workspace_id = ? AND contact_id IN {IDS})"
    )


# --- erase --------------------------------------------------------------------------------


def event_identifiers(conn: Any, workspace_id: str, ids: Sequence[int]) -> set[tuple[str, str]]:
    """Raw ``(type, value)`` ids the person's events carry (userId, anonymousId)."""
    found: set[tuple[str, str]] = set()
    for cid in ids:
        rows = conn.execute(
            "SELECT DISTINCT user_id, anonymous_id FROM all_events"
            " WHERE workspace_id = ? AND contact_id = ?",
            [workspace_id, cid],
        ).fetchall()
        for user_id, anonymous_id in rows:
            if user_id:
                found.add(("external_id", user_id))
            if anonymous_id:
                found.add(("anonymous_id", anonymous_id))
    return found


def stored_identifiers(conn: Any, workspace_id: str, ids: Sequence[int]) -> set[tuple[str, str]]:
    rows = conn.execute(
        f"SELECT type, value FROM identities WHERE workspace_id = ? AND contact_id IN {IDS}",
        [workspace_id, list(ids)],
    ).fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


def suppress(conn: Any, workspace_id: str, hashed: Iterable[tuple[str, str]]) -> int:
    """Record ``(type, value_hash)`` pairs so re-sent events carrying them are dropped."""
    pairs = sorted(set(hashed))
    if not pairs:
        return 0
    conn.execute(
        "INSERT INTO suppressed_identifiers (workspace_id, type, value_hash, reason)"
        " SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), 'erased'"
        " ON CONFLICT DO NOTHING",
        [workspace_id, [p[0] for p in pairs], [p[1] for p in pairs]],
    )
    return len(pairs)


def _deleted(conn: Any, sql: str, params: list[Any]) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def delete_events(conn: Any, workspace_id: str, ids: Sequence[int]) -> int:
    """One equality per contact and tier, so each delete prunes to the contact's row groups."""
    total = 0
    for tier in EVENT_TIERS:
        for cid in ids:
            total += _deleted(
                conn,
                f"DELETE FROM {tier} WHERE workspace_id = ? AND contact_id = ?",
                [workspace_id, cid],
            )
    return total


def delete_person_rows(conn: Any, workspace_id: str, ids: Sequence[int]) -> dict[str, int]:
    """Delete every row that belongs to the contacts; returns rows deleted per table."""
    tables = base_tables(conn)
    counts: dict[str, int] = {}
    for table, parent, key in child_tables(tables, with_person_columns=True):  # before parents
        sql = f"DELETE FROM {table.name} WHERE {_child_filter(parent, key)}"
        counts[table.name] = _deleted(conn, sql, [workspace_id, workspace_id, list(ids)])
    for table in person_tables(tables):
        sql = f"DELETE FROM {table.name} WHERE {_person_filter(table)}"
        deleted = _deleted(conn, sql, _person_params(table, workspace_id, ids))
        counts[table.name] = counts.get(table.name, 0) + deleted
    counts["events"] = delete_events(conn, workspace_id, ids)
    counts["contacts"] = _deleted(
        conn,
        f"DELETE FROM contacts WHERE workspace_id = ? AND (id IN {IDS} OR merged_into IN {IDS})",
        [workspace_id, list(ids), list(ids)],
    )
    return {k: v for k, v in counts.items() if v}


def write_audit(
    conn: Any, *, workspace_id: str, requested_by: str, counts: dict[str, int], identifiers: int
) -> int:
    row = conn.execute(
        "INSERT INTO erasures (workspace_id, erased_at, requested_by, contacts, identifiers,"
        " events, rows_deleted) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            workspace_id,
            datetime.now(UTC),
            requested_by,
            counts.get("contacts", 0),
            identifiers,
            counts.get("events", 0),
            orjson.dumps(counts).decode(),
        ],
    ).fetchone()
    return int(row[0])


def erase_person(
    conn: Any,
    *,
    workspace_id: str,
    ids: Sequence[int],
    requested_by: str,
    hash_identifier: Callable[[str, str], str | None],
) -> dict[str, Any]:
    """Suppress the person's identifiers, delete their rows, keep an audit row without them."""
    raw = stored_identifiers(conn, workspace_id, ids) | event_identifiers(conn, workspace_id, ids)
    hashed = [(t, h) for t, v in raw if (h := hash_identifier(t, v)) is not None]
    suppressed = suppress(conn, workspace_id, hashed)
    counts = delete_person_rows(conn, workspace_id, ids)
    audit_id = write_audit(
        conn,
        workspace_id=workspace_id,
        requested_by=requested_by,
        counts=counts,
        identifiers=suppressed,
    )
    return {"erasure_id": audit_id, "contacts": list(ids), "suppressed_identifiers": suppressed}


# --- export -------------------------------------------------------------------------------


def _rows(cur: Any, table: TableInfo, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        for col in table.json_columns:
            item[col] = parse_json(item.get(col))
        out.append(item)
    return out


def related_rows(cur: Any, workspace_id: str, ids: Sequence[int]) -> dict[str, list[Any]]:
    """Every row of every table that belongs to the contacts, by table name."""
    tables = base_tables(cur)
    queries: dict[str, tuple[TableInfo, list[str], list[Any]]] = {}
    for table in person_tables(tables):
        params = _person_params(table, workspace_id, ids)
        queries[table.name] = (table, [_person_filter(table)], params)
    for table, parent, key in child_tables(tables, with_person_columns=True):
        _, filters, params = queries.get(table.name, (table, [], []))
        child_params = [workspace_id, workspace_id, list(ids)]
        queries[table.name] = (table, [*filters, _child_filter(parent, key)], params + child_params)
    out: dict[str, list[Any]] = {}
    for name, (table, filters, params) in sorted(queries.items()):
        where = " OR ".join(f"({f})" for f in filters)
        out[name] = _rows(cur, table, f"SELECT * FROM {name} WHERE {where}", params)
    return {name: rows for name, rows in out.items() if rows}
