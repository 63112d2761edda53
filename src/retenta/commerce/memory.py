"""What the writer remembers about the catalog, so that the common batch — views of products
the feed already describes — costs no SQL at all.

Only facts that can never become false are kept: a *feed* product's filled fields never go
back to empty (feed upserts keep stored values for nulls) and events never change a feed
product except to fill an empty field. So a rolled-back transaction cannot make the memory
lie; at worst it forgets, and forgetting only costs a query.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from retenta.commerce.orders import registered

Key = tuple[str, str]
FILLED = ("name", "url", "image_url", "price", "currency", "category_path", "brand")
LEARN_SQL = (
    "SELECT f.workspace_id, f.sku, p.source, "
    + ", ".join(f"p.{f} IS NOT NULL" for f in FILLED)
    + " FROM products p JOIN (SELECT DISTINCT workspace_id, sku FROM _cm_learn) f"
    " ON p.workspace_id = f.workspace_id AND p.sku = f.sku"
)


class CatalogMemory:
    """Filled fields of feed products, per ``(workspace_id, sku)``. Writer thread only."""

    def __init__(self, limit: int = 500_000) -> None:
        self.known: dict[Key, frozenset[str]] = {}
        self.limit = limit

    def needs_write(self, key: Key, row: dict[str, Any]) -> bool:
        """Whether an event's catalog fields could change the stored product.

        >>> m = CatalogMemory(); m.known[("w", "a")] = frozenset({"name", "price"})
        >>> m.needs_write(("w", "a"), {"name": "x"}), m.needs_write(("w", "a"), {"brand": "y"})
        (False, True)
        >>> m.needs_write(("w", "b"), {"name": "x"})
        True
        """
        filled = self.known.get(key)
        if filled is None:
            return True
        return any(row.get(f) is not None and f not in filled for f in FILLED)

    def learn(self, conn: Any, keys: list[Key]) -> None:
        """Remember the feed products among ``keys`` (one query, only for unknown keys)."""
        unknown = [k for k in keys if k not in self.known]
        if not unknown:
            return
        if len(self.known) + len(unknown) > self.limit:
            self.known.clear()
        table = pa.table({"workspace_id": [k[0] for k in unknown], "sku": [k[1] for k in unknown]})
        with registered(conn, _cm_learn=table):
            rows = conn.execute(LEARN_SQL).fetchall()
        for ws, sku, source, *flags in rows:
            if source == "feed":
                self.known[(ws, sku)] = frozenset(
                    f for f, ok in zip(FILLED, flags, strict=True) if ok
                )

    def forget(self, workspace_id: str, skus: list[str]) -> None:
        for sku in skus:
            self.known.pop((workspace_id, sku), None)


class ReturnsMemory:
    """Orders that have return facts (a superset: a rolled-back refund may linger here, which
    only costs a settle that finds nothing). Loaded once, then kept by the writer."""

    def __init__(self) -> None:
        self.keys: set[Key] | None = None

    def load(self, conn: Any) -> set[Key]:
        if self.keys is None:
            rows = conn.execute("SELECT DISTINCT workspace_id, order_id FROM order_returns")
            self.keys = {(w, o) for w, o in rows.fetchall()}
        return self.keys

    def among(self, conn: Any, keys: set[Key]) -> set[Key]:
        """Which of ``keys`` have return facts."""
        return self.load(conn) & keys if keys else set()

    def add(self, keys: list[Key]) -> None:
        if self.keys is not None:
            self.keys.update(keys)
