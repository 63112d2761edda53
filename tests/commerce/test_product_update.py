"""The catalog fill's ``UPDATE`` sets only the fields that may change in the unit's stored
products (``apply.changing_fields``): the catalog must be the same as with every field set."""

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


def test_the_update_by_changing_fields_leaves_the_same_catalog_as_by_every_field(
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
    narrow = build_container(Settings(data_dir=tmp_path / "narrow", background_workers=False))
    try:
        by_fields = run_all(narrow, stream)
    finally:
        narrow.close()
    assert any(sql != commerce_apply.UPDATE_PRODUCTS_SQL for sql in used)
    monkeypatch.setattr(
        commerce_apply, "update_products_sql", lambda _: commerce_apply.UPDATE_PRODUCTS_SQL
    )
    every = build_container(Settings(data_dir=tmp_path / "every", background_workers=False))
    try:
        assert run_all(every, stream) == by_fields
    finally:
        every.close()


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
            f"SELECT COALESCE({commerce_apply._worth('p', 'f')}, false) FROM _cm_fill f"
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
        assert len(stored) > 300
        assert 50 < sum(got) < len(stored) - 50  # both answers occur
    finally:
        container.close()
