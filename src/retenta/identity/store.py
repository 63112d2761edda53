"""SQL of identity resolution: set-based reads and writes (Arrow tables, never row by row)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from retenta.identity.normalize import Identifier
from retenta.identity.state import ContactState, IdentityRow
from retenta.storage.duckdb import tier_members

Key = tuple[str, str, str]  # (workspace_id, type, value)
TS = pa.timestamp("us", tz="UTC")

CONTACT_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("id", pa.int64()),
        ("created_at", TS),
        ("updated_at", TS),
        ("last_seen_at", TS),
        ("merged_into", pa.int64()),
        ("attributes", pa.string()),
        ("provenance", pa.string()),
        ("language", pa.string()),
        ("timezone", pa.string()),
    ]
)
# Positions in a contact row (``_contact_rows``, ``ContactState.loaded``).
(CREATED_AT, LAST_SEEN_AT, MERGED_INTO, ATTRIBUTES, PROVENANCE, LANGUAGE, TIMEZONE) = (
    CONTACT_SCHEMA.get_field_index(name)
    for name in ("created_at", "last_seen_at", "merged_into", "attributes", "provenance",
                 "language", "timezone")
)  # fmt: skip
IDENTITY_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("type", pa.string()),
        ("value", pa.string()),
        ("contact_id", pa.int64()),
        ("first_seen", TS),
        ("last_seen", TS),
    ]
)
MERGE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("workspace_id", pa.string()),
        ("merged_at", TS),
        ("winner_id", pa.int64()),
        ("loser_id", pa.int64()),
        ("rule", pa.string()),
        ("trigger_message_id", pa.string()),
        ("inputs", pa.string()),
        ("snapshot", pa.string()),
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("recorded_at", TS),
        ("kind", pa.string()),
        ("contact_id", pa.int64()),
        ("other_contact_id", pa.int64()),
        ("identifier_type", pa.string()),
        ("identifier_value", pa.string()),
        ("reason", pa.string()),
        ("message_id", pa.string()),
    ]
)


def _one(cur: Any) -> tuple[Any, ...] | None:
    """The first row, with the result drained (DuckDB keeps an undrained result open)."""
    rows = cur.fetchall()
    return rows[0] if rows else None


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _with_table(cur: Any, name: str, table: pa.Table, sql: str) -> None:
    """Run ``sql`` with ``table`` readable under ``name``."""
    over_arrow(cur, sql.replace(name, "_id_arrow"), _id_arrow=table)


def over_arrow(cur: Any, sql: str, params: Any = None, *, _id_arrow: Any = None) -> list[Any]:
    """Rows of ``sql``, which reads the Arrow table ``_id_arrow`` by that name.

    DuckDB's replacement scan finds the table among the locals of the frame that calls
    ``execute``: half the cost of a ``register``/``unregister`` pair (about 0.5 ms a
    statement here), and nothing is left registered when a statement fails.
    """
    result = cur.execute(sql) if params is None else cur.execute(sql, params)
    rows: list[Any] = result.fetchall()  # drained: DuckDB refuses new work while one is open
    return rows


def _table(schema: pa.Schema, rows: Iterable[Sequence[Any]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) or [()] * len(schema)
    return pa.table([list(c) for c in columns], schema=schema)


# --- reads -----------------------------------------------------------------------------


IN_LIST_UP_TO = 1000  # values; more are joined against an Arrow table instead


def fetch_owners(cur: Any, keys: Iterable[Key]) -> dict[Key, int]:
    """The contact holding each identifier that exists.

    Measured at 3M identities: an ``IN`` list on ``value`` costs 2 ms for 3 values, 17 ms
    for 100, 32 ms for 1,000 (DuckDB prunes with the ``identities (value)`` index and zone
    maps); a join against an Arrow table of the keys costs ~130 ms whatever their number,
    so it serves the thousands of an import chunk (15 ``IN`` lists for 15k keys: ~500 ms).
    """
    wanted = set(keys)
    if not wanted:
        return {}
    values = list({v for _, _, v in wanted})
    if len(values) <= IN_LIST_UP_TO:
        rows = cur.execute(
            "SELECT workspace_id, type, value, contact_id FROM identities"
            f" WHERE value IN ({','.join('?' * len(values))})",
            values,
        ).fetchall()
    else:
        columns = [list(c) for c in zip(*wanted, strict=True)]
        rows = over_arrow(
            cur,
            "SELECT i.workspace_id, i.type, i.value, i.contact_id FROM identities i"
            " JOIN _id_arrow k ON i.value = k.value AND i.type = k.type"
            " AND i.workspace_id = k.ws",
            _id_arrow=pa.table(columns, names=["ws", "type", "value"]),
        )
    return {(ws, t, v): int(cid) for ws, t, v, cid in rows if (ws, t, v) in wanted}


def _probe_owner(cur: Any, key: Key) -> int | None:
    """One identifier's holder through the ``identities (value)`` index (DuckDB probes it
    only for a lone equality: 1.7 ms at 3M identities, where the three-column filter
    scanned for 35 ms)."""
    ws, id_type, value = key
    row = _one(
        cur.execute(
            "WITH m AS MATERIALIZED (SELECT workspace_id, type, contact_id FROM identities"
            " WHERE value = ?) SELECT contact_id FROM m WHERE workspace_id = ? AND type = ?",
            [value, ws, id_type],
        )
    )
    return int(row[0]) if row else None


CONTACT_COLUMNS = (
    "workspace_id, id, created_at, updated_at, last_seen_at, merged_into,"
    " attributes, provenance, language, timezone"
)
# The same, with times as microseconds since the epoch: DuckDB turns each TIMESTAMPTZ into
# a Python datetime through pytz (~8 us each: 50 of the 78 ms that loading the identities of
# 500 contacts took here); ``_at`` builds the same instant for a fraction of that.
LOAD_COLUMNS = (
    "workspace_id, id, epoch_us(created_at), epoch_us(updated_at), epoch_us(last_seen_at),"
    " merged_into, attributes, provenance, language, timezone"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(us: int | None) -> datetime | None:
    """A UTC datetime from ``epoch_us``.

    >>> _at(1_700_000_000_000_001).isoformat(), _at(None)
    ('2023-11-14T22:13:20.000001+00:00', None)
    """
    return None if us is None else EPOCH + timedelta(microseconds=us)


ANY_LIST_FROM = 600  # contact ids; fewer go in an ``IN`` list


def ids_filter(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column`` among ``ids`` (distinct contact ids) as a filter and its parameters.

    Fewer than ``ANY_LIST_FROM`` ids: an ``IN`` list, whose cost grows with its length
    (~30 us of process CPU an id at 100k contacts). More: one list parameter (``= ANY(?)``,
    a semi-join against the list), which costs about one scan of the table whatever the
    length. ``load_rows`` in the writer, a restarted 100k store, first-touch identifies,
    process CPU, medians of alternated units, load 6.5-7.3: 300 ids 11.28 -> 13.35 ms (the
    list loses), 500 ids 17.04 -> 14.39, 1,000 ids 30.32 -> 17.23 (the whole resolve 65.93
    -> 53.12). Alone at 1M contacts / 3M identities: 1,000 ids 23.33 -> 8.27 ms
    (identities 36.09 -> 12.68); docs/identity.md, session 8. (For identifier *values*, an
    indexed string column, the list parameter scans where the ``IN`` list probes the index:
    ``fetch_owners`` keeps its ``IN`` list.)
    """
    if len(ids) < ANY_LIST_FROM:
        # literals, not ``?`` parameters: binding each parameter costs more than parsing an
        # integer (180 ids at 20k / 100k contacts, medians of 25 alternated: writer thread
        # 3.12 -> 2.71 / 3.81 -> 3.33 ms). ``int`` makes each one a plain integer.
        return f"{column} IN ({','.join([str(int(i)) for i in ids])})", []
    return f"{column} = ANY(?::BIGINT[])", [list(ids)]


def load_contacts(cur: Any, ids: Iterable[int]) -> dict[int, ContactState]:
    """Live contact rows with their identities (erased contacts are not returned), one
    statement each for the rows and the identities (``ids_filter``)."""
    states = load_rows(cur, ids)
    load_identities(cur, list(states.values()))
    return states


def load_rows(cur: Any, ids: Iterable[int]) -> dict[int, ContactState]:
    """Live contact rows without their identities (``ContactState.partial``): what a profile
    input of a known contact needs. Half of ``load_contacts``' cost (5.4 of 12.7 ms CPU for
    180 contacts at 100k, the other statement reads ``identities``)."""
    wanted = sorted(set(ids))
    states: dict[int, ContactState] = {}
    if not wanted:
        return states
    where, params = ids_filter("id", wanted)
    for r in cur.execute(
        f"SELECT {LOAD_COLUMNS} FROM contacts WHERE {where} AND erased_at IS NULL", params
    ).fetchall():
        state = states[r[1]] = _state(r)
        state.partial = True
    return states


def load_identities(cur: Any, states: Sequence[ContactState]) -> None:
    """Fill in the identities of contacts loaded by ``load_rows``."""
    by_id = {s.id: s for s in states}
    wanted = sorted(by_id)
    epoch = EPOCH
    if wanted:
        where, params = ids_filter("contact_id", wanted)
        for cid, t, v, first, last in cur.execute(
            "SELECT contact_id, type, value, epoch_us(first_seen), epoch_us(last_seen)"
            f" FROM identities WHERE {where}",
            params,
        ).fetchall():
            by_id[cid].identities[(t, v)] = IdentityRow(
                epoch + timedelta(microseconds=first), epoch + timedelta(microseconds=last)
            )
    for state in states:
        state.partial = False


def _state(r: tuple[Any, ...]) -> ContactState:
    """A ``LOAD_COLUMNS`` row as a state (which keeps the row: ``ContactState.loaded``)."""
    created, updated, seen = _at(r[2]), _at(r[3]), _at(r[4])
    state = ContactState(
        r[0], r[1], created, updated, seen, r[5],  # type: ignore[arg-type]
        orjson.loads(r[6] or "{}"), orjson.loads(r[7] or "{}"), r[8], r[9],
    )  # fmt: skip
    state.loaded = (r[0], r[1], created, updated, seen, *r[5:])
    return state


def recent_owners(cur: Any, limit: int) -> tuple[list[Any], ...]:
    """The ``limit`` most recently seen identifiers of live contacts, oldest first, as
    columns (workspace, type, value, contact): what the writer's map starts with."""
    table = cur.sql(
        "SELECT workspace_id, type, value, contact_id FROM (SELECT i.workspace_id, i.type,"
        " i.value, i.contact_id, i.last_seen FROM identities i JOIN contacts c"
        " ON c.id = i.contact_id WHERE c.merged_into IS NULL AND c.erased_at IS NULL"
        " ORDER BY i.last_seen DESC LIMIT ?) ORDER BY last_seen",
        params=[limit],
    ).to_arrow_table()
    return tuple(table.column(i).to_pylist() for i in range(4))


def suppressed(cur: Any, workspace_id: str) -> set[tuple[str, str]]:
    cur.execute(
        "SELECT type, value_hash FROM suppressed_identifiers WHERE workspace_id = ?",
        [workspace_id],
    )
    return {(t, h) for t, h in cur.fetchall()}


def allocate_contact_ids(cur: Any, n: int) -> list[int]:
    """``n`` fresh ids from ``contact_id_seq`` (sequences survive a rollback: never reused)."""
    cur.execute("SELECT nextval('contact_id_seq') FROM range(?)", [n])
    return [int(r[0]) for r in cur.fetchall()]


def allocate_merge_ids(cur: Any, n: int) -> list[int]:
    cur.execute("SELECT nextval('merge_id_seq') FROM range(?)", [n])
    return [int(r[0]) for r in cur.fetchall()]


def transaction_id(cur: Any) -> int:
    row = _one(cur.execute("SELECT txid_current()"))
    return int(row[0]) if row else -1


def identity_count(cur: Any) -> int:
    row = _one(cur.execute("SELECT count(*) FROM identities"))
    return int(row[0]) if row else 0


def status(cur: Any, probe: tuple[int, datetime] | None) -> tuple[int, bool, int]:
    """In one statement: the transaction id, whether the probe contact carries its stamp
    (proof that an earlier transaction committed), and the number of stored identities."""
    cid, stamp = probe if probe is not None else (-1, None)
    row = _one(
        cur.execute(
            "SELECT txid_current(),"
            " (SELECT count(*) FROM contacts WHERE id = ? AND updated_at = ?),"
            " (SELECT count(*) FROM identities)",
            [cid, stamp],
        )
    )
    assert row is not None
    return int(row[0]), bool(row[1]), int(row[2])


# --- writes ----------------------------------------------------------------------------


def _contact_rows(states: Iterable[ContactState]) -> list[tuple[Any, ...]]:
    return [
        (
            s.workspace_id, s.id, s.created_at, s.updated_at, s.last_seen_at, s.merged_into,
            dumps(s.attributes), dumps(s.provenance), s.language, s.timezone,
        )
        for s in states
    ]  # fmt: skip


def insert_contacts(cur: Any, states: Sequence[ContactState]) -> None:
    if not states:
        return
    cols = ", ".join(CONTACT_SCHEMA.names)
    table = _table(CONTACT_SCHEMA, _contact_rows(states))
    _with_table(
        cur,
        "_new_contacts",
        table,
        f"INSERT INTO contacts ({cols}) SELECT {cols} FROM _new_contacts",
    )


WRITTEN = tuple(range(2, len(CONTACT_SCHEMA)))  # positions of the columns a write sets


def changed_columns(states: Sequence[ContactState], rows: Sequence[tuple[Any, ...]]) -> list[str]:
    """The columns whose value in ``rows`` (``_contact_rows(states)``) differs, in any of
    them, from the stored row the state was loaded from (``ContactState.loaded``); every
    column where a state was not loaded by ``load_rows``.

    Each column an ``UPDATE`` sets costs DuckDB a write per row whatever the value, and the
    JSON columns cost the most (35 rows of 100k, writer in process: ``attributes`` and
    ``provenance`` together 7.3 ms wall, a timestamp column ~1.6): a row that got a trait
    need not rewrite its ``created_at`` or ``merged_into``. A column left out keeps a
    stored value equal to the one that would have been written (JSON compared as the
    stored text, times as instants), so the row is the same (docs/identity.md, session 11).
    """
    names = CONTACT_SCHEMA.names
    same = list(WRITTEN)  # the columns no state has changed so far
    for state, row in zip(states, rows, strict=True):
        stored = state.loaded
        if stored is None:
            return list(names[2:])
        if any(row[i] != stored[i] for i in same):
            same = [i for i in same if row[i] == stored[i]]
    return [names[i] for i in WRITTEN if i not in same]


def update_contacts(
    cur: Any, states: Sequence[ContactState], *, changed_only: bool = False
) -> None:
    """Write the states' rows; ``changed_only``: only the columns some state changed
    (``changed_columns``), nothing when none did."""
    if not states:
        return
    rows = _contact_rows(states)
    columns = changed_columns(states, rows) if changed_only else CONTACT_SCHEMA.names[2:]
    if not columns:
        return
    sets = ", ".join(f"{c} = u.{c}" for c in columns)
    _with_table(
        cur,
        "_upd_contacts",
        _table(CONTACT_SCHEMA, rows),
        f"UPDATE contacts SET {sets} FROM _upd_contacts u WHERE contacts.id = u.id",
    )


def locale_row(state: ContactState, stamp: datetime) -> tuple[int, str | None, str | None] | None:
    """``state`` as a ``write_locales`` row, when a locale is all it changed in its stored
    row (``ContactState.loaded``) apart from ``updated_at`` (this unit's ``stamp``, which
    ``write_locales`` sets) and ``last_seen_at`` (left to the caller); None otherwise.

    A loaded contact whose only news is its first locale since the restart (an identify
    whose traits are stored already) so joins the queued locales' statement instead of
    costing its own ``UPDATE`` (~2-3 ms of the writer a unit, docs/identity.md session 12).
    A locale set to None, or one column given and the other cleared, is not a
    ``write_locales`` row (it never clears a column): those keep ``update_contacts``.
    """
    stored = state.loaded
    if stored is None or state.updated_at != stamp:
        return None
    if state.created_at != stored[CREATED_AT] or state.merged_into != stored[MERGED_INTO]:
        return None
    language = state.language if state.language != stored[LANGUAGE] else None
    timezone = state.timezone if state.timezone != stored[TIMEZONE] else None
    if language is None and timezone is None:  # nothing, or a locale cleared
        return None
    if (state.language is None and stored[LANGUAGE] is not None) or (
        state.timezone is None and stored[TIMEZONE] is not None
    ):
        return None
    if dumps(state.attributes) != stored[ATTRIBUTES]:
        return None
    if dumps(state.provenance) != stored[PROVENANCE]:
        return None
    return (state.id, language, timezone)


LOCALE_SCHEMA = pa.schema(
    [("id", pa.int64()), ("language", pa.string()), ("timezone", pa.string())]
)
PROFILE_WRITE_SCHEMA = CONTACT_SCHEMA.append(pa.field("whole", pa.bool_()))
_KEPT_UNLESS_WHOLE = ("created_at", "last_seen_at", "merged_into", "attributes", "provenance")


def _profile_write_sql() -> str:
    """One ``UPDATE`` for a batch's two kinds of contact writes (``u.whole`` tells them apart):
    loaded contacts get every column; unloaded ones get only a locale that differs."""
    sets = [f"{c} = CASE WHEN u.whole THEN u.{c} ELSE contacts.{c} END" for c in _KEPT_UNLESS_WHOLE]
    sets += [
        f"{c} = CASE WHEN u.whole THEN u.{c} ELSE COALESCE(u.{c}, contacts.{c}) END"
        for c in ("language", "timezone")
    ]
    sets.append("updated_at = u.updated_at")
    differs = (
        "(u.language IS NOT NULL AND contacts.language IS DISTINCT FROM u.language)"
        " OR (u.timezone IS NOT NULL AND contacts.timezone IS DISTINCT FROM u.timezone)"
    )
    return (
        f"UPDATE contacts SET {', '.join(sets)} FROM _id_arrow u WHERE contacts.id = u.id"
        f" AND (u.whole OR (contacts.erased_at IS NULL AND ({differs}))) RETURNING contacts.id"
    )


PROFILE_WRITE_SQL = _profile_write_sql()
# Stored identifiers (``len(KnownIdentifiers)``, ~3 a contact here) from which queued
# locales go through ``narrow_locales``: on a large table its extra statements cost less
# than the single statement's read of every column. 600 locales + 40 changed rows, writer
# thread / process CPU, single -> narrow: 50k contacts 4.80 / 18.18 -> 8.70 / 18.49 ms,
# 100k 10.83 / 26.07 -> 11.88 / 23.62, 200k 20.55 / 38.57 -> 16.25 / 27.06, 1M 49.89 /
# 98.34 -> 26.32 / 49.31. In the writer at 100k, 1,000-event units lost (19.93 -> 23.69
# us an event), hence ~200k contacts (docs/identity.md, session 10).
NARROW_LOCALES_FROM = 600_000


def write_profiles(
    cur: Any,
    states: Sequence[ContactState],
    locales: Sequence[tuple[int, str | None, str | None]],
    stamp: datetime,
    *,
    narrow: bool = False,
) -> set[int]:
    """``update_contacts(states)`` and ``update_locales(locales, stamp)`` in one statement.

    Each ``UPDATE … FROM`` of ``contacts`` costs a join over the whole table (about 10-20 ms
    at 100k contacts here, whatever the rows), so a unit that has both kinds pays it once.
    The two id sets are disjoint (a contact loaded in the batch takes its queued locale).
    Returns the ids among ``locales`` that changed. ``narrow`` (a large table): the two
    kinds apart, the locales through ``narrow_locales``.
    """
    if narrow and locales:
        update_contacts(cur, states)
        return narrow_locales(cur, locales, stamp)
    if not locales:
        update_contacts(cur, states)
        return set()
    if not states:
        return update_locales(cur, locales, stamp)
    rows = [(*r, True) for r in _contact_rows(states)]
    rows += [(None, cid, None, stamp, None, None, None, None, lang, tz, False)
             for cid, lang, tz in locales]  # fmt: skip
    found = over_arrow(cur, PROFILE_WRITE_SQL, _id_arrow=_table(PROFILE_WRITE_SCHEMA, rows))
    wanted = {cid for cid, _, _ in locales}
    return {int(r[0]) for r in found if int(r[0]) in wanted}


def update_locales(
    cur: Any, rows: Sequence[tuple[int, str | None, str | None]], stamp: datetime
) -> set[int]:
    """Set language/timezone where a given value differs (None keeps the stored one);
    returns the ids of the contacts that changed, which get ``updated_at = stamp``."""
    if not rows:
        return set()
    found = over_arrow(
        cur,
        "UPDATE contacts SET language = COALESCE(u.language, contacts.language),"
        " timezone = COALESCE(u.timezone, contacts.timezone), updated_at = ?"
        " FROM _id_arrow u WHERE contacts.id = u.id AND contacts.erased_at IS NULL"
        " AND ((u.language IS NOT NULL AND contacts.language IS DISTINCT FROM u.language)"
        " OR (u.timezone IS NOT NULL AND contacts.timezone IS DISTINCT FROM u.timezone))"
        " RETURNING contacts.id",
        [stamp],
        _id_arrow=_table(LOCALE_SCHEMA, rows),
    )
    return {int(r[0]) for r in found}


LOCALE_DIFFERS = (
    "(u.language IS NOT NULL AND contacts.language IS DISTINCT FROM u.language)"
    " OR (u.timezone IS NOT NULL AND contacts.timezone IS DISTINCT FROM u.timezone)"
)


def narrow_locales(
    cur: Any, rows: Sequence[tuple[int, str | None, str | None]], stamp: datetime
) -> set[int]:
    """``update_locales`` without ``RETURNING``: with it DuckDB reads every column of every
    contact (attributes and provenance included) to update a few narrow ones. The ids that
    change are selected first (the same join and filter, three columns read), then updated.
    Two statements: worth it on a large table only (docs/identity.md, session 10)."""
    _id_arrow = _table(LOCALE_SCHEMA, rows)
    found = over_arrow(
        cur,
        "SELECT contacts.id FROM contacts JOIN _id_arrow u ON contacts.id = u.id"
        f" WHERE contacts.erased_at IS NULL AND ({LOCALE_DIFFERS})",
        _id_arrow=_id_arrow,
    )
    if found:
        over_arrow(cur, WRITE_LOCALES[(True, True)], [stamp], _id_arrow=_id_arrow)
    return {int(r[0]) for r in found}


def _write_locales_sql(language: bool, timezone: bool) -> str:
    """The locale ``UPDATE``, setting and comparing only the columns some row gives."""
    sets, differs = [], []
    for column, given in (("language", language), ("timezone", timezone)):
        if given:
            sets.append(f"{column} = COALESCE(u.{column}, contacts.{column})")
            differs.append(
                f"(u.{column} IS NOT NULL AND contacts.{column} IS DISTINCT FROM u.{column})"
            )
    return (
        f"UPDATE contacts SET {', '.join(sets)}, updated_at = ? FROM _id_arrow u"
        " WHERE contacts.id = u.id AND contacts.erased_at IS NULL"
        f" AND ({' OR '.join(differs)})"
    )


WRITE_LOCALES = {
    (language, timezone): _write_locales_sql(language, timezone)
    for language in (True, False)
    for timezone in (True, False)
    if language or timezone
}


def write_locales(
    cur: Any, rows: Sequence[tuple[int, str | None, str | None]], stamp: datetime
) -> None:
    """``update_locales`` without saying which contacts changed: no ``RETURNING`` (which
    makes DuckDB read and rewrite every column), no ``SELECT`` of the ids first, and only
    ``updated_at`` and the locale columns some row gives set (a column no row gives would
    be rewritten with its own value: ``COALESCE(NULL, stored)``). For a writer that needs
    no commit probe (its units report their outcome): 540 rows at 100k contacts, ~6.6 ms
    wall where ``write_profiles``' one statement took ~20 (docs/identity.md, session 11)."""
    language = any(lang is not None for _, lang, _ in rows)
    timezone = any(tz is not None for _, _, tz in rows)
    if language or timezone:
        sql = WRITE_LOCALES[(language, timezone)]
        over_arrow(cur, sql, [stamp], _id_arrow=_table(LOCALE_SCHEMA, rows))


def identity_rows(
    workspace_id: str, contact_id: int, items: Iterable[tuple[Identifier, IdentityRow]]
) -> list[tuple[Any, ...]]:
    return [(workspace_id, t, v, contact_id, r.first_seen, r.last_seen) for (t, v), r in items]


def insert_identities(cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert new identities. A plain ``INSERT``: an identifier stored behind the writer's
    back violates the primary key, which aborts the unit of work (``INSERT OR IGNORE`` costs
    twice as much, for a check the primary key makes anyway)."""
    if not rows:
        return
    cols = ", ".join(IDENTITY_SCHEMA.names)
    _with_table(
        cur,
        "_new_identities",
        _table(IDENTITY_SCHEMA, rows),
        f"INSERT INTO identities ({cols}) SELECT {cols} FROM _new_identities",
    )


REPOINT_SQL = (
    "UPDATE identities SET contact_id = m.contact_id, first_seen = m.first_seen,"
    " last_seen = m.last_seen FROM _moved_identities m"
    " WHERE identities.workspace_id = m.workspace_id AND identities.type = m.type"
    " AND identities.value = m.value"
)


def repoint_identities(cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Set owner and seen-times of existing identities (merges, takeovers, unmerges).

    The join alone reads every identity (DuckDB's ``UPDATE … FROM`` uses no index, nor does
    an ``IN`` list beside the join): ~80-160 ms at 3M identities for 10 or 100 rows. Up to
    ``IN_LIST_UP_TO`` values, their rowids are found first through the ``value`` index and
    the update is confined to them as literals: 15 and 20-30 ms (``docs/identity.md``,
    session 21). The rowids may name other workspaces' or types' rows of the same values;
    the join still matches each row by its key.
    """
    if not rows:
        return
    table = _table(IDENTITY_SCHEMA, rows)
    values = sorted({r[2] for r in rows})
    if len(values) > IN_LIST_UP_TO:
        _with_table(cur, "_moved_identities", table, REPOINT_SQL)
        return
    found = cur.execute(
        f"SELECT rowid FROM identities WHERE value IN ({','.join('?' * len(values))})", values
    ).fetchall()
    if not found:
        return
    rowids = ", ".join(str(int(r[0])) for r in found)
    _with_table(
        cur, "_moved_identities", table, f"{REPOINT_SQL} AND identities.rowid IN ({rowids})"
    )


def insert_merges(cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    members = tier_members.of(cur)
    if members is not None:  # before the COMMIT: their pages check liveness again
        winner, loser = (
            MERGE_SCHEMA.get_field_index("winner_id"),
            MERGE_SCHEMA.get_field_index("loser_id"),
        )
        named = [r[i] for r in rows for i in (winner, loser) if r[i] is not None]
        members.added(tier_members.MERGES, np.asarray(named, dtype=np.int64))
    cols = ", ".join(MERGE_SCHEMA.names)
    _with_table(
        cur,
        "_new_merges",
        _table(MERGE_SCHEMA, rows),
        f"INSERT INTO merges ({cols}) SELECT {cols} FROM _new_merges",
    )


def insert_identity_events(cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    cols = ", ".join(EVENT_SCHEMA.names)
    _with_table(
        cur,
        "_new_identity_events",
        _table(EVENT_SCHEMA, rows),
        f"INSERT INTO identity_events ({cols}) SELECT {cols} FROM _new_identity_events",
    )


def flush_last_seen(
    cur: Any, contacts: dict[int, datetime], identities: dict[Key, datetime]
) -> None:
    """Advance ``last_seen_at`` / ``last_seen`` to the times collected since the last flush."""
    if contacts:
        table = pa.table({"id": list(contacts), "at": pa.array(list(contacts.values()), TS)})
        _with_table(
            cur,
            "_seen_contacts",
            table,
            "UPDATE contacts SET last_seen_at = s.at FROM _seen_contacts s"
            " WHERE contacts.id = s.id"
            " AND (contacts.last_seen_at IS NULL OR contacts.last_seen_at < s.at)",
        )
    if identities:
        ws, types, values = (list(c) for c in zip(*identities, strict=True))
        table = pa.table(
            {
                "ws": ws,
                "type": types,
                "value": values,
                "at": pa.array(list(identities.values()), TS),
            }
        )
        _with_table(
            cur,
            "_seen_identities",
            table,
            "UPDATE identities SET last_seen = s.at FROM _seen_identities s"
            " WHERE identities.workspace_id = s.ws AND identities.type = s.type"
            " AND identities.value = s.value AND identities.last_seen < s.at",
        )


# --- merge history ---------------------------------------------------------------------

MERGE_COLUMNS = (
    "id", "merged_at", "winner_id", "loser_id", "rule", "inputs",
    "trigger_message_id", "reverted_at",
)  # fmt: skip


def merge_history(cur: Any, workspace_id: str, contact_id: int) -> list[dict[str, Any]]:
    cur.execute(
        f"SELECT {', '.join(MERGE_COLUMNS)} FROM merges WHERE workspace_id = ?"
        " AND (winner_id = ? OR loser_id = ?) ORDER BY id DESC",
        [workspace_id, contact_id, contact_id],
    )
    out = []
    for row in cur.fetchall():
        item = dict(zip(MERGE_COLUMNS, row, strict=True))
        item["inputs"] = orjson.loads(item["inputs"])
        out.append(item)
    return out


def merge_row(cur: Any, workspace_id: str, merge_id: int) -> dict[str, Any] | None:
    cur.execute(
        "SELECT id, winner_id, loser_id, snapshot, reverted_at FROM merges"
        " WHERE workspace_id = ? AND id = ?",
        [workspace_id, merge_id],
    )
    row = _one(cur)
    if row is None:
        return None
    keys = ("id", "winner_id", "loser_id", "snapshot", "reverted_at")
    item = dict(zip(keys, row, strict=True))
    item["snapshot"] = orjson.loads(item["snapshot"])
    return item


def later_active_merges(
    cur: Any, workspace_id: str, merge_id: int, ids: Sequence[int]
) -> list[int]:
    """Merges after ``merge_id``, not reverted, that involve any of ``ids``."""
    cur.execute(
        "SELECT id FROM merges WHERE workspace_id = ? AND id > ? AND reverted_at IS NULL"
        " AND (list_contains(?, winner_id) OR list_contains(?, loser_id)) ORDER BY id",
        [workspace_id, merge_id, list(ids), list(ids)],
    )
    return [int(r[0]) for r in cur.fetchall()]


def mark_reverted(cur: Any, merge_id: int, at: datetime) -> None:
    cur.execute("UPDATE merges SET reverted_at = ? WHERE id = ?", [at, merge_id]).fetchall()


def contact_exists(cur: Any, workspace_id: str, contact_id: int) -> bool:
    cur.execute(
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND id = ?",
        [workspace_id, contact_id],
    )
    row = _one(cur)
    return bool(row and row[0])


def merged_descendants(cur: Any, workspace_id: str, contact_id: int) -> list[int]:
    """The contact and everything merged into it, directly or through other merges."""
    cur.execute(
        "WITH RECURSIVE tree(id) AS (SELECT ?::BIGINT UNION"
        " SELECT m.loser_id FROM merges m JOIN tree ON m.winner_id = tree.id"
        " WHERE m.workspace_id = ? AND m.reverted_at IS NULL)"
        " SELECT id FROM tree ORDER BY id",
        [contact_id, workspace_id],
    )
    return [int(r[0]) for r in cur.fetchall()]


def live_owner(cur: Any, workspace_id: str, id_type: str, value: str) -> int | None:
    """The live contact holding an identifier, following ``merged_into`` just in case
    (index probes: a scan of 3M identities costs ~50 ms)."""
    found_cid = _probe_owner(cur, (workspace_id, id_type, value))
    if found_cid is None:
        return None
    cid = found_cid
    for _ in itertools.repeat(None, 64):
        cur.execute(
            "WITH m AS MATERIALIZED (SELECT merged_into, erased_at FROM contacts WHERE id = ?)"
            " SELECT * FROM m",
            [cid],
        )
        found = _one(cur)
        if found is None or found[1] is not None:
            return None
        if found[0] is None:
            return cid
        cid = int(found[0])
    return None


def repair_last_seen(cur: Any) -> None:
    """At start-up: last-seen times still only in memory when the process died are rebuilt
    from the events of every tier (``all_events``): compaction may have moved an event out
    of ``events_recent`` before its last-seen time was flushed. One scan of two columns,
    ~0.6 s at 21M events."""
    cur.execute(
        "UPDATE contacts SET last_seen_at = r.at FROM"
        " (SELECT contact_id, max(timestamp) AS at FROM all_events GROUP BY contact_id) r"
        " WHERE contacts.id = r.contact_id"
        " AND (contacts.last_seen_at IS NULL OR contacts.last_seen_at < r.at)"
    ).fetchall()
