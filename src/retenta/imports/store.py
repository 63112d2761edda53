"""Named SQL for uploads, saved mappings, jobs and rejects. Every query is workspace-scoped
except the worker's own (which works by job id it has just read)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from retenta.imports.mapping import Reject

JOB_COLUMNS = (
    "id", "workspace_id", "entity", "file_name", "file_sha256", "stored_path", "format",
    "mapping", "status", "total_rows", "processed_rows", "accepted_rows", "rejected_rows",
    "error", "stats", "created_at", "updated_at", "started_at", "finished_at",
)  # fmt: skip
UPLOAD_COLUMNS = (
    "id", "workspace_id", "file_name", "file_sha256", "stored_path", "format", "size_bytes",
    "columns", "created_at",
)  # fmt: skip
_JSON_FIELDS = ("mapping", "stats", "columns", "raw")


@contextmanager
def registered(conn: Any, name: str, table: pa.Table) -> Iterator[None]:
    """Expose an Arrow table to SQL for one statement or a few.

    DuckDB refuses ``register`` while an earlier ``execute`` on the same connection has rows
    left unread (a ``fetchone`` elsewhere in the unit of work), so that result is completed
    first; it belongs to code that has already read what it needed.
    """
    settle(conn)
    conn.register(name, table)
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):  # an aborted transaction refuses it: report the cause
            conn.unregister(name)
        raise
    conn.unregister(name)


def settle(conn: Any) -> None:
    """Complete a result left partly read, so the next ``register`` (ours or a service's)
    is allowed (see ``registered``)."""
    if hasattr(conn, "complete"):
        conn.complete()


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        if isinstance(row.get(key), str):
            row[key] = orjson.loads(row[key])
    return row


def _one(cur: Any, sql: str, params: Sequence[Any], cols: Sequence[str]) -> dict[str, Any] | None:
    rows = cur.execute(sql, list(params)).fetchall()  # fetchall: leave no result half-read
    return _decode(dict(zip(cols, rows[0], strict=True))) if rows else None


def insert_upload(conn: Any, upload: dict[str, Any]) -> None:
    values = [
        orjson.dumps(upload[c]).decode() if c == "columns" else upload[c]
        for c in UPLOAD_COLUMNS[:-1]
    ]
    conn.execute(
        f"INSERT INTO import_uploads ({', '.join(UPLOAD_COLUMNS[:-1])})"
        f" VALUES ({', '.join('?' * (len(UPLOAD_COLUMNS) - 1))})",
        values,
    )


def get_upload(cur: Any, workspace_id: str, upload_id: str) -> dict[str, Any] | None:
    return _one(
        cur,
        f"SELECT {', '.join(UPLOAD_COLUMNS)} FROM import_uploads WHERE workspace_id = ? AND id = ?",
        [workspace_id, upload_id],
        UPLOAD_COLUMNS,
    )


def save_mapping(
    conn: Any, workspace_id: str, name: str, entity: str, mapping: dict[str, str]
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO import_mappings (workspace_id, name, entity, mapping)"
        " VALUES (?, ?, ?, ?)",
        [workspace_id, name, entity, orjson.dumps(mapping).decode()],
    )


def list_mappings(cur: Any, workspace_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT name, entity, mapping, created_at FROM import_mappings"
        " WHERE workspace_id = ? ORDER BY name",
        [workspace_id],
    ).fetchall()
    return [
        _decode(dict(zip(("name", "entity", "mapping", "created_at"), r, strict=True)))
        for r in rows
    ]


def get_mapping(cur: Any, workspace_id: str, name: str) -> dict[str, Any] | None:
    return _one(
        cur,
        "SELECT name, entity, mapping, created_at FROM import_mappings"
        " WHERE workspace_id = ? AND name = ?",
        [workspace_id, name],
        ("name", "entity", "mapping", "created_at"),
    )


def insert_job(conn: Any, job: dict[str, Any]) -> None:
    cols = (
        "id",
        "workspace_id",
        "entity",
        "file_name",
        "file_sha256",
        "stored_path",
        "format",
        "mapping",
        "status",
        "upload_id",
        "stats",
    )
    values = [orjson.dumps(job[c]).decode() if c in ("mapping", "stats") else job[c] for c in cols]
    conn.execute(
        f"INSERT INTO import_jobs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values
    )


def get_job(cur: Any, job_id: str, workspace_id: str | None = None) -> dict[str, Any] | None:
    sql = f"SELECT {', '.join(JOB_COLUMNS)} FROM import_jobs WHERE id = ?"
    params: list[Any] = [job_id]
    if workspace_id is not None:
        sql += " AND workspace_id = ?"
        params.append(workspace_id)
    return _one(cur, sql, params, JOB_COLUMNS)


def list_jobs(cur: Any, workspace_id: str, limit: int) -> list[dict[str, Any]]:
    rows = cur.execute(
        f"SELECT {', '.join(JOB_COLUMNS)} FROM import_jobs WHERE workspace_id = ?"
        " ORDER BY created_at DESC LIMIT ?",
        [workspace_id, limit],
    ).fetchall()
    return [_decode(dict(zip(JOB_COLUMNS, r, strict=True))) for r in rows]


def next_job_id(cur: Any) -> str | None:
    """Unfinished jobs, those interrupted mid-way first, then the oldest queued."""
    row = cur.execute(
        "SELECT id FROM import_jobs WHERE status IN ('running', 'queued')"
        " ORDER BY status = 'running' DESC, created_at LIMIT 1"
    ).fetchall()
    return str(row[0][0]) if row else None


def set_status(conn: Any, job_id: str, status: str, *, error: str | None = None) -> None:
    stamp = {
        "running": "started_at = coalesce(started_at, now()),",
        "done": "finished_at = now(),",
        "failed": "finished_at = now(),",
    }.get(status, "")
    conn.execute(
        f"UPDATE import_jobs SET status = ?, error = ?, {stamp} updated_at = now() WHERE id = ?",
        [status, error, job_id],
    )


def set_total(conn: Any, job_id: str, total: int) -> None:
    conn.execute(
        "UPDATE import_jobs SET total_rows = ?, updated_at = now() WHERE id = ?", [total, job_id]
    )


def advance(
    conn: Any, job_id: str, *, processed: int, accepted: int, rejected: int, stats: dict[str, int]
) -> None:
    """Move the checkpoint; called in the same unit of work as the chunk's writes."""
    conn.execute(
        "UPDATE import_jobs SET processed_rows = processed_rows + ?,"
        " accepted_rows = accepted_rows + ?, rejected_rows = rejected_rows + ?,"
        " stats = ?, updated_at = now() WHERE id = ?",
        [processed, accepted, rejected, orjson.dumps(stats).decode(), job_id],
    )


REJECT_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("row_number", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


def insert_rejects(conn: Any, job_id: str, rejects: Sequence[Reject]) -> None:
    if not rejects:
        return
    table = pa.table(
        {
            "job_id": [job_id] * len(rejects),
            "row_number": [r.row_number for r in rejects],
            "field": [r.field for r in rejects],
            "reason": [r.reason for r in rejects],
            "raw": [orjson.dumps(r.raw, default=str).decode() if r.raw else None for r in rejects],
        },
        schema=REJECT_SCHEMA,
    )
    with registered(conn, "_import_rejects", table):
        conn.execute(
            "INSERT INTO import_rejects"
            " SELECT job_id, row_number, field, reason, raw::JSON FROM _import_rejects"
        )


def malformed_lines(cur: Any, job_id: str) -> int:
    """Malformed CSV lines already reported (they are not records: resume skips records)."""
    ((n,),) = cur.execute(
        "SELECT count(*) FROM import_rejects WHERE job_id = ? AND field IS NULL", [job_id]
    ).fetchall()
    return int(n)


def list_rejects(
    cur: Any, job_id: str, *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    ((total,),) = cur.execute(
        "SELECT count(*) FROM import_rejects WHERE job_id = ?", [job_id]
    ).fetchall()
    rows = cur.execute(
        "SELECT row_number, field, reason, raw FROM import_rejects WHERE job_id = ?"
        " ORDER BY row_number, field NULLS FIRST LIMIT ? OFFSET ?",
        [job_id, limit, offset],
    ).fetchall()
    cols = ("row_number", "field", "reason", "raw")
    return int(total), [_decode(dict(zip(cols, r, strict=True))) for r in rows]


# An import appends for minutes; DuckDB's automatic checkpoint at every 16 MiB of WAL then
# rewrites the indexes of `contacts` and `identities` again and again (measured: ~25 s of
# the ~95 s of CPU of a 1M-contact import). During a job the writer checkpoints every
# 128 MiB (an eighth of this: storage/duckdb/engine.py, CHECKPOINT_SHARE).
IMPORT_CHECKPOINT_THRESHOLD = "1GiB"


def _checkpoint_threshold(conn: Any) -> str:
    value: str = conn.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    return value


_raised: dict[int, tuple[int, str]] = {}  # id(db) -> (jobs running, threshold before)
_raised_lock = threading.Lock()


@contextmanager
def fewer_checkpoints(db: Any, threshold: str = IMPORT_CHECKPOINT_THRESHOLD) -> Iterator[None]:
    """Raise DuckDB's automatic-checkpoint threshold for the block; the last of overlapping
    jobs restores the value found by the first."""
    with _raised_lock:
        running, before = _raised.get(id(db), (0, ""))
        if running == 0:
            before = db.write(_checkpoint_threshold)
            db.write(lambda c: c.execute(f"SET checkpoint_threshold = '{threshold}'"))
        _raised[id(db)] = (running + 1, before)
    try:
        yield
    finally:
        with _raised_lock:
            running, before = _raised.pop(id(db))
            if running > 1:
                _raised[id(db)] = (running - 1, before)
            else:
                db.write(lambda c: c.execute(f"SET checkpoint_threshold = '{before}'"))
