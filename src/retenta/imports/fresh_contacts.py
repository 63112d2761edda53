"""Brand-new people of a contacts import, created column-wise (no per-row messages).

``identity.bulk.create_new_contacts`` already settles "every identifier of the row is new"
set-based, but it starts from one ``Message`` per row and builds each contact's JSON in
Python (~40 µs a row: most of a 1M-row import). A contacts file is columns, so this does
the same decision and the same rows by column:

- each identifier column is normalized a column at a time with the verdicts of identity's
  own ``Normalizer`` (``identity.columns.normalize_column``);
- a row qualifies when every identifier it carries is valid, none is carried by another
  row of the chunk, none is (or may be) stored (``KnownIdentifiers`` by hash), none belongs
  to an erased person, and the per-type limits allow one of each — exactly the rows
  ``create_new_contacts`` would take;
- ``contacts`` and ``identities`` are appended from Arrow by one statement each; the
  attribute and provenance JSON, joined by column, is the text identity writes for a new
  contact.

Every other row goes the regular way (messages → ``create_new_contacts`` → ``resolve``),
so conflicts, merges, invalid values and suppression are decided by identity resolution.
A chunk this cannot express (a custom identifier trait among the columns, a ``union``
field policy, a non-text trait) goes the regular way whole.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retenta.identity.bulk import allocate_ids, maybe_stored
from retenta.identity.columns import as_flags, normalize_column
from retenta.identity.normalize import identifier_hash
from retenta.identity.store import dumps, identity_count
from retenta.imports.mapping import ROW
from retenta.imports.store import registered

if TYPE_CHECKING:
    from retenta.identity.normalize import Normalizer
    from retenta.identity.profile import Policies
    from retenta.identity.rules import RuleSettings
    from retenta.identity.service import IdentityService
    from retenta.imports.loaders import LoadContext
    from retenta.settings import IdentitySettings


class PlanRules(Protocol):
    """What a plan reads of identity (``IdentityService``)."""

    @property
    def settings(self) -> IdentitySettings: ...
    @property
    def normalizer(self) -> Normalizer: ...
    @property
    def policies(self) -> Policies: ...
    @property
    def rule_settings(self) -> RuleSettings: ...


class ChunkStamp(Protocol):
    """What a plan reads of the job (``LoadContext``)."""

    @property
    def workspace_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    def message_ids(self, rows: pa.Array) -> pa.Array: ...


# File column → identifier type, in the order identity offers them (user id first).
IDENTIFIER_COLUMNS = (("external_id", "external_id"), ("email", "email"), ("phone", "phone"))
MIN_ROWS = 64  # below this the regular path is as fast


@dataclass(frozen=True)
class Fresh:
    """Rows created here (``mask``) and the contact id of each of them (``ids``)."""

    mask: np.ndarray
    ids: np.ndarray


def trait_names(table: pa.Table, trait_columns: frozenset[str]) -> list[str]:
    """The columns that become traits (as ``loaders.identify_messages`` picks them)."""
    return [c for c in table.column_names if c in trait_columns or c.startswith("attr.")]


def expressible(svc: PlanRules, table: pa.Table, names: list[str]) -> bool:
    """Whether a new contact of this chunk is plain column work (else: the regular path)."""
    keys = {n.removeprefix("attr.") for n in names}
    if len(keys) < len(names):  # two columns for one trait: the later one wins, row by row
        return False
    if keys & set(svc.settings.custom_identifier_traits):
        return False
    if any(svc.policies.of(k) == "union" for k in keys):
        return False
    textual = (
        pa.types.is_string,
        pa.types.is_large_string,
        pa.types.is_date,
        pa.types.is_timestamp,
    )
    if not all(any(f(table.column(n).type) for f in textual) for n in names):
        return False
    limit = svc.rule_settings.limit
    return all(limit(t) >= 1 for _, t in IDENTIFIER_COLUMNS)


def _eligible(svc: PlanRules, table: pa.Table) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Rows whose identifiers are all valid and unique in the chunk (at least one), and
    each identifier column's normalized values (null where a row carries none)."""
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    carried = np.zeros(n, dtype=bool)
    values: dict[str, pa.Array] = {}
    for column, id_type in IDENTIFIER_COLUMNS:
        if column not in table.column_names:
            continue
        found = normalize_column(id_type, table.column(column), svc.normalizer)
        values[id_type] = found.values
        ok &= ~found.invalid  # identity resolution records the rejected value
        ok &= ~_repeated(found.values)  # another row carries it too: their order matters
        carried |= as_flags(found.values.is_valid())
    return ok & carried, values


def _repeated(values: pa.Array) -> np.ndarray:
    """Rows whose value another row of the column also has."""
    counts = pc.value_counts(values.drop_null())
    twice = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    return (
        as_flags(pc.is_in(values, value_set=twice)) if len(twice) else np.zeros(len(values), bool)
    )


def column_hashes(ws: str, values: dict[str, pa.Array]) -> dict[str, np.ndarray]:
    """``key_hash`` of each row's ``(ws, type, value)`` per identifier column, hashed in
    DuckDB a column at a time (meaningless where the value is null).

    >>> from retenta.identity.known import key_hash
    >>> got = column_hashes("w", {"email": pa.array(["a@x.io", None])})
    >>> int(got["email"][0]) == key_hash(("w", "email", "a@x.io"))
    True
    """
    if not values:
        return {}
    _id_columns = pa.table(values)
    sql = ", ".join(
        f'md5_number_lower(concat_ws(chr(31), $ws, \'{t}\', "{t}"))::UBIGINT AS "{t}"'
        for t in values
    )
    found = _hashing_cursor().execute(f"SELECT {sql} FROM _id_columns", {"ws": ws}).fetchnumpy()
    return {t: np.asarray(found[t], dtype=np.uint64) for t in values}


def _unknown(
    svc: IdentityService, conn: Any, ws: str, planned: Plan
) -> tuple[np.ndarray, np.ndarray]:
    """``ok`` less rows with an identifier stored or suppressed; the hashes of the rest."""
    ok = planned.ok
    svc.known.sync(conn, identity_count(conn))
    suppressed = svc.suppressed_hashes(conn, ws)
    hit = np.zeros(len(ok), dtype=bool)
    carried = {t: as_flags(v.is_valid()) & ok for t, v in planned.values.items()}
    for id_type, rows in ((t, np.flatnonzero(c)) for t, c in carried.items()):
        hit[rows[maybe_stored(svc.known, planned.hashes[id_type][rows])]] = True
        if suppressed:
            offered = planned.values[id_type].take(pa.array(rows)).to_pylist()
            for i, value in zip(rows.tolist(), offered, strict=True):
                if (id_type, identifier_hash(id_type, value)) in suppressed:
                    hit[i] = True
    out = ok & ~hit
    kept = [planned.hashes[t][c & out] for t, c in carried.items()]
    return out, np.concatenate(kept) if kept else np.zeros(0, dtype=np.uint64)


@dataclass(frozen=True)
class Plan:
    """What can be settled about a chunk before the writer: its trait columns, the rows
    whose identifiers are valid and unique in the chunk, and each row's keys."""

    names: list[str]
    ok: np.ndarray
    values: dict[str, pa.Array]  # identifier type → each row's normalized value (or null)
    hashes: dict[str, np.ndarray]  # identifier type → each row's ``key_hash`` (``values``)
    # the ``ok`` rows' attribute and provenance JSON, in row order (``json_columns``):
    # built here rather than in the writer, whose turn is then DuckDB's and not the GIL's
    attributes: pa.Array
    provenance: pa.Array


_local = threading.local()


def _hashing_cursor() -> Any:
    """An in-memory DuckDB for ``key_hashes`` beside the writer (the same SQL function)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def plan(
    svc: PlanRules, table: pa.Table, ctx: ChunkStamp, trait_columns: frozenset[str]
) -> Plan | None:
    """Normalize the chunk's identifiers, hash their keys and write the JSON of the rows
    that may be new (no stored data: runs outside the writer, beside the previous chunk's
    unit of work); None when the column-wise path does not apply."""
    names = trait_names(table, trait_columns)
    if table.num_rows < MIN_ROWS or not expressible(svc, table, names):
        return None
    ok, values = _eligible(svc, table)
    if ok.sum() < MIN_ROWS:
        return None
    attributes, provenance = json_columns(ctx, table.filter(pa.array(ok)), names)
    hashes = column_hashes(ctx.workspace_id, values)
    return Plan(names, ok, values, hashes, attributes, provenance)


def create_fresh(
    svc: IdentityService, conn: Any, ctx: LoadContext, table: pa.Table, planned: Plan | None
) -> Fresh:
    """Create the chunk's brand-new contacts; the rows left are for identity resolution."""
    none = Fresh(np.zeros(table.num_rows, dtype=bool), np.zeros(0, dtype=np.int64))
    if planned is None:
        return none
    ok, hashes = _unknown(svc, conn, ctx.workspace_id, planned)
    rows = pa.array(np.flatnonzero(ok))
    if len(rows) < MIN_ROWS:
        return none
    ids = allocate_ids(conn, len(rows))
    kept = pa.array(ok[planned.ok])  # of the planned rows, those still new
    json = (planned.attributes.filter(kept), planned.provenance.filter(kept))
    values = {t: v.take(rows) for t, v in planned.values.items()}
    _insert(conn, ctx, table.take(rows), json, ids, values)
    svc.known.added(hashes.tolist())
    return Fresh(ok, ids)


def json_columns(ctx: ChunkStamp, table: pa.Table, names: list[str]) -> tuple[pa.Array, pa.Array]:
    """Each row's attributes and provenance JSON, the text identity writes for a new contact
    (``bulk.fresh_values`` + ``bulk.provenance_json``; the values here are text), joined a
    column at a time: ``{"name":"value",…}`` of the non-empty cells, and for each of them
    ``"name":{"source":"import","at":…,"message_id":…}``.
    """
    keys = [n.removeprefix("attr.") for n in names]
    stamp = json_strings(ctx.message_ids(table.column(ROW)))
    one = pc.binary_join_element_wise(
        f'{{"source":"import","at":{dumps(ctx.at.isoformat())},"message_id":', stamp, "}", ""
    )
    attributes, provenance = [], []
    for key, name in zip(keys, names, strict=True):
        text = _texts(table, name)
        filled = pc.and_(text.is_valid(), pc.not_equal(text, ""))
        named = dumps(key) + ":"
        attributes.append(
            _where(filled, pc.binary_join_element_wise(named, json_strings(text), ""))
        )
        provenance.append(_where(filled, pc.binary_join_element_wise(named, one, "")))
    return _object(attributes, table.num_rows), _object(provenance, table.num_rows)


def json_strings(text: pa.Array) -> pa.Array:
    """Each value as a JSON string, as ``dumps`` writes it (quoted; the few values with a
    quote, a backslash or a control character escaped by ``dumps`` itself).

    >>> raws = ["Ann", 'a "q"', None, "Олена", "tab\\t"]
    >>> json_strings(pa.array(raws)).to_pylist() == [dumps(r) if r else None for r in raws]
    True
    """
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    escape = as_flags(pc.match_substring_regex(text, r'["\\\x00-\x1f]'))
    if not escape.any():
        return quoted
    rows = np.flatnonzero(escape)
    found = [dumps(v) for v in text.take(pa.array(rows)).to_pylist()]
    return pc.replace_with_mask(quoted, pa.array(escape), pa.array(found, pa.string()))


def _texts(table: pa.Table, name: str) -> pa.Array:
    """A trait column as identify messages carry it (dates as ISO text)."""
    col = table.column(name)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def _where(mask: pa.Array, values: pa.Array) -> pa.Array:
    return pc.if_else(mask, values, pa.scalar(None, pa.string()))


def _object(members: list[pa.Array], n: int) -> pa.Array:
    """``{`` the non-null members joined by commas ``}`` of each row.

    (pyarrow 26's ``null_handling="skip"`` drops a row whose members are all null, so each
    member brings its comma and the first is cut.)

    >>> members = [pa.array(['"a":1', None, None]), pa.array(['"b":2', '"b":3', None])]
    >>> _object(members, 3).to_pylist()
    ['{"a":1,"b":2}', '{"b":3}', '{}']
    """
    if not members:
        return pa.array(["{}"] * n, pa.string())
    led = [pc.binary_join_element_wise(",", m, "") for m in members]
    inner = pc.binary_join_element_wise(*led, "", null_handling="replace", null_replacement="")
    return pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(inner, 1), "}", "")


def _insert(
    conn: Any,
    ctx: LoadContext,
    table: pa.Table,
    json: tuple[pa.Array, pa.Array],
    ids: np.ndarray,
    values: dict[str, pa.Array],
) -> None:
    def text(name: str) -> pa.Array:
        return pa.array(
            [
                v.strip() or None if isinstance(v, str) else None
                for v in _texts(table, name).to_pylist()
            ]
            if name in table.column_names
            else [None] * table.num_rows,
            pa.string(),
        )

    attributes, provenance = json
    _fresh = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "attributes": attributes,
            "provenance": provenance,
            "language": text("language"),
            "timezone": text("timezone"),
        }
    )
    with registered(conn, "_fresh", _fresh):
        conn.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at, last_seen_at,"
            " merged_into, attributes, provenance, language, timezone)"
            " SELECT $ws, id, $at, $stamp, $at, NULL, attributes, provenance, language,"
            " timezone FROM _fresh",
            {"ws": ctx.workspace_id, "at": ctx.at, "stamp": datetime.now(UTC)},
        )
    with registered(conn, "_fresh_ids", _identities(values, ids)):
        conn.execute(
            "INSERT INTO identities (workspace_id, type, value, contact_id, first_seen,"
            " last_seen) SELECT $ws, type, value, contact_id, $at, $at FROM _fresh_ids",
            {"ws": ctx.workspace_id, "at": ctx.at},
        )


def _identities(values: dict[str, pa.Array], ids: np.ndarray) -> pa.Table:
    """``(type, value, contact_id)`` of every identifier the rows carry: row by row, each
    row's in column order (the order identity resolution inserts them)."""
    types, found, owners, order = [], [], [], []
    for j, column in enumerate(values.values()):
        rows = np.flatnonzero(as_flags(column.is_valid()))
        types.append(np.full(rows.size, j, dtype=np.int64))
        found.append(column.take(pa.array(rows)))
        owners.append(ids[rows])
        order.append(rows * len(values) + j)
    by_row = pa.array(np.argsort(np.concatenate(order), kind="stable"))
    names = pa.array(list(values), pa.string())
    return pa.table(
        {
            "type": names.take(pa.array(np.concatenate(types))).take(by_row),
            "value": pa.concat_arrays(found).take(by_row),
            "contact_id": pa.array(np.concatenate(owners), pa.int64()).take(by_row),
        }
    )
