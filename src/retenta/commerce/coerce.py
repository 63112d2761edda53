"""Set-based type coercion with per-row errors: one SQL pass over a registered Arrow table.

Each target column is cast with ``TRY_CAST`` (or a custom conversion); a value that was
given but does not cast, a missing required value, or a failed check becomes an error
``{"row", "field", "reason"}`` and the row is left out of the clean table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ROW = "_row"

REASONS = {
    "VARCHAR": "expected text",
    "DECIMAL(18, 2)": "expected a number (money, 2 decimals)",
    "DOUBLE": "expected a number",
    "BIGINT": "expected an integer",
    "INTEGER": "expected an integer",
    "BOOLEAN": "expected true or false",
    "DATE": "expected a date (YYYY-MM-DD)",
    "TIMESTAMPTZ": "expected a date-time (ISO 8601)",
    "VARCHAR[]": "expected a list of text",
    "JSON": "expected a JSON object",
}


@dataclass(frozen=True)
class Column:
    """How one target column is produced from the input column of the same name.

    ``convert`` is an SQL expression over ``{raw}`` used instead of ``TRY_CAST``;
    ``check`` is an SQL predicate over ``{v}`` (the converted value) that must hold.
    """

    name: str
    sql_type: str
    required: bool = False
    convert: str | None = None
    check: str | None = None
    check_reason: str = ""


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted.

    >>> quote_ident('we"ird')
    '"we""ird"'
    """
    return '"' + name.replace('"', '""') + '"'


def value_sql(col: Column, present: bool) -> str:
    """The SQL expression of a target column's value.

    >>> value_sql(Column("price", "DECIMAL(18, 2)"), True)
    'TRY_CAST("price" AS DECIMAL(18, 2))'
    >>> value_sql(Column("sku", "VARCHAR"), True)
    'NULLIF(trim(CAST("sku" AS VARCHAR)), \\'\\')'
    >>> value_sql(Column("brand", "VARCHAR"), False)
    'CAST(NULL AS VARCHAR)'
    """
    if not present:
        return f"CAST(NULL AS {col.sql_type})"
    raw = quote_ident(col.name)
    if col.convert:
        return col.convert.format(raw=raw)
    if col.sql_type == "VARCHAR":
        return f"NULLIF(trim(CAST({raw} AS VARCHAR)), '')"
    if col.sql_type in ("INTEGER", "BIGINT"):  # TRY_CAST would round '1.5' to 2
        num = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN {num} = floor({num}) THEN TRY_CAST({num} AS {col.sql_type}) END"
    return f"TRY_CAST({raw} AS {col.sql_type})"


def error_sql(col: Column, present: bool) -> list[str]:
    """SQL struct expressions, each NULL unless this column's value is wrong."""
    v = value_sql(col, present)
    field = col.name.replace("'", "''")
    out = []
    if present:
        blank = f"trim(CAST({quote_ident(col.name)} AS VARCHAR)) <> ''"
        reason = REASONS.get(col.sql_type, f"expected {col.sql_type}").replace("'", "''")
        cond = f"{quote_ident(col.name)} IS NOT NULL AND {blank} AND ({v}) IS NULL"
        out.append(_err(cond, field, reason))
    if col.required:
        out.append(_err(f"({v}) IS NULL", field, "required"))
    if col.check:
        check = col.check.format(v=f"({v})")
        out.append(_err(f"({v}) IS NOT NULL AND NOT ({check})", field, col.check_reason))
    return out


def _err(cond: str, field: str, reason: str) -> str:
    reason = reason.replace("'", "''")
    return f"CASE WHEN {cond} THEN {{'field': '{field}', 'reason': '{reason}'}} END"


def coerce_sql(columns: list[Column], present: set[str], source: str) -> str:
    """One SELECT producing ``_row``, every target column and ``_errors``."""
    values = [f"{value_sql(c, c.name in present)} AS {quote_ident(c.name)}" for c in columns]
    errors = [e for c in columns for e in error_sql(c, c.name in present)]
    err_list = (
        "list_filter([" + ", ".join(errors) + "], lambda e: e IS NOT NULL)" if errors else "[]"
    )
    return f"SELECT {ROW}, {', '.join(values)}, {err_list} AS _errors FROM {source}"


def with_row_numbers(table: pa.Table) -> pa.Table:
    return table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))


def coerce(
    conn: Any, table: pa.Table, columns: list[Column], *, name: str
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Cast ``table`` to ``columns``; returns the clean rows (with ``_row``) and the errors."""
    source = f"_cm_raw_{name}"
    conn.register(source, with_row_numbers(table))
    try:
        sql = coerce_sql(columns, set(table.column_names), source)
        result = conn.sql(sql).to_arrow_table()
    finally:
        conn.unregister(source)
    n_errors = pc.list_value_length(result["_errors"])
    errors = errors_of(result.filter(pc.greater(n_errors, 0)))
    clean = result.filter(pc.equal(n_errors, 0)).drop_columns(["_errors"])
    return clean, errors


def errors_of(bad: pa.Table) -> list[dict[str, Any]]:
    rows = bad[ROW].to_pylist()
    lists = bad["_errors"].to_pylist()
    return [{"row": r, **e} for r, errs in zip(rows, lists, strict=True) for e in errs]


def unknown_columns(table: pa.Table, allowed: list[str]) -> list[str]:
    """Input columns that no target column reads (reported rather than silently ignored).

    >>> unknown_columns(pa.table({"sku": ["a"], "colour": ["red"]}), ["sku", "name"])
    ['colour']
    """
    return [c for c in table.column_names if c not in allowed]
