"""The writer's exact copy of every open cart, so a batch's cart changes need no read.

A workspace's open carts (with their live lines) are loaded once, on its first cart event;
after that the single writer is the only one who changes them. What a unit of work changes
is kept *pending* until the next unit proves that it committed: each unit writes a random
token to ``commerce_writer`` and reads the previous one back in the same statement
(``UPDATE … RETURNING``). The previous token still there means that unit committed; another
token means it rolled back and its pending changes are dropped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Line = dict[str, Any]  # {"quantity", "price", "added_at"}
ContactKey = tuple[str, int]

BEGIN_SQL = (
    "UPDATE commerce_writer SET prev_token = token, prev_tx = tx, token = ?,"
    " tx = txid_current() RETURNING prev_token, prev_tx, tx"
)
LOAD_SQL = (
    "SELECT c.contact_id, c.cart_id, c.created_at, c.updated_at, i.sku, i.quantity, i.price,"
    " i.added_at FROM (SELECT * FROM current_carts WHERE workspace_id = $ws AND status = 'open') c"
    " LEFT JOIN (SELECT * FROM current_cart_items WHERE workspace_id = $ws AND quantity > 0) i"
    " ON i.cart_id = c.cart_id ORDER BY c.updated_at, c.cart_id"
)


COMMITTED, ROLLED_BACK, SAME_UNIT = "committed", "rolled back", "same transaction"


@dataclass(frozen=True, slots=True)
class UnitToken:
    """A unit's random token, written in its transaction, with the previous one read back
    (one ``UPDATE … RETURNING``, ~0.5 ms): what proves that an earlier unit committed."""

    token: int
    prev_token: int | None
    prev_tx: int | None
    tx: int

    @staticmethod
    def next(conn: Any) -> UnitToken:
        token = secrets.randbits(62)
        prev_token, prev_tx, tx = conn.execute(BEGIN_SQL, [token]).fetchall()[0]
        return UnitToken(token, prev_token, prev_tx, tx)

    def verdict(self, pending: int) -> str:
        """What became of the unit that wrote token ``pending`` (the last one written
        before this one).

        >>> t = UnitToken(9, 5, 1, 2)
        >>> t.verdict(5), t.verdict(4), UnitToken(9, 5, 2, 2).verdict(5)
        ('committed', 'rolled back', 'same transaction')
        """
        if pending != self.prev_token:
            return ROLLED_BACK  # its token is not there: that unit of work rolled back
        return SAME_UNIT if self.prev_tx == self.tx else COMMITTED


@dataclass
class Cart:
    cart_id: str
    created_at: datetime
    updated_at: datetime | None = None
    items: dict[str, Line] = field(default_factory=dict)


@dataclass
class Layer:
    """One transaction's changes: the open cart per contact after it (None: no open cart)."""

    token: int
    carts: dict[ContactKey, Cart | None] = field(default_factory=dict)


class CartMemory:
    """Open carts per ``(workspace_id, contact_id)``. Writer thread only."""

    def __init__(self) -> None:
        self.committed: dict[ContactKey, Cart] = {}
        self.loaded: set[str] = set()
        self.pending: Layer | None = None

    def begin(self, conn: Any, workspaces: set[str], token: UnitToken | None = None) -> None:
        """Settle the previous unit's changes, then load workspaces not seen yet.
        ``token``: this unit's, when it was already written (``UnitToken.next``)."""
        token = token or UnitToken.next(conn)
        layer = self.pending
        verdict = token.verdict(layer.token) if layer is not None else None
        if verdict == COMMITTED:
            assert layer is not None
            self._commit(layer)
            layer = None
        elif verdict == ROLLED_BACK:
            layer = None
        self.pending = layer or Layer(token.token)
        self.pending.token = token.token
        for ws in sorted(workspaces - self.loaded):
            self._load(conn, ws)

    def _commit(self, layer: Layer) -> None:
        for key, cart in layer.carts.items():
            if cart is None:
                self.committed.pop(key, None)
            else:
                self.committed[key] = cart

    def _load(self, conn: Any, ws: str) -> None:
        rows = conn.execute(LOAD_SQL, {"ws": ws}).fetchall()
        for contact_id, cart_id, created_at, updated_at, sku, qty, price, added_at in rows:
            cart = self.committed.get((ws, contact_id))
            if cart is None or cart.cart_id != cart_id:
                cart = self.committed[(ws, contact_id)] = Cart(cart_id, created_at, updated_at)
            if sku is not None:
                cart.items[sku] = {"quantity": qty, "price": price, "added_at": added_at}
        self.loaded.add(ws)

    def get(self, ws: str, contact_id: int) -> Cart | None:
        """The contact's open cart as of this unit of work."""
        key = (ws, contact_id)
        if self.pending is not None and key in self.pending.carts:
            return self.pending.carts[key]
        return self.committed.get(key)

    def note(self, ws: str, contact_id: int, cart: Cart | None) -> None:
        """The contact's open cart after this unit's changes (call after ``begin``)."""
        assert self.pending is not None
        self.pending.carts[(ws, contact_id)] = cart

    def forget(self) -> None:
        """Drop everything (the tables were changed behind the writer): reload on next use."""
        self.committed, self.loaded, self.pending = {}, set(), None
