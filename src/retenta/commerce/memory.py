"""What the writer remembers about the catalog, so that the common batch — views of products
the feed already describes — costs no SQL at all.

Only facts that can never become false are kept: a *feed* product's filled fields never go
back to empty (feed upserts keep stored values for nulls) and events never change a feed
product except to fill an empty field. So a rolled-back transaction cannot make the memory
lie; at worst it forgets, and forgetting only costs a query.
"""

from __future__ import annotations

from typing import Any

from retenta.commerce.cartmemory import COMMITTED, SAME_UNIT, UnitToken

Key = tuple[str, str]
FILLED = ("name", "url", "image_url", "price", "currency", "category_path", "brand")
ALL = frozenset(FILLED)
# What ``same`` holds of a stored product: its catalog fields (the non-empty ones), and the
# ``source`` and ``updated_at`` from which ``apply.settled`` computes what an event makes of it.
REMEMBERED = (*FILLED, "source", "updated_at")
EVENT_FIELD = {"category_path": "category"}  # an event row carries the text, not the path
MASK = ", ".join(f"{f} IS NOT NULL" for f in FILLED)
LOAD_SQL = f"SELECT sku, {MASK} FROM products WHERE workspace_id = ? AND source = 'feed'"
RELOAD_SQL = (
    f"SELECT sku, {MASK} FROM products WHERE workspace_id = ? AND source = 'feed'"
    " AND list_contains(?, sku)"
)


class CatalogMemory:
    """Filled fields of feed products, per ``(workspace_id, sku)``. Writer thread only.

    A workspace's feed products are loaded once, on its first e-commerce batch; a sku not
    among them is not (yet) a feed product and its events go to SQL. Skus whose row this
    process changed since are ``stale`` and re-read on their next appearance.
    """

    MAX_SAME = 500_000

    def __init__(self) -> None:
        self.known: dict[Key, frozenset[str]] = {}
        self.loaded: set[str] = set()
        self.stale: set[Key] = set()
        # The stored product's non-empty catalog fields (with its ``source`` and
        # ``updated_at``: ``REMEMBERED``), as a query read them for an event
        # row it found not worth writing: an event whose non-empty fields are all among
        # them changes nothing, whenever it comes. True until the product is written, by
        # events (``drop_same``) or the feed (``forget``); a rolled-back unit cannot make it
        # false, as the query ran before that unit wrote any product.
        self.same: dict[Key, dict[str, Any]] = {}
        # What this process's last writing unit made of the products it wrote (read back by
        # the statements' RETURNING), tagged with that unit's token: it joins ``same`` once
        # a later unit's token proves the unit committed, and is dropped if it rolled back.
        self.pending: dict[Key, dict[str, Any]] = {}
        self.pending_token: int | None = None

    def needs_write(self, key: Key, row: dict[str, Any]) -> bool:
        """Whether an event's catalog fields could change the stored product.

        >>> m = CatalogMemory(); m.known[("w", "a")] = frozenset({"name", "price"})
        >>> m.needs_write(("w", "a"), {"name": "x"}), m.needs_write(("w", "a"), {"brand": "y"})
        (False, True)
        >>> m.needs_write(("w", "a"), {"category": "Shoes"})
        True
        >>> m.needs_write(("w", "b"), {"name": "x"})
        True
        """
        filled = self.known.get(key)
        if filled is None:
            return True
        return any(row.get(EVENT_FIELD.get(f, f)) is not None and f not in filled for f in FILLED)

    def remember_same(self, key: Key, fields: dict[str, Any]) -> None:
        if len(self.same) >= self.MAX_SAME:
            self.same.clear()
        self.same[key] = {f: v for f, v in fields.items() if v is not None}
        self.pending.pop(key, None)

    def drop_same(self, key: Key) -> None:
        self.same.pop(key, None)
        self.pending.pop(key, None)

    def settle(self, token: UnitToken) -> None:
        """The pending products join ``same`` if their unit committed (see ``UnitToken``)."""
        if self.pending_token is None:
            return
        verdict = token.verdict(self.pending_token)
        if verdict == SAME_UNIT:
            self.pending_token = token.token
            return
        pending, self.pending, self.pending_token = self.pending, {}, None
        if verdict == COMMITTED:
            for key, fields in pending.items():
                self.remember_same(key, fields)

    def written(self, token: UnitToken, rows: list[dict[str, Any]]) -> None:
        """This unit (``token``, already settled) stored these products as the write left
        them: ``workspace_id``, ``sku``, the catalog fields, ``source`` and ``updated_at``."""
        for row in rows:
            key = (row["workspace_id"], row["sku"])
            self.same.pop(key, None)
            self.pending[key] = {f: row.get(f) for f in REMEMBERED}
        if rows:
            self.pending_token = token.token

    def complete(self, key: Key) -> bool:
        """A feed product with every field filled: no event can change it.

        >>> m = CatalogMemory(); m.known[("w", "a")] = ALL
        >>> m.complete(("w", "a")), m.complete(("w", "b"))
        (True, False)
        """
        return self.known.get(key) is ALL  # ``_remember`` keeps the one ALL

    def load(self, conn: Any, workspaces: set[str]) -> None:
        """Load the feed products of workspaces seen for the first time."""
        for ws in sorted(workspaces - self.loaded):
            self._remember(ws, conn.execute(LOAD_SQL, [ws]).fetchall())
            self.loaded.add(ws)

    def learn(self, conn: Any, keys: list[Key]) -> None:
        """Load the workspaces seen for the first time; re-read the stale keys among ``keys``."""
        self.load(conn, {w for w, _ in keys})
        if not self.stale:
            return
        stale = [k for k in keys if k in self.stale]
        for ws in sorted({w for w, _ in stale}):
            skus = [s for w, s in stale if w == ws]
            self._remember(ws, conn.execute(RELOAD_SQL, [ws, skus]).fetchall())
            self.stale.difference_update((ws, s) for s in skus)

    def _remember(self, ws: str, rows: list[tuple[Any, ...]]) -> None:
        for sku, *flags in rows:
            filled = frozenset(f for f, ok in zip(FILLED, flags, strict=True) if ok)
            self.known[(ws, sku)] = ALL if filled == ALL else filled

    def forget(self, workspace_id: str, skus: list[str]) -> None:
        """These rows changed (or may have): read them again when next needed."""
        for sku in skus:
            self.known.pop((workspace_id, sku), None)
            self.same.pop((workspace_id, sku), None)
            self.pending.pop((workspace_id, sku), None)
            if workspace_id in self.loaded:
                self.stale.add((workspace_id, sku))


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
