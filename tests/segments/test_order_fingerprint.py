"""The order summary's sync check sums the rows' stored hashes (``fp``, migration 0041):
the database refuses an ``fp`` that is not the row's hash, so the sums equal the full hash
sums whoever wrote the rows; the fold fills what writers cleared; a store written before
0041 upgrades with every row and its summary still in sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from retenta.app import build_container
from retenta.segments import order_summary
from retenta.settings import Settings
from retenta.storage.duckdb import engine
from retenta.storage.duckdb import order_summary as summary_store
from tests.conftest import make_workspace
from tests.segments.test_equivalence_data import load_duckdb, make_dataset
from tests.segments.test_order_summary import Store, figures, synced

# What the check summed before 0041: the hash of every row, computed from its columns.
FULL_HASH_SUM_SQL = f"""
SELECT (SELECT COALESCE(sum({summary_store._ORDER_HASH}::HUGEINT), 0) FROM orders AS o
        WHERE o.workspace_id = $ws)
     + (SELECT COALESCE(sum({summary_store._LINE_HASH}::HUGEINT), 0) FROM order_items AS i
        WHERE i.workspace_id = $ws)
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset(seed=21, contacts=40)
    load_duckdb(container, ws, data)
    container.db.write(lambda conn: order_summary.rebuild(conn, ws))
    yield container, ws, sorted({o["contact_id"] for o in data.orders})
    container.close()


def _sums(store: Store) -> tuple[int, int, int]:
    """(live fingerprint as the check reads it, full hash sum, rows whose fp is NULL)."""
    container, ws, _ = store
    with container.db.read() as cur:
        live = cur.execute(summary_store.LIVE_FINGERPRINT_SQL, {"ws": ws}).fetchone()
        full = cur.execute(FULL_HASH_SUM_SQL, {"ws": ws}).fetchone()
        nulls = cur.execute(
            "SELECT (SELECT count(*) FROM orders WHERE fp IS NULL)"
            " + (SELECT count(*) FROM order_items WHERE fp IS NULL)"
        ).fetchone()
    assert live
    assert full
    assert nulls
    return int(live[0]), int(full[0]), int(nulls[0])


def _one_order(store: Store) -> str:
    container, ws, _ = store
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT order_id FROM order_items WHERE workspace_id = ? AND line_no = 1"
            " ORDER BY order_id LIMIT 1",
            [ws],
        ).fetchone()
    assert row
    return str(row[0])


# Every column the summary's figures read, changed without clearing ``fp``.
REFUSED = [
    "UPDATE orders SET status = 'cancelled' WHERE order_id = $o",
    "UPDATE orders SET contact_id = contact_id + 1 WHERE order_id = $o",
    "UPDATE orders SET total = total + 1 WHERE order_id = $o",
    "UPDATE orders SET revenue = COALESCE(revenue, 0) + 1 WHERE order_id = $o",
    "UPDATE orders SET placed_at = placed_at - INTERVAL 1 DAY WHERE order_id = $o",
    "UPDATE orders SET order_id = order_id || '-x' WHERE order_id = $o",
    "UPDATE orders SET fp = fp + 1 WHERE order_id = $o",
    "UPDATE order_items SET price = price + 1 WHERE order_id = $o AND line_no = 1",
    "UPDATE order_items SET quantity = quantity + 1 WHERE order_id = $o AND line_no = 1",
    "UPDATE order_items SET returned_quantity = 1 WHERE order_id = $o AND line_no = 1",
    "UPDATE order_items SET order_id = order_id || '-x' WHERE order_id = $o AND line_no = 1",
    "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
    " updated_at, fp) SELECT workspace_id, 'o-forged', contact_id, status, total, placed_at,"
    " updated_at, fp FROM orders WHERE order_id = $o",
    "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price, fp)"
    " SELECT workspace_id, order_id, 99, sku, quantity, price + 1, fp FROM order_items"
    " WHERE order_id = $o AND line_no = 1",
]
# Columns the figures do not read: writable as before.
ALLOWED = [
    "UPDATE orders SET coupon = 'SPRING', updated_at = now() WHERE order_id = $o",
    "UPDATE order_items SET sku = 'sku-other', category = 'Shoes' WHERE order_id = $o",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_a_figure_cannot_change_while_its_row_keeps_its_hash(store: Store, sql: str) -> None:
    container = store[0]
    order = _one_order(store)
    with pytest.raises(duckdb.ConstraintException, match="CHECK constraint"):
        container.db.write(lambda conn: conn.execute(sql, {"o": order}))
    assert _sums(store) == (_sums(store)[1], _sums(store)[1], 0)
    assert synced(store)


@pytest.mark.parametrize("sql", ALLOWED)
def test_other_columns_change_as_before(store: Store, sql: str) -> None:
    container, _, _ = store
    order = _one_order(store)
    container.db.write(lambda conn: conn.execute(sql, {"o": order}))
    assert synced(store)


def test_cleared_rows_are_hashed_by_the_check_and_filled_by_the_fold(store: Store) -> None:
    """Rows written with ``fp`` NULL (an unmarked write here) are hashed from their columns,
    so the check still sees the write; the fold's fill gives them their hash."""
    container, ws, _ = store
    order = _one_order(store)
    before = _sums(store)
    assert before[0] == before[1]
    assert before[2] == 0
    container.db.write(lambda conn: conn.execute(
        "UPDATE order_items SET price = price + 1, fp = NULL WHERE order_id = $o",
        {"o": order}))  # fmt: skip
    container.db.write(lambda conn: conn.execute(
        "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
        " updated_at) SELECT workspace_id, 'o-late', contact_id, 'paid', 12.5, placed_at,"
        " updated_at FROM orders WHERE order_id = $o", {"o": order}))  # fmt: skip
    live, full, nulls = _sums(store)
    assert nulls >= 2
    assert live == full != before[1]
    assert not synced(store)  # written without a mark: the sums differ, the tables are read
    container.db.write(lambda conn: order_summary.mark(conn, [(ws, order), (ws, "o-late")]))
    assert synced(store)  # through the delta
    assert container.db.write(lambda conn: order_summary.fold(conn, force=True)) == 2
    assert _sums(store) == (full, full, nulls)  # the fold's step fills nothing
    assert synced(store)
    assert container.db.write(order_summary.fold) == 0  # the next step fills them
    assert _sums(store) == (full, full, 0)
    assert synced(store)
    assert figures(store, "_order_traits") == figures(store, "contact_traits")


def test_the_steps_after_a_fold_fill_a_slice_each_until_none_is_left(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold's step and each fill step are separate writer turns, each bounded: after a
    fold, the steps without marks fill ``FILL_STEP`` rows a table each, then stop asking."""
    container, ws, _ = store
    monkeypatch.setattr(summary_store, "FILL_STEP", 5)
    container.db.write(lambda conn: [conn.execute(
        f"UPDATE {t} SET fp = NULL WHERE true") for t in ("orders", "order_items")])  # fmt: skip
    _, full, nulls = _sums(store)
    assert nulls > 30
    order = _one_order(store)
    container.db.write(lambda conn: order_summary.mark(conn, [(ws, order)]))
    assert container.db.write(order_summary.fold) == 0  # too fresh: no fold, no fill yet
    assert _sums(store) == (full, full, nulls)
    assert container.db.write(lambda conn: order_summary.fold(conn, force=True)) == 1
    assert _sums(store) == (full, full, nulls)
    left = [nulls]
    while left[-1]:
        assert container.db.write(order_summary.fold) == 0
        left.append(_sums(store)[2])
        assert left[-1] >= left[-2] - 10  # at most five rows of each table a step
        assert synced(store)
        assert len(left) < nulls
    assert left[1] == nulls - 10
    assert figures(store, "_order_traits") == figures(store, "contact_traits")
    container.db.write(order_summary.fold)  # at most one more step, which finds too few
    calls: list[int] = []
    real_fill = summary_store.fill

    def counted(conn: Any, *, limit: int = summary_store.FILL_MAX) -> bool:
        calls.append(limit)
        return real_fill(conn, limit=limit)

    monkeypatch.setattr(summary_store, "fill", counted)
    container.db.write(order_summary.fold)  # nothing left: the steps stop filling
    assert calls == []


def test_a_fill_gives_at_most_its_limit_of_rows_a_table(store: Store) -> None:
    """A bulk write's NULL rows are filled a slice per fold; the check hashes the rest."""
    container, _, _ = store
    container.db.write(lambda conn: [conn.execute(
        f"UPDATE {t} SET fp = NULL WHERE true") for t in ("orders", "order_items")])  # fmt: skip
    live, full, nulls = _sums(store)
    assert live == full
    assert synced(store)
    with container.db.read() as cur:
        rows = cur.execute("SELECT (SELECT count(*) FROM orders),"
                           " (SELECT count(*) FROM order_items)").fetchone()  # fmt: skip
    assert rows
    assert nulls == rows[0] + rows[1]
    assert min(rows) > 7
    container.db.write(lambda conn: summary_store.fill(conn, limit=7))
    assert _sums(store) == (full, full, nulls - 14)
    assert synced(store)
    container.db.write(lambda conn: summary_store.fill(conn, limit=10**9))
    assert _sums(store) == (full, full, 0)


def _pre_0041(path: Path) -> None:
    """A store as 0040 left it, with orders, lines and a summary built then."""
    conn = duckdb.connect(str(path))
    engine.apply_migrations(conn, before=41)
    conn.execute(
        "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, revenue,"
        " placed_at, updated_at) SELECT 'ws-old', 'o' || i, i % 7, CASE WHEN i % 5 = 0 THEN"
        " 'cancelled' ELSE 'paid' END, i * 1.5, CASE WHEN i % 3 = 0 THEN NULL ELSE i END,"
        " TIMESTAMPTZ '2026-01-01' + i * INTERVAL 1 HOUR, now() FROM range(60) AS r(i)"
    )
    conn.execute(
        "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price,"
        " returned_quantity) SELECT 'ws-old', 'o' || (i // 2), i % 2 + 1, 'sku-' || i, 2,"
        " i + 0.25, CASE WHEN i % 9 = 0 THEN 1 ELSE 0 END FROM range(100) AS r(i)"
    )
    conn.execute(
        "INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price)"
        " VALUES ('ws-old', 'o-missing', 1, 'sku-x', 1, 3.00)"
    )
    figures = summary_store._FIGURES_SQL.format(materialized="", orders_filter="", lines_filter="")
    conn.execute(f"INSERT INTO order_summary {figures} UNION ALL {summary_store._ORPHANS_SQL}",
                 {"ws": "ws-old"})  # fmt: skip
    conn.close()


def _rows(cur: Any, table: str) -> list[tuple[Any, ...]]:
    cols = [r[0] for r in cur.execute(f"DESCRIBE {table}").fetchall() if r[0] != "fp"]
    return cur.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()


def test_a_store_written_before_0041_upgrades_in_sync(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "retenta.duckdb"
    _pre_0041(db)
    with duckdb.connect(str(db)) as conn:
        before = {t: _rows(conn, t) for t in ("orders", "order_items")}
        full = conn.execute(FULL_HASH_SUM_SQL, {"ws": "ws-old"}).fetchone()
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            assert {t: _rows(cur, t) for t in before} == before
            assert cur.execute("SELECT count(*) FROM orders WHERE fp IS NULL").fetchone() == (0,)
            live = cur.execute(summary_store.LIVE_FINGERPRINT_SQL, {"ws": "ws-old"}).fetchone()
            assert live == full
            assert order_summary.in_sync(cur, "ws-old")
            found = cur.execute("SELECT index_name FROM duckdb_indexes()").fetchall()
            indexes = {r[0] for r in found}
        assert {"orders_contact", "order_items_order"} <= indexes
        with pytest.raises(duckdb.ConstraintException):  # the keys hold
            container.db.write(lambda conn: conn.execute(
                "INSERT INTO orders (workspace_id, order_id, contact_id, status, total,"
                " placed_at, updated_at)"
                " VALUES ('ws-old', 'o1', 1, 'paid', 1, now(), now())"))  # fmt: skip
        with pytest.raises(duckdb.ConstraintException, match="CHECK constraint"):
            container.db.write(lambda conn: conn.execute(
                "UPDATE order_items SET price = 1 WHERE order_id = 'o1'"))  # fmt: skip
    finally:
        container.close()


def test_the_folds_refresh_leaves_the_rows_a_rebuild_leaves(store: Store) -> None:
    """The fold finds the marked orders' owners inside its two statements: the summary it
    leaves is the one a rebuild computes, and every other row is untouched."""
    container, ws, _ = store

    def summary() -> list[tuple[Any, ...]]:
        with container.db.read() as cur:
            return cur.execute("SELECT * FROM order_summary WHERE workspace_id = ?"
                               " ORDER BY ALL", [ws]).fetchall()  # fmt: skip

    with container.db.read() as cur:
        picked = [str(r[0]) for r in cur.execute(
            "SELECT order_id FROM orders WHERE workspace_id = ? ORDER BY order_id LIMIT 6",
            [ws]).fetchall()]  # fmt: skip
    assert len(picked) == 6
    untouched = summary()
    container.db.write(lambda conn: conn.execute(
        "UPDATE order_items SET price = price + 3, fp = NULL"
        " WHERE order_id IN (SELECT unnest($o::VARCHAR[]))", {"o": picked}))  # fmt: skip
    container.db.write(lambda conn: conn.execute(
        "UPDATE orders SET status = 'cancelled', fp = NULL WHERE order_id = $o",
        {"o": picked[0]}))  # fmt: skip
    container.db.write(lambda conn: order_summary.mark(conn, [(ws, o) for o in picked]))
    assert container.db.write(lambda conn: order_summary.fold(conn, force=True)) == 6
    folded = summary()
    assert synced(store)
    container.db.write(lambda conn: order_summary.rebuild(conn, ws))
    assert folded == summary() != untouched
    with container.db.read() as cur:
        owners = {r[0] for r in cur.execute(
            "SELECT contact_id FROM orders WHERE order_id IN (SELECT unnest($o::VARCHAR[]))",
            {"o": picked}).fetchall()}  # fmt: skip
    assert [r for r in folded if r[1] not in owners] == [r for r in untouched if r[1] not in owners]
