"""Column mapping: suggest one from headers, check one, and apply it to a chunk of raw rows.

Pure: no storage, no files. A chunk is a ``pyarrow.Table`` of text columns named as in the
file; the result is a typed table named by target field plus the rows that were rejected,
each with the field and the reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retenta.imports.coerce import COERCERS, Coerced, clean
from retenta.imports.fields import ENTITIES, SPECS, EntitySpec

ROW = "_row"  # the column holding each row's number in the file (header = row 1)


class MappingError(ValueError):
    """A mapping that cannot work; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Reject:
    row_number: int
    field: str | None
    reason: str
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class Chunk:
    """A coerced chunk: good rows typed by target field; every bad row in ``rejects``."""

    table: pa.Table
    rejects: list[Reject]
    rejected_rows: int = 0
    blank_rows: int = 0


def spec_for(entity: str) -> EntitySpec:
    if entity not in SPECS:
        raise MappingError("entity", f"unknown entity {entity!r}; expected one of {ENTITIES}")
    return SPECS[entity]


def header_key(header: str) -> str:
    """Compare headers loosely: case, spaces, dashes and underscores do not matter.

    >>> header_key(" E-Mail_Address "), header_key("Дата рождения")
    ('emailaddress', 'датарождения')
    """
    return re.sub(r"[\s_\-.:]+", "", header.strip().lower().replace("ё", "е"))


def _alias_index(spec: EntitySpec) -> dict[str, str]:
    index: dict[str, str] = {}
    for f in spec.fields:
        for name in (*f.aliases, f.name):
            index.setdefault(header_key(name), f.name)
        index[header_key(f.name)] = f.name
    return index


def suggest_mapping(entity: str, columns: list[str]) -> dict[str, str | None]:
    """Best guess of a target field per column (None = do not import the column).

    >>> suggest_mapping("contacts", ["E-mail", "Телефон", "Имя", "loyalty_tier"])
    {'E-mail': 'email', 'Телефон': 'phone', 'Имя': 'first_name', 'loyalty_tier': None}
    >>> suggest_mapping("contacts", ["attr.tier", "consent.viber"])
    {'attr.tier': 'attr.tier', 'consent.viber': 'consent.viber'}
    """
    spec = spec_for(entity)
    index = _alias_index(spec)
    out: dict[str, str | None] = {}
    taken: set[str] = set()
    for col in columns:
        guess = index.get(header_key(col))
        if guess is None and spec.field(col.strip()) is not None:
            guess = col.strip()
        out[col] = guess if guess not in taken else None
        if guess:
            taken.add(guess)
    return out


def validate_mapping(entity: str, columns: list[str], mapping: dict[str, str | None]) -> None:
    """Raise ``MappingError`` naming the column or field when the mapping cannot work."""
    spec = spec_for(entity)
    targets: dict[str, str] = {}
    for col, target in mapping.items():
        if not target:
            continue
        if col not in columns:
            raise MappingError(col, f"column {col!r} is not in the file")
        if spec.field(target) is None:
            raise MappingError(target, f"unknown field {target!r} for {entity}")
        if target in targets:
            raise MappingError(target, f"field {target!r} is mapped from two columns")
        targets[target] = col
    _check_required(spec, set(targets))


def _check_required(spec: EntitySpec, mapped: set[str]) -> None:
    for name in spec.required:
        if name not in mapped:
            raise MappingError(name, f"required field {name!r} is not mapped")
    if spec.identifiers and not mapped & set(spec.identifiers):
        wanted = ", ".join(spec.identifiers)
        raise MappingError(spec.identifiers[0], f"map at least one identifier: {wanted}")
    if spec.name == "orders":
        _check_order_lines(mapped)


def _check_order_lines(mapped: set[str]) -> None:
    if "items" in mapped and "sku" in mapped:
        raise MappingError("items", "map either per-line columns (sku…) or an items column")
    if "sku" in mapped and "price" not in mapped:
        raise MappingError("price", "a line needs its unit price: map 'price'")
    if not mapped & {"sku", "items", "total"}:
        raise MappingError("total", "map 'total', or the order's lines (sku, price) or items")


def active_mapping(mapping: Mapping[str, str | None]) -> dict[str, str]:
    return {col: target for col, target in mapping.items() if target}


def coerce_chunk(
    entity: str, raw: pa.Table, mapping: dict[str, str | None], first_row: int
) -> Chunk:
    """Typed columns per mapped field; rows with any bad cell are rejected (all reasons kept).

    ``first_row`` is the file row number of ``raw``'s first row (the header is row 1).
    """
    spec = spec_for(entity)
    rows = pa.array(np.arange(first_row, first_row + raw.num_rows, dtype=np.int64))
    blank = blank_rows(raw)
    n_blank = 0
    if blank is not None:
        n_blank = int(pc.sum(blank).as_py())
        raw, rows = raw.filter(pc.invert(blank)), rows.filter(pc.invert(blank))
    cols, failures = _coerce_columns(spec, raw, active_mapping(mapping))
    failures += _row_rules(spec, cols, failures)
    bad = _any_bad(raw.num_rows, failures)
    typed = pa.table({**cols, ROW: rows})
    rejects = _rejects(raw, rows, failures)
    good = typed.filter(pc.invert(bad)) if failures else typed
    return Chunk(good, rejects, raw.num_rows - good.num_rows, n_blank)


def blank_rows(raw: pa.Table) -> pa.Array | None:
    """Rows with no cell filled in (spreadsheets keep them); skipped, not rejected."""
    if raw.num_columns == 0:
        return None
    blank = None
    for col in raw.columns:
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(col), ""), True)
        blank = empty if blank is None else pc.and_(blank, empty)
    assert blank is not None
    return blank if pc.any(blank).as_py() else None


Failure = tuple[str, pa.Array, str, pa.Array | None]  # field, bad mask, reason, raw values


def _coerce_columns(
    spec: EntitySpec, raw: pa.Table, mapping: dict[str, str]
) -> tuple[dict[str, pa.Array], list[Failure]]:
    cols: dict[str, pa.Array] = {}
    failures: list[Failure] = []
    for col, target in mapping.items():
        target_field = spec.field(target)
        assert target_field is not None  # validate_mapping ran first
        cells = clean(raw.column(col).combine_chunks())
        result: Coerced = COERCERS[target_field.type](cells)
        cols[target] = result.values
        if result.bad is not None and pc.any(result.bad).as_py():
            failures.append((target, result.bad, result.reason, cells))
    return cols, failures


def _row_rules(spec: EntitySpec, cols: dict[str, pa.Array], failed: list[Failure]) -> list[Failure]:
    """Required fields present, and at least one identifier per row. A cell that failed
    coercion is already reported, so it does not also count as missing."""
    bad_cell = {name: mask for name, mask, _, _ in failed}
    out: list[Failure] = []
    for name in spec.required:
        if name in cols and cols[name].null_count:
            out.append(
                (name, _missing(cols[name], bad_cell.get(name)), "required field is empty", None)
            )
    ids = [n for n in spec.identifiers if n in cols]
    if ids:
        none = _missing(cols[ids[0]], bad_cell.get(ids[0]))
        for name in ids[1:]:
            none = pc.and_(none, _missing(cols[name], bad_cell.get(name)))
        if pc.any(none).as_py():
            reason = "no identifier: the row needs one of " + ", ".join(spec.identifiers)
            out.append((spec.identifiers[0], none, reason, None))
    if spec.name == "orders" and "sku" in cols:
        out += _line_rules(cols)
    return [f for f in out if pc.any(f[1]).as_py()]


def _missing(values: pa.Array, bad: pa.Array | None) -> pa.Array:
    empty = pc.is_null(values)
    return empty if bad is None else pc.and_(empty, pc.invert(bad))


def _line_rules(cols: dict[str, pa.Array]) -> list[Failure]:
    out: list[Failure] = []
    for name in ("sku", "price"):
        if cols[name].null_count:
            out.append((name, pc.is_null(cols[name]), "an order line needs sku and price", None))
    if "quantity" in cols:
        bad_qty = pc.fill_null(pc.less_equal(cols["quantity"], 0), False)
        if pc.any(bad_qty).as_py():
            out.append(("quantity", bad_qty, "quantity must be at least 1", None))
    return out


def _any_bad(n: int, failures: list[Failure]) -> pa.Array:
    bad = np.zeros(n, dtype=bool)
    for _, mask, _, _ in failures:
        bad |= mask.to_numpy(zero_copy_only=False)
    return pa.array(bad)


def _rejects(raw: pa.Table, rows: pa.Array, failures: list[Failure]) -> list[Reject]:
    """One ``Reject`` per bad cell, ordered by row; the raw row is kept for the report."""
    found: list[tuple[int, int, str, str]] = []  # (index, order, field, reason)
    for order, (target, mask, reason, cells) in enumerate(failures):
        idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        values = cells.take(pa.array(idx)).to_pylist() if cells is not None else [None] * len(idx)
        for i, value in zip(idx.tolist(), values, strict=True):
            why = f"{value!r}: {reason}" if value is not None else reason
            found.append((i, order, target, why))
    if not found:
        return []
    found.sort()
    index = sorted({i for i, *_ in found})
    raw_rows = dict(zip(index, raw.take(pa.array(index)).to_pylist(), strict=True))
    row_numbers = rows.to_numpy()
    return [Reject(int(row_numbers[i]), f, why, raw_rows[i]) for i, _, f, why in found]
