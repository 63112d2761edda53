"""Export of a segment's members to CSV or Parquet: DuckDB ``COPY`` into a temp file, then
streamed to the client in chunks and removed.

One query joins the members with their live contact row and their most recent email, phone
and external id, so a million members export without a round trip per person.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retenta.contacts.traits import FIRST_KEYS, LAST_KEYS, NAME_KEYS

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet, COMPRESSION zstd"}
CHUNK_BYTES = 1 << 20
COLUMNS = (
    "contact_id",
    "email",
    "phone",
    "external_id",
    "name",
    "entered_at",
    "created_at",
    "last_seen_at",
)


def _first_text(keys: tuple[str, ...]) -> str:
    """``coalesce`` of the non-blank text attributes among ``keys`` (constant names).

    >>> _first_text(("a",))
    "coalesce(nullif(trim(c.attributes->>'$.a'), ''))"
    """
    parts = ", ".join(f"nullif(trim(c.attributes->>'$.{k}'), '')" for k in keys)
    return f"coalesce({parts})"


def name_sql() -> str:
    """The display name in SQL, the same rule as ``contacts.traits.display_name``."""
    first, last = _first_text(FIRST_KEYS), _first_text(LAST_KEYS)
    return f"coalesce({_first_text(NAME_KEYS)}, nullif(concat_ws(' ', {first}, {last}), ''))"


def export_query(members_sql: str, *, entered: bool) -> str:
    """Members (``contact_id`` [, ``entered_at``]) with identifiers and name; one ``?``: the
    workspace id (identities of this workspace only)."""
    entered_col = "m.entered_at" if entered else "CAST(NULL AS TIMESTAMPTZ)"
    return f"""
WITH m AS ({members_sql}),
ids AS (
    SELECT i.contact_id,
        arg_max(i.value, i.last_seen) FILTER (WHERE i.type = 'email') AS email,
        arg_max(i.value, i.last_seen) FILTER (WHERE i.type = 'phone') AS phone,
        arg_max(i.value, i.last_seen) FILTER (WHERE i.type = 'external_id') AS external_id
    FROM identities i SEMI JOIN m ON i.contact_id = m.contact_id
    WHERE i.workspace_id = $ws AND i.type IN ('email', 'phone', 'external_id')
    GROUP BY i.contact_id
)
SELECT m.contact_id, ids.email, ids.phone, ids.external_id, {name_sql()} AS name,
    {entered_col} AS entered_at, c.created_at, c.last_seen_at
FROM m JOIN contacts c ON c.id = m.contact_id AND c.workspace_id = $ws
LEFT JOIN ids ON ids.contact_id = m.contact_id
ORDER BY m.contact_id"""


def write_file(
    cur: Any,
    members_sql: str,
    *,
    workspace_id: str,
    entered: bool,
    fmt: str,
    params: dict[str, Any] | None = None,
) -> Path:
    """COPY the members to a new temp file; the caller streams it and removes it.

    ``params`` bind the member query's own ``$name`` placeholders, if any (``$ws`` is ours).
    """
    fd, name = tempfile.mkstemp(prefix="retenta-segment-", suffix=f".{fmt}")
    os.close(fd)
    query = export_query(members_sql, entered=entered)
    try:
        cur.execute(
            f"COPY ({query}) TO '{_quoted_path(name)}' ({COPY_OPTIONS[fmt]})",
            {**(params or {}), "ws": workspace_id},
        )
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _quoted_path(name: str) -> str:
    """A path we created ourselves (mkstemp), quoted as a SQL string literal.

    >>> _quoted_path("/tmp/a'b")
    "/tmp/a''b"
    """
    return name.replace("'", "''")


def stream_and_remove(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks; the file is removed when done (or when the client leaves)."""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
