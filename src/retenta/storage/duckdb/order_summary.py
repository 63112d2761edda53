"""``order_summary``: each contact's order figures, so the money traits are a lookup.

Why: the traits ``orders``, ``revenue``, ``average_order_value``, ``first_order_at`` and
``last_order_at`` otherwise group every order line by its text order id and join every
order by it (at 1M contacts, 3M lines and 1.76M orders: 0.5–0.9 s of a builder count).

Exactness (members must not change): a row per raw contact holds its figures and ``fp``,
the sum of the hashes of every ``orders`` row of that contact and every ``order_items`` row
of those orders (one row with ``contact_id`` NULL holds the lines whose order is missing).
The compiler reads the summary only when ``in_sync``, computed in the snapshot the query runs
in (``snapshot``): the owners of orders marked since the last fold get their figures
recomputed from the live tables (the delta, which the compiler reads instead of their
rows), and the ``fp`` of the other rows plus the delta's must equal the same hash sum over
the live tables. The hash covers every column the figures read, so any insert, update or
delete of an order or a line that neither the summary nor the delta has seen makes the
sums differ, and the segment reads the tables as before (slower, the same members). The
live sum reads each row's stored hash (its ``fp`` column, migration 0041) and hashes only
the rows whose ``fp`` is NULL: a CHECK on both tables refuses any other ``fp`` than the
row's hash, so a write that changes a hashed column must clear it (the commerce writer's
updates do; a statement that does not is refused by the database) and the sums are the
full hash sums whoever wrote the rows (~30 ms CPU at 1M instead of ~130; the compaction
steps after a fold fill the NULL rows, a bounded slice a step). An erasure deletes the
person's orders, lines and summary rows in one transaction (``contacts.privacy`` empties
every table with a ``contact_id``), which keeps the sums equal. A false "in sync" needs
two 64-bit hash sums to collide.

Kept fresh in two steps, because recomputing a few contacts costs about as much as a scan of
the lines by order id (~150 ms CPU at 1M): the commerce writer ``mark``s the orders it
touches (one small insert in its transaction), and the compaction step ``fold``s the marks
every ``FOLD_AFTER`` (``refresh`` of their owners' rows, or ``rebuild`` when many). Between
a write and its fold a count pays for the delta (~0.15–0.2 s CPU at 1M: the owners' lookup
and their lines are scans), not for the slow path. A workspace's summary
is built by the first fold after its first marked order (one writer unit, once: 2.8 s CPU
at 1M orders), or at once with ``retenta segment order-summary --rebuild``.

Lives in storage (beside ``event_facts``) so the commerce writer and the compactor can call
it; the compiler reads it through ``segments.order_summary``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "TABLE", "delta_rows", "fill", "fold", "in_sync", "mark", "rebuild", "refresh", "snapshot",
]  # fmt: skip

TABLE = "order_summary"
DIRTY = "order_summary_dirty"
DELTA = "order_summary_delta"  # see ``in_sync``
FOLD_AFTER = timedelta(seconds=10)  # how stale the oldest mark may get before a fold
REBUILD_OVER = 50_000  # marked orders above which a fold rebuilds the workspace
_ORDER_HASH = "hash(o.order_id, o.contact_id, o.status, o.revenue, o.total, o.placed_at)"
_LINE_HASH = "hash(i.order_id, i.price, i.quantity, i.returned_quantity)"
# Each row's hash is its ``fp`` column, or NULL (written since the last fold): migration
# 0041's CHECK allows no other value, so summing ``fp`` and hashing only the NULL rows gives
# the hash sum of every row without reading the hashed columns of the rest (the whole
# check at 1M: ~130 ms CPU when it hashed 1.76M orders and 3M lines, ~30 ms now).
_HASHED = (("orders", "o", _ORDER_HASH), ("order_items", "i", _LINE_HASH))
_LIVE_SUM = """(SELECT COALESCE(sum({a}.fp::HUGEINT), 0) FROM {t} AS {a}
        WHERE {a}.workspace_id = $ws AND {a}.fp IS NOT NULL)
     + (SELECT COALESCE(sum({h}::HUGEINT), 0) FROM {t} AS {a}
        WHERE {a}.workspace_id = $ws AND {a}.fp IS NULL)"""
LIVE_FINGERPRINT_SQL = "SELECT " + " + ".join(
    _LIVE_SUM.format(t=t, a=a, h=h) for t, a, h in _HASHED
)
# The fold's chore: the rows written since the last one get their hash (a no-op for the
# sums, which hash a NULL row as it is; it keeps the rows the check hashes few; 11-19 ms
# CPU at 1M with 0-500 rows to fill). With the CHECK, DuckDB updates these tables by delete
# + insert, ~17 us CPU a row (3M NULL rows, as a bulk load or a demo leaves them, took 49 s
# CPU at once); the check hashes the rest (~20 ns a row). So the fill is bounded a writer
# turn: not in the fold's step, but in the compaction steps after it, ``FILL_STEP`` rows a
# table each until a step finds fewer (a fill step of 500 + 500: ~8-19 ms writer CPU,
# 13-37 ms wall with its COMMIT, where the fold's step filled 1,326 + 2,652 rows in 64-99 ms
# CPU, 111-166 ms wall; docs/commerce.md, session 12). ``FILL_MAX``: ``rebuild``'s fill.
FILL_MAX = 10_000
FILL_STEP = 500
FILL_SQL = tuple(
    f"UPDATE {t} AS {a} SET fp = {h} WHERE {a}.fp IS NULL AND {a}.rowid IN"
    f" (SELECT rowid FROM {t} WHERE fp IS NULL LIMIT $limit)"
    for t, a, h in _HASHED
)
# A rebuild first clears any ``fp`` that is not the row's hash under this DuckDB (its
# ``hash`` changed in an upgrade: the CHECK holds rows only as they were written), so
# summary and rows agree again (~350 ms CPU at 1M; it changes nothing otherwise).
RESET_STALE_SQL = tuple(
    f"UPDATE {t} AS {a} SET fp = NULL WHERE {a}.fp <> {h}" for t, a, h in _HASHED
)
STORED_FINGERPRINT_SQL = "SELECT COALESCE(sum(fp), 0) FROM order_summary WHERE workspace_id = $ws"
# The figures as the traits view computes them (segments/view_sql.py): cancelled orders
# ignored; an order with lines is worth its lines net of returns, one without lines its
# amount (nothing once returned). ``orders_filter`` picks the contacts; the lines read are
# those of the orders picked (one scan of each table when ``o`` is materialized).
_FIGURES_SQL = f"""
WITH o AS {{materialized}} (
    SELECT o.order_id, o.contact_id, o.status, COALESCE(o.revenue, o.total) AS amount,
        o.placed_at, {_ORDER_HASH}::HUGEINT AS h
    FROM orders AS o WHERE o.workspace_id = $ws {{orders_filter}}
), n AS (
    SELECT i.order_id,
        sum(i.price * GREATEST(i.quantity - COALESCE(i.returned_quantity, 0), 0)) AS net,
        sum({_LINE_HASH}::HUGEINT) AS h
    FROM order_items AS i WHERE i.workspace_id = $ws {{lines_filter}} GROUP BY i.order_id
)
SELECT $ws AS workspace_id, o.contact_id,
    count(*) FILTER (WHERE o.status <> 'cancelled') AS orders,
    COALESCE(sum(CASE WHEN n.order_id IS NOT NULL THEN n.net
                      WHEN o.status = 'returned' OR o.amount IS NULL THEN 0
                      ELSE o.amount END) FILTER (WHERE o.status <> 'cancelled'), 0) AS revenue,
    min(o.placed_at) FILTER (WHERE o.status <> 'cancelled') AS first_order_at,
    max(o.placed_at) FILTER (WHERE o.status <> 'cancelled') AS last_order_at,
    sum(o.h) + COALESCE(sum(n.h), 0) AS fp
FROM o LEFT JOIN n ON n.order_id = o.order_id
GROUP BY o.contact_id
"""
_OWNED = "AND o.contact_id IN (SELECT unnest($owners::BIGINT[]))"
_THEIR_LINES = "AND i.order_id IN (SELECT order_id FROM o)"
# The current owners of the orders marked since the last fold (the contacts of the delta).
_OWNERS_SQL = """
SELECT list(DISTINCT o.contact_id) FROM orders AS o WHERE o.workspace_id = $ws
  AND o.order_id IN (SELECT d.order_id FROM order_summary_dirty AS d WHERE d.workspace_id = $ws)
"""
# The fold's refresh: the same owners, read inside its two statements (two fewer a fold).
_MARKED_OWNERS = """SELECT o.contact_id FROM orders AS o WHERE o.workspace_id = $ws
  AND o.order_id IN (SELECT d.order_id FROM order_summary_dirty AS d WHERE d.workspace_id = $ws)"""
_MARKED_FIGURES_SQL = _FIGURES_SQL.format(
    materialized="MATERIALIZED",
    orders_filter=f"AND o.contact_id IN ({_MARKED_OWNERS})",
    lines_filter=_THEIR_LINES,
)
# The delta: the owners' figures from the live tables, in a TEMP table of the reader's
# connection (it shadows the empty ``main.order_summary_delta`` of migration 0039).
_OWNERS_FIGURES_SQL = _FIGURES_SQL.format(
    materialized="MATERIALIZED", orders_filter=_OWNED, lines_filter=_THEIR_LINES
)
# Per workspace, so a connection that checks two workspaces in one snapshot keeps both.
_DELTA_TABLE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {DELTA} (workspace_id VARCHAR, contact_id BIGINT,"
    " orders BIGINT, revenue DECIMAL(38, 2), first_order_at TIMESTAMPTZ,"
    " last_order_at TIMESTAMPTZ, fp HUGEINT)"
)
_DELTA_CLEAR_SQL = f"DELETE FROM temp.main.{DELTA} WHERE workspace_id = $ws"
_DELTA_SQL = f"INSERT INTO temp.main.{DELTA} {_OWNERS_FIGURES_SQL}"
# Summary rows outside the delta + the delta's rows, against the live hash sum.
_DELTA_CHECK_SQL = f"""
SELECT (SELECT COALESCE(sum(s.fp), 0) FROM order_summary AS s WHERE s.workspace_id = $ws)
     - (SELECT COALESCE(sum(s.fp), 0) FROM order_summary AS s WHERE s.workspace_id = $ws
        AND s.contact_id IN (SELECT d.contact_id FROM temp.main.{DELTA} AS d
                             WHERE d.workspace_id = $ws))
     + (SELECT COALESCE(sum(d.fp), 0) FROM temp.main.{DELTA} AS d WHERE d.workspace_id = $ws),
    ({LIVE_FINGERPRINT_SQL})
"""
_ORPHANS_SQL = f"""
SELECT $ws, NULL, 0, 0, NULL, NULL, sum({_LINE_HASH}::HUGEINT)
FROM order_items AS i WHERE i.workspace_id = $ws
  AND NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.workspace_id = $ws
                  AND o.order_id = i.order_id)
HAVING count(*) > 0
"""


def in_sync(cur: Any, workspace_id: str) -> bool:
    """The summary with its delta holds exactly the live orders and lines of the workspace.

    Reader-side, in the snapshot the query runs in: the contacts who own an order marked
    since the last fold get their figures recomputed from the live tables into the TEMP
    table ``order_summary_delta`` (which ``_order_traits`` reads instead of their summary
    rows); then the summary's other rows plus the delta must give the live hash sum. So the
    delta cannot make a count wrong: any row it or the summary missed (an order written
    without a mark, one that moved to another contact) makes the sums differ, and the
    caller reads the tables.
    """
    if not _exists(cur, TABLE):
        return False
    owners = _marked_owners(cur, workspace_id)
    cur.execute(_DELTA_TABLE_SQL)
    cur.execute(_DELTA_CLEAR_SQL, {"ws": workspace_id})
    if owners:
        cur.execute(_DELTA_SQL, {"ws": workspace_id, "owners": owners})
    row = cur.execute(_DELTA_CHECK_SQL, {"ws": workspace_id}).fetchone()
    return bool(row and row[0] == row[1])


def delta_rows(cur: Any, workspace_id: str) -> int:
    """How many contacts the last ``in_sync`` on this cursor put in the workspace's delta."""
    row = cur.execute(
        f"SELECT count(*) FROM temp.main.{DELTA} WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    return int(row[0]) if row else 0


def _marked_owners(cur: Any, workspace_id: str) -> list[int]:
    """The current owners of the workspace's marked orders (none when nothing is marked)."""
    if not _exists(cur, DIRTY):
        return []
    marked = cur.execute(
        "SELECT count(*) FROM order_summary_dirty WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    if not marked or not marked[0]:
        return []
    row = cur.execute(_OWNERS_SQL, {"ws": workspace_id}).fetchone()
    return [int(c) for c in row[0]] if row and row[0] else []


@contextmanager
def snapshot(cur: Any, workspace_id: str) -> Iterator[bool]:
    """One read transaction for the sync check and the queries relying on it."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield in_sync(cur, workspace_id)
    finally:
        cur.execute("ROLLBACK")


def rebuild(conn: Any, workspace_id: str, *, fill_rows: int = FILL_MAX) -> int:
    """Writer-side: the workspace's summary recomputed from scratch; the rows written.
    ``fill_rows``: the rows a table given their ``fp`` first (the fold leaves it to the
    next steps: 0)."""
    for sql in RESET_STALE_SQL:
        conn.execute(sql)
    if fill_rows:
        fill(conn, limit=fill_rows)
    conn.execute("DELETE FROM order_summary WHERE workspace_id = ?", [workspace_id])
    figures = _FIGURES_SQL.format(materialized="", orders_filter="", lines_filter="")
    conn.execute(f"INSERT INTO order_summary {figures} UNION ALL {_ORPHANS_SQL}",
                 {"ws": workspace_id})  # fmt: skip
    row = conn.execute(
        "SELECT count(*) FROM order_summary WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    return int(row[0]) if row else 0


def refresh(conn: Any, workspace_id: str, order_ids: Iterable[str]) -> int:
    """Writer-side, in the transaction that wrote the orders: recompute the rows of the
    contacts who own ``order_ids`` now; the contacts refreshed.

    An order that moved to another contact leaves its old owner's row stale: the sums then
    differ and segments read the tables until the next ``rebuild`` (exact, slower).
    """
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    params = {"ws": workspace_id, "ids": ids}
    owners = [int(r[0]) for r in conn.execute(
        "SELECT DISTINCT contact_id FROM orders WHERE workspace_id = $ws"
        " AND order_id IN (SELECT unnest($ids::VARCHAR[]))", params).fetchall()]  # fmt: skip
    if not owners:
        return 0
    mine = {"ws": workspace_id, "owners": owners}
    conn.execute(
        "DELETE FROM order_summary WHERE workspace_id = $ws"
        " AND contact_id IN (SELECT unnest($owners::BIGINT[]))", mine)  # fmt: skip
    conn.execute(f"INSERT INTO order_summary {_OWNERS_FIGURES_SQL}", mine)
    return len(owners)


_SEEN: weakref.WeakSet[Any] = weakref.WeakSet()  # connections known to hold both tables
_FILLING: weakref.WeakSet[Any] = weakref.WeakSet()  # writers whose rows may want their fp


def _exists(cur: Any, table: str) -> bool:
    """Asked, not tried (a failed statement aborts the caller's transaction): a store that
    applied migration 0034 before it held these tables has neither. Remembered per
    connection once both are found (the writer's mark runs in every ingest unit with orders)."""
    if cur in _SEEN:
        return True
    names = {row[0] for row in cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        " AND table_name IN ('order_summary', 'order_summary_dirty')").fetchall()}  # fmt: skip
    if names == {TABLE, DIRTY}:
        _SEEN.add(cur)
    return table in names


def _built(cur: Any, workspace_id: str) -> bool:
    found = cur.execute(
        "SELECT count(*) FROM (SELECT 1 FROM order_summary WHERE workspace_id = ? LIMIT 1)",
        [workspace_id],
    ).fetchone()
    return bool(found and found[0])


def mark(conn: Any, keys: Iterable[tuple[str, str]]) -> int:
    """Writer-side, in the transaction that wrote them: remember orders (workspace, order
    id) whose rows changed, for the next ``fold``; the number marked."""
    rows = sorted(set(keys))
    if not rows or not _exists(conn, DIRTY):
        return 0
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO order_summary_dirty SELECT w, o, $at FROM"
        " (SELECT unnest($ws::VARCHAR[]) AS w, unnest($ids::VARCHAR[]) AS o)",
        {"ws": [w for w, _ in rows], "ids": [o for _, o in rows], "at": now},
    )
    return len(rows)


def fill(conn: Any, *, limit: int = FILL_MAX) -> bool:
    """Writer-side: give the orders and lines written since the last fill their ``fp`` (at
    most ``limit`` of each); whether rows may be left (a table filled ``limit``)."""
    left = False
    for sql in FILL_SQL:
        row = conn.execute(sql, {"limit": limit}).fetchone()
        left = left or bool(row and row[0] >= limit)
    return left


def fold(conn: Any, *, now: datetime | None = None, force: bool = False) -> int:
    """Writer-side (the compaction step): fold the marks into the summary once the oldest
    is ``FOLD_AFTER`` old (or ``force``); the orders folded. A step that folds nothing
    fills ``FILL_STEP`` rows a table when a fold since the last fill that found fewer may
    have left some (a chore for the check's speed, never its result)."""
    moment = now or datetime.now(UTC)
    if not _exists(conn, DIRTY):
        return 0
    oldest = conn.execute("SELECT min(marked_at) FROM order_summary_dirty").fetchone()
    if not oldest or oldest[0] is None or (not force and oldest[0] > moment - FOLD_AFTER):
        if conn in _FILLING and not fill(conn, limit=FILL_STEP):
            _FILLING.discard(conn)
        return 0
    marks = conn.execute(
        "SELECT workspace_id, count(DISTINCT order_id) FROM order_summary_dirty GROUP BY 1"
    ).fetchall()
    for workspace_id, marked in marks:
        if not _built(conn, workspace_id) or marked > REBUILD_OVER:
            rebuild(conn, workspace_id, fill_rows=0)
        else:  # ``refresh`` of the marked orders, their owners found inside the statements
            mine = {"ws": workspace_id}
            conn.execute(f"DELETE FROM order_summary WHERE workspace_id = $ws AND contact_id"
                         f" IN ({_MARKED_OWNERS})", mine)  # fmt: skip
            conn.execute(f"INSERT INTO order_summary {_MARKED_FIGURES_SQL}", mine)
    conn.execute("DELETE FROM order_summary_dirty")
    _FILLING.add(conn)  # the next steps without a fold fill the rows written meanwhile
    return sum(int(marked) for _, marked in marks)
