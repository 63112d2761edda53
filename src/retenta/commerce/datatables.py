"""Custom data tables (like ExpertSender's): user-defined columns, rows linked to a contact
or a product. Rows live in one generic table (``custom_rows``) as typed JSON, so a table's
name or columns never reach SQL as identifiers; values are bound or travel as Arrow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.commerce.coerce import ROW, Column, coerce, quote_ident
from retenta.commerce.orders import registered
from retenta.storage.base import rows_as_dicts

SQL_TYPES = {
    "text": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",
}
LINK_FIELDS = ("contact_id", "identifiers", "sku")
IDENTIFIER_TYPES = ("external_id", "email", "phone", "anonymous_id")


def scalar_text(value: Any) -> str | None:
    """A JSON value as the text DuckDB casts from; lists and objects are not scalars.

    >>> scalar_text(True), scalar_text(3.0), scalar_text(" x "), scalar_text(None)
    ('true', '3', ' x ', None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise TypeError("expected a single value, not a list or object")
    return str(value)


def split_rows(
    rows: list[dict[str, Any]], columns: list[dict[str, Any]]
) -> tuple[dict[str, list[str | None]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Data columns as text lists, the link fields per row, and structural errors. Pure.

    >>> cols = [{"name": "n", "type": "integer", "required": True}]
    >>> data, links, errors = split_rows([{"n": 1, "sku": "a"}, {"m": 2}], cols)
    >>> data, links, errors
    ({'n': ['1', None]}, [{'sku': 'a'}, {}], [{'row': 1, 'field': 'm', 'reason': 'unknown column'}])
    """
    names = [c["name"] for c in columns]
    data: dict[str, list[str | None]] = {n: [] for n in names}
    links, errors = [], []
    for i, row in enumerate(rows):
        links.append({k: row[k] for k in LINK_FIELDS if k in row})
        errors += [
            {"row": i, "field": k, "reason": "unknown column"}
            for k in row
            if k not in names and k not in LINK_FIELDS
        ]
        for name in names:
            try:
                data[name].append(scalar_text(row.get(name)))
            except TypeError as exc:
                data[name].append(None)
                errors.append({"row": i, "field": name, "reason": str(exc)})
    return data, links, errors


def row_columns(columns: list[dict[str, Any]], key_columns: list[str]) -> list[Column]:
    return [
        Column(c["name"], SQL_TYPES[c["type"]], required=c["required"] or c["name"] in key_columns)
        for c in columns
    ]


def json_value(column: dict[str, Any]) -> str:
    """A column's value as it goes into the row's JSON (date-times as ISO 8601 in UTC).

    >>> print(json_value({"name": "seen", "type": "datetime"}))
    strftime("seen", '%Y-%m-%dT%H:%M:%SZ')
    """
    name = quote_ident(column["name"])
    return f"strftime({name}, '%Y-%m-%dT%H:%M:%SZ')" if column["type"] == "datetime" else name


def stage_sql(columns: list[dict[str, Any]], key_columns: list[str]) -> str:
    """``row_key`` (canonical JSON of the key values) and ``data`` (typed JSON), per row."""
    keys = ", ".join(f"CAST({quote_ident(k)} AS VARCHAR)" for k in key_columns)
    # names passed schemas.valid_name(): [a-z0-9_] only, safe inside the quotes
    fields = ", ".join(f"'{c['name']}', {json_value(c)}" for c in columns)
    return (
        f"SELECT {ROW}, CAST(to_json(list_value({keys})) AS VARCHAR) AS row_key,"
        f" CAST(json_object({fields}) AS VARCHAR) AS data FROM _cm_rows"
    )


def coerce_rows(
    conn: Any, definition: dict[str, Any], rows: list[dict[str, Any]]
) -> tuple[pa.Table, list[dict[str, Any]], list[dict[str, Any]]]:
    """Typed rows (``_row``, ``row_key``, ``data``), the link fields, and every error."""
    columns, keys = definition["columns"], definition["key_columns"]
    data, links, errors = split_rows(rows, columns)
    table = pa.table({n: pa.array(v, pa.string()) for n, v in data.items()})
    clean, cast_errors = coerce(conn, table, row_columns(columns, keys), name="rows")
    with registered(conn, _cm_rows=clean):
        staged = conn.sql(stage_sql(columns, keys)).to_arrow_table()
    return staged, links, sorted(errors + cast_errors, key=lambda e: (e["row"], e["field"]))


UPSERT_SQL = (
    "INSERT INTO custom_rows (workspace_id, table_name, row_key, contact_id, sku, data, updated_at)"
    " SELECT $ws, $name, row_key, contact_id, sku, CAST(data AS JSON), $now FROM _cm_rows"
    f" QUALIFY row_number() OVER (PARTITION BY row_key ORDER BY {ROW} DESC) = 1"
    " ON CONFLICT (workspace_id, table_name, row_key) DO UPDATE SET data = excluded.data,"
    " contact_id = excluded.contact_id, sku = excluded.sku, updated_at = excluded.updated_at"
)
ROW_SCHEMA = pa.schema(
    [(ROW, pa.int64()), ("row_key", pa.string()), ("data", pa.string()),
     ("contact_id", pa.int64()), ("sku", pa.string())]
)  # fmt: skip


def write_rows(
    conn: Any, workspace_id: str, name: str, rows: list[dict[str, Any]], now: datetime
) -> int:
    """Upsert linked rows (``_row``, ``row_key``, ``data``, ``contact_id``, ``sku``)."""
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    params = {"ws": workspace_id, "name": name, "now": now}
    with registered(conn, _cm_rows=table):
        conn.execute(UPSERT_SQL, params)
    return len({r["row_key"] for r in rows})


def create_table(conn: Any, workspace_id: str, spec: dict[str, Any], now: datetime) -> bool:
    """False when a table of that name exists already."""
    sql = "SELECT 1 FROM custom_tables WHERE workspace_id = ? AND name = ?"
    if conn.execute(sql, [workspace_id, spec["name"]]).fetchone():
        return False
    conn.execute(
        "INSERT INTO custom_tables (workspace_id, name, description, columns, key_columns, link,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [workspace_id, spec["name"], spec.get("description"),
         orjson.dumps(spec["columns"]).decode(), spec["key_columns"], spec["link"], now],
    )  # fmt: skip
    return True


TABLE_SELECT = (
    "SELECT t.name, t.description, t.columns, t.key_columns, t.link, t.created_at,"
    " (SELECT count(*) FROM custom_rows r WHERE r.workspace_id = t.workspace_id"
    "  AND r.table_name = t.name) AS rows FROM custom_tables t WHERE t.workspace_id = ?"
)


def _table(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "columns": orjson.loads(row["columns"])}


def list_tables(cur: Any, workspace_id: str) -> list[dict[str, Any]]:
    rows = rows_as_dicts(cur.execute(TABLE_SELECT + " ORDER BY t.name", [workspace_id]))
    return [_table(r) for r in rows]


def get_table(cur: Any, workspace_id: str, name: str) -> dict[str, Any] | None:
    rows = list(rows_as_dicts(cur.execute(TABLE_SELECT + " AND t.name = ?", [workspace_id, name])))
    return _table(rows[0]) if rows else None


def drop_table(conn: Any, workspace_id: str, name: str) -> int:
    """Deletes the table and its rows; returns how many rows went."""
    params = [workspace_id, name]
    row = conn.execute(
        "DELETE FROM custom_rows WHERE workspace_id = ? AND table_name = ? RETURNING 1", params
    ).fetchall()
    conn.execute("DELETE FROM custom_tables WHERE workspace_id = ? AND name = ?", params)
    return len(row)


def delete_rows(conn: Any, workspace_id: str, name: str, row_keys: list[str]) -> int:
    found = conn.execute(
        "DELETE FROM custom_rows WHERE workspace_id = ? AND table_name = ?"
        " AND list_contains(?, row_key) RETURNING 1",
        [workspace_id, name, row_keys],
    ).fetchall()
    return len(found)


def read_rows(
    cur: Any,
    workspace_id: str,
    name: str,
    *,
    contact_ids: list[int] | None,
    sku: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows by key order (keyset pagination on ``row_key``)."""
    where = ["workspace_id = ?", "table_name = ?"]
    params: list[Any] = [workspace_id, name]
    if contact_ids is not None:
        where.append("list_contains(?, contact_id)")
        params.append(contact_ids)
    if sku is not None:
        where.append("sku = ?")
        params.append(sku)
    if cursor:
        where.append("row_key > ?")
        params.append(cursor)
    sql = (
        "SELECT row_key, contact_id, sku, data, updated_at FROM custom_rows"
        f" WHERE {' AND '.join(where)} ORDER BY row_key LIMIT {int(limit) + 1}"
    )
    rows = list(rows_as_dicts(cur.execute(sql, params)))
    more, rows = len(rows) > limit, rows[:limit]
    cursor_out = rows[-1]["row_key"] if more and rows else None
    out = [
        {"key": orjson.loads(r["row_key"]), "contact_id": r["contact_id"], "sku": r["sku"],
         "data": orjson.loads(r["data"]), "updated_at": r["updated_at"]}
        for r in rows
    ]  # fmt: skip
    return out, cursor_out
