"""Brand-new people of a contacts import, created column-wise (no per-row messages).

``identity.bulk.create_new_contacts`` already settles "every identifier of the row is new"
set-based, but it starts from one ``Message`` per row and builds each contact's JSON in
Python (~40 µs a row: most of a 1M-row import). A contacts file is columns, so this does
the same decision and the same rows by column:

- each identifier column is normalized by identity's own ``Normalizer`` (phones in E.164
  shape by ``identity.bulk.normalized_phones``, a column at a time);
- a row qualifies when every identifier it carries is valid, none is carried by another
  row of the chunk, none is (or may be) stored (``KnownIdentifiers`` by hash), none belongs
  to an erased person, and the per-type limits allow one of each — exactly the rows
  ``create_new_contacts`` would take;
- ``contacts`` and ``identities`` are appended from Arrow by one statement each; the
  attribute and provenance JSON is the text identity writes for a new contact.

Every other row goes the regular way (messages → ``create_new_contacts`` → ``resolve``),
so conflicts, merges, invalid values and suppression are decided by identity resolution.
A chunk this cannot express (a custom identifier trait among the columns, a ``union``
field policy, a non-text trait) goes the regular way whole.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retenta.identity.bulk import allocate_ids, maybe_stored, normalized_phones
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
    """What a plan reads of identity: ``IdentityService``, or ``planning.Rules`` in a worker."""

    @property
    def settings(self) -> IdentitySettings: ...
    @property
    def normalizer(self) -> Normalizer: ...
    @property
    def policies(self) -> Policies: ...
    @property
    def rule_settings(self) -> RuleSettings: ...


class ChunkStamp(Protocol):
    """What a plan reads of the job: ``LoadContext``, or ``planning.Stamp`` in a worker."""

    @property
    def workspace_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    def message_id(self, row: int, suffix: str = "") -> str: ...


# File column → identifier type, in the order identity offers them (user id first).
IDENTIFIER_COLUMNS = (("external_id", "external_id"), ("email", "email"), ("phone", "phone"))
MIN_ROWS = 64  # below this the regular path is as fast


@dataclass(frozen=True)
class Fresh:
    """Rows created here (``mask``) and the contact id of each of them (``ids``)."""

    mask: np.ndarray
    ids: np.ndarray


def _texts(table: pa.Table, name: str) -> list[Any]:
    """A trait column as identify messages carry it (dates as ISO text)."""
    col = table.column(name)
    if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.string())
    values: list[Any] = col.to_pylist()
    return values


def trait_names(table: pa.Table, trait_columns: frozenset[str]) -> list[str]:
    """The columns that become traits (as ``loaders.identify_messages`` picks them)."""
    return [c for c in table.column_names if c in trait_columns or c.startswith("attr.")]


def expressible(svc: PlanRules, table: pa.Table, names: list[str]) -> bool:
    """Whether a new contact of this chunk is plain column work (else: the regular path)."""
    keys = {n.removeprefix("attr.") for n in names}
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


def _normalized(svc: PlanRules, id_type: str, raws: list[Any]) -> list[tuple[Any, Any]]:
    """``(value, reason)`` per raw value, as identity's normalizer answers."""
    norm = svc.normalizer
    if id_type == "phone":
        fast = normalized_phones(raws, svc.settings)
        return [(None, "empty") if r is None else (fast.get(r) or norm(id_type, r)) for r in raws]
    return [(None, "empty") if r is None else norm(id_type, r) for r in raws]


def _eligible_keys(
    svc: PlanRules, table: pa.Table, ws: str
) -> tuple[np.ndarray, list[list[tuple[str, str, str]]], dict[str, list[Any]]]:
    """Rows whose identifiers are all valid and unique in the chunk, each row's keys, and
    each identifier column's normalized values (None where a row carries none)."""
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    keys: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]
    columns: dict[str, list[Any]] = {}
    for column, id_type in IDENTIFIER_COLUMNS:
        if column not in table.column_names:
            continue
        found = _normalized(svc, id_type, table.column(column).to_pylist())
        values = columns[id_type] = [value for value, _ in found]
        counts: dict[str, int] = {}
        for value in values:
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        for i, (value, reason) in enumerate(found):
            if value is None:
                if reason != "empty":
                    ok[i] = False  # identity resolution records the rejected value
            elif counts[value] > 1:
                ok[i] = False  # another row carries it too: their order matters
            else:
                keys[i].append((ws, id_type, value))
    ok &= np.fromiter((bool(k) for k in keys), dtype=bool, count=n)
    return ok, keys, columns


def column_hashes(ws: str, columns: dict[str, list[Any]], ok: np.ndarray) -> list[int]:
    """``key_hash`` of the keys of the ``ok`` rows in row order (each row's keys in column
    order), hashed a column at a time in DuckDB: the keys as one list of tuples, split
    again into columns, cost a third of a chunk's plan.

    >>> from retenta.identity.known import key_hash
    >>> cols = {"external_id": ["7", None, "9"], "email": ["a@x.io", "b@x.io", None]}
    >>> got = column_hashes("w", cols, np.array([True, True, False]))
    >>> got == [key_hash(k) for k in [("w", "external_id", "7"), ("w", "email", "a@x.io"),
    ...                               ("w", "email", "b@x.io")]]
    True
    """
    if not columns or not ok.any():
        return []
    types = list(columns)
    _id_columns = pa.table({t: pa.array(columns[t], pa.string()) for t in types})
    sql = ", ".join(
        f'md5_number_lower(concat_ws(chr(31), $ws, \'{t}\', "{t}"))::UBIGINT AS "{t}"'
        for t in types
    )
    found = _hashing_cursor().execute(f"SELECT {sql} FROM _id_columns", {"ws": ws}).fetchnumpy()
    hashes = np.column_stack([np.asarray(found[t], dtype=np.uint64) for t in types])
    present = np.column_stack([_present(columns[t]) for t in types])
    selected: list[int] = hashes[ok][present[ok]].tolist()
    return selected


def _present(values: list[Any]) -> np.ndarray:
    return np.fromiter((v is not None for v in values), dtype=bool, count=len(values))


def _unknown(svc: IdentityService, conn: Any, planned: Plan) -> tuple[np.ndarray, list[int]]:
    """``ok`` less rows with an identifier stored or suppressed; the hashes of the rest."""
    ok, keys, hashes = planned.ok, planned.keys, planned.hashes
    rows = np.flatnonzero(ok)
    flat = [k for i in rows for k in keys[i]]
    svc.known.sync(conn, identity_count(conn))
    stored = maybe_stored(svc.known, hashes)
    per_row = np.fromiter((len(keys[i]) for i in rows), dtype=np.int64, count=len(rows))
    owner = np.repeat(np.arange(len(rows)), per_row)
    hit = np.zeros(len(rows), dtype=bool)
    np.logical_or.at(hit, owner, stored)
    suppressed = svc.suppressed_hashes(conn, flat[0][0]) if flat else set()
    if suppressed:
        for j, (_, t, v) in enumerate(flat):
            if (t, identifier_hash(t, v)) in suppressed:
                hit[owner[j]] = True
    out = ok.copy()
    out[rows[hit]] = False
    kept = ~hit[owner]
    return out, [h for h, keep in zip(hashes, kept.tolist(), strict=True) if keep]


@dataclass(frozen=True)
class Plan:
    """What can be settled about a chunk before the writer: its trait columns, the rows
    whose identifiers are valid and unique in the chunk, and each row's keys."""

    names: list[str]
    ok: np.ndarray
    keys: list[list[tuple[str, str, str]]]
    hashes: list[int]  # ``key_hash`` of the keys of the ``ok`` rows, in row order
    # the ``ok`` rows' attribute and provenance JSON, in row order (``_json_columns``):
    # built here rather than in the writer, whose turn is then DuckDB's and not the GIL's
    attributes: list[str]
    provenance: list[str]


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
    ok, keys, columns = _eligible_keys(svc, table, ctx.workspace_id)
    if ok.sum() < MIN_ROWS:
        return None
    rows = table.take(pa.array(np.flatnonzero(ok)))
    attributes, provenance = _json_columns(ctx, rows, names, rows.column(ROW).to_pylist())
    hashes = column_hashes(ctx.workspace_id, columns, ok)
    return Plan(names, ok, keys, hashes, attributes, provenance)


def create_fresh(
    svc: IdentityService, conn: Any, ctx: LoadContext, table: pa.Table, planned: Plan | None
) -> Fresh:
    """Create the chunk's brand-new contacts; the rows left are for identity resolution."""
    none = Fresh(np.zeros(table.num_rows, dtype=bool), np.zeros(0, dtype=np.int64))
    if planned is None:
        return none
    ok, hashes = _unknown(svc, conn, planned)
    rows = np.flatnonzero(ok)
    if len(rows) < MIN_ROWS:
        return none
    ids = allocate_ids(conn, len(rows))
    keys = [planned.keys[i] for i in rows]
    kept = ok[planned.ok].tolist()  # of the planned rows, those still new
    json = (list(compress(planned.attributes, kept)), list(compress(planned.provenance, kept)))
    _insert(conn, ctx, table.take(pa.array(rows)), json, ids, keys)
    svc.known.added(hashes)
    return Fresh(ok, ids)


def _json_columns(
    ctx: ChunkStamp, table: pa.Table, names: list[str], rows: list[int]
) -> tuple[list[str], list[str]]:
    """Each new contact's attributes and provenance JSON, the text identity writes for a new
    contact (``bulk.fresh_values`` + ``bulk.provenance_json``; values here are text).

    (DuckDB's ``json_merge_patch`` to drop the empty values cost 2× this loop.)
    """
    keys = [n.removeprefix("attr.") for n in names]
    columns = [_texts(table, n) for n in names]
    at = ctx.at.isoformat()
    named = {k: f"{dumps(k)}:" for k in keys}  # provenance_json's text, each name once
    attributes, provenance = [], []
    for i, values in enumerate(zip(*columns, strict=True) if columns else [()] * len(rows)):
        present = {k: v for k, v in zip(keys, values, strict=True) if v is not None and v != ""}
        attributes.append(dumps(present))
        one = dumps({"source": "import", "at": at, "message_id": ctx.message_id(rows[i])})
        provenance.append("{" + ",".join(named[k] + one for k in present) + "}")
    return attributes, provenance


def _insert(
    conn: Any,
    ctx: LoadContext,
    table: pa.Table,
    json: tuple[list[str], list[str]],
    ids: np.ndarray,
    keys: list[list[tuple[str, str, str]]],
) -> None:
    def text(name: str) -> pa.Array:
        return pa.array(
            [v.strip() or None if isinstance(v, str) else None for v in _texts(table, name)]
            if name in table.column_names
            else [None] * table.num_rows,
            pa.string(),
        )

    attributes, provenance = json
    _fresh = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "attributes": pa.array(attributes, pa.string()),
            "provenance": pa.array(provenance, pa.string()),
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
    per_row = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    flat = [k for row in keys for k in row]
    _fresh_ids = pa.table(
        {
            "type": pa.array([t for _, t, _ in flat], pa.string()),
            "value": pa.array([v for _, _, v in flat], pa.string()),
            "contact_id": pa.array(np.repeat(ids, per_row), pa.int64()),
        }
    )
    with registered(conn, "_fresh_ids", _fresh_ids):
        conn.execute(
            "INSERT INTO identities (workspace_id, type, value, contact_id, first_seen,"
            " last_seen) SELECT $ws, type, value, contact_id, $at, $at FROM _fresh_ids",
            {"ws": ctx.workspace_id, "at": ctx.at},
        )
