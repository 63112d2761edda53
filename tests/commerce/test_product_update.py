"""The catalog fill's ``UPDATE`` sets only the fields that may change in the unit's stored
products (``apply.changing_fields``), to values computed in Python (``apply.settled``): the
catalog must be the same as with the rules in SQL (below, as the writer ran them until
session 12: a ``CASE`` for every field, guarded by the upsert's ``worth``)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retenta.app import Container, build_container
from retenta.commerce import apply as commerce_apply
from retenta.commerce.apply import FILLED
from retenta.commerce.arrowsql import run
from retenta.core.messages import Message
from retenta.settings import Settings
from tests.commerce.helpers import apply, rows, track

W = "ws-p"


def _fresh(target: str, new: str) -> str:
    return f"({target}.source = 'event' AND {target}.updated_at <= {new}.seen_at)"


def _fill_sets(target: str, new: str) -> list[str]:
    """An event-made product takes newer event data; a feed product only gets its empty
    fields filled (events never overwrite the feed)."""
    fresh = _fresh(target, new)
    sets = [
        f"{f} = CASE WHEN {fresh} THEN COALESCE({new}.{f}, {target}.{f})"
        f" ELSE COALESCE({target}.{f}, {new}.{f}) END"
        for f in FILLED
    ]
    return [
        *sets,
        f"updated_at = CASE WHEN {fresh} THEN {new}.seen_at ELSE {target}.updated_at END",
    ]


def _worth(target: str, new: str) -> str:
    """Whether the event row ``new`` would change the stored product ``target``."""
    fresh = _fresh(target, new)
    return " OR ".join(
        f"({new}.{c} IS NOT NULL AND ({target}.{c} IS NULL OR ({fresh}"
        f" AND {new}.{c} IS DISTINCT FROM {target}.{c})))"
        for c in FILLED
    )


REMEMBERED = ("workspace_id", "sku", *FILLED, "source", "updated_at")
SQL_UPDATE = (
    f"UPDATE products SET {', '.join(_fill_sets('products', 'f'))} FROM _cm_fill f"
    " WHERE products.workspace_id = f.workspace_id AND products.sku = f.sku"
    f" AND ({_worth('products', 'f')}) RETURNING {', '.join(f'products.{c}' for c in REMEMBERED)}"
)


def sql_update(conn: Any, stored: list[tuple[dict[str, Any], Any]], _: Any) -> list[Any]:
    """``apply.update_stored`` by the SQL rules, every field."""
    table = pa.Table.from_pylist([row for row, _ in stored], schema=commerce_apply.PRODUCT_FILL)
    written = run(conn, SQL_UPDATE, _cm_fill=table).fetchall()
    return [dict(zip(REMEMBERED, r, strict=True)) for r in written]


FIELDS = {
    "name": ["Cap", "Hat", None],
    "price": [9, "9.00", 12.5, None],
    "currency": ["UAH", "EUR", None],
    "category": ["Hats", "Hats > Winter", None],
    "brand": ["Acme", "Zed", None],
    "url": ["https://x/a", None, None],
    "image_url": ["https://x/a.png", None, None],
}


def units() -> list[list[Message]]:
    """Views and cart events of 12 skus with random subsets of the catalog fields, out of
    time order, in 30 units: new skus, stored ones read by the join and remembered ones."""
    rng = random.Random(7)
    stream = []
    for u in range(30):
        unit = []
        for _ in range(rng.randint(1, 8)):
            props = {f: v for f, vs in FIELDS.items() if (v := rng.choice(vs)) is not None}
            props["sku"] = f"S{rng.randrange(12)}"
            unit.append(track(W, 1, "Product Viewed", props, minute=rng.randrange(u + 1, u + 40)))
        stream.append(unit)
    return stream


def feed(container: Container) -> None:
    """Feed products with gaps for a third of the skus: events only fill their empty fields."""
    table = pa.table({"sku": ["S0", "S3", "S6", "S9"], "name": ["F0", None, "F6", None],
                      "brand": [None, "FB", None, "FB"]})  # fmt: skip
    container.db.write(lambda c: container.commerce.upsert_products(c, W, table))


def run_all(container: Container, stream: list[list[Message]]) -> list[tuple[Any, ...]]:
    for i, unit in enumerate(stream):
        if i == 3:
            feed(container)
        apply(container, *unit)
    times = "CASE WHEN source = 'event' THEN updated_at END"  # a feed write's are wall clock
    return rows(
        container, f"SELECT * EXCLUDE (created_at, updated_at), {times} FROM products ORDER BY sku"
    )


def assert_memory_is_the_store(container: Container) -> None:
    """Every product the writer remembers (read, inserted or updated, once settled) is the
    stored row: its non-empty catalog fields, ``source`` and ``updated_at``."""
    apply(container, track(W, 1, "Cart Viewed", {"products": [{"sku": "S0"}]}, minute=99))
    memory = container.commerce.writer.catalog
    assert len(memory.same) > 5
    cols = ", ".join(("sku", *FILLED, "source", "updated_at"))
    stored = {r[0]: r[1:] for r in rows(container, f"SELECT {cols} FROM products")}
    for (_, sku), known in memory.same.items():
        product = dict(zip((*FILLED, "source", "updated_at"), stored[sku], strict=True))
        assert known == {f: v for f, v in product.items() if v is not None}


def test_the_update_by_settled_values_leaves_the_same_catalog_as_the_sql_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = units()
    used: list[str] = []
    real = commerce_apply.run

    def watched(conn: Any, sql: str, params: Any = None, **tables: Any) -> Any:
        if sql.startswith("UPDATE products"):
            used.append(sql)
        return real(conn, sql, params, **tables)

    monkeypatch.setattr(commerce_apply, "run", watched)
    settled = build_container(Settings(data_dir=tmp_path / "settled", background_workers=False))
    try:
        by_python = run_all(settled, stream)
        assert_memory_is_the_store(settled)
    finally:
        settled.close()
    assert len(used) > 10
    assert len({sql for sql in used}) > 1  # by the fields that may change
    assert not any("CASE" in sql for sql in used)
    monkeypatch.setattr(commerce_apply, "update_stored", sql_update)
    by_sql = build_container(Settings(data_dir=tmp_path / "sql", background_workers=False))
    try:
        assert run_all(by_sql, stream) == by_python
    finally:
        by_sql.close()


def test_worth_in_python_is_the_sql_worth(tmp_path: Path) -> None:
    """``apply.worth`` on what the join read decides as ``_worth`` does in SQL (the join
    computed it until session 11), for event rows against feed products with gaps and
    event-made products, older and newer than the row."""
    container = build_container(Settings(data_dir=tmp_path, background_workers=False))
    try:
        run_all(container, units())
        rng = random.Random(11)
        at = rows(container, "SELECT min(updated_at), max(updated_at) FROM products")[0]
        fill = []
        for i in range(400):
            row: dict[str, Any] = {"workspace_id": W, "sku": f"S{i % 14}"}
            for f, values in FIELDS.items():
                v = rng.choice(values)
                if f == "price":
                    v = None if v is None else Decimal(str(v)).quantize(Decimal("0.01"))
                row["category_path" if f == "category" else f] = (
                    commerce_apply.category_path(v) if f == "category" else v
                )
            row["seen_at"] = rng.choice(at) + timedelta(seconds=rng.choice([-1, 0, 1]))
            fill.append(row)
        table = pa.Table.from_pylist(fill, schema=commerce_apply.PRODUCT_FILL)
        sql_worth = (
            f"SELECT COALESCE({_worth('p', 'f')}, false) FROM _cm_fill f"
            " LEFT JOIN products p ON p.workspace_id = f.workspace_id AND p.sku = f.sku"
        )
        with container.db.read() as cur:
            want = [r[0] for r in run(cur, sql_worth, _cm_fill=table).fetchall()]
            read = run(cur, commerce_apply.CHANGING_PRODUCTS_SQL, _cm_fill=table).fetchall()
        stored = [i for i, r in enumerate(read) if not r[2]]  # new skus are inserted instead
        got = [
            bool(commerce_apply.worth(dict(zip(FILLED, fs, strict=True)), src, upd, fill[i]))
            for i in stored
            for _, _, _, src, upd, *fs in [read[i]]
        ]
        assert got == [want[i] for i in stored]
        sql_settled = (
            f"SELECT {', '.join(s.split(' = ', 1)[1] for s in _fill_sets('p', 'f'))}"
            " FROM _cm_fill f LEFT JOIN products p ON p.workspace_id = f.workspace_id"
            " AND p.sku = f.sku"
        )
        with container.db.read() as cur:
            by_sql = run(cur, sql_settled, _cm_fill=table).fetchall()
        for i in stored:
            _, _, _, src, upd, *fs = read[i]
            product = {**dict(zip(FILLED, fs, strict=True)), "source": src, "updated_at": upd}
            out = commerce_apply.settled(fill[i], product, FILLED)
            assert (*(out[f] for f in FILLED), out["seen_at"]) == by_sql[i]
        assert len(stored) > 300
        assert 50 < sum(got) < len(stored) - 50  # both answers occur
    finally:
        container.close()
