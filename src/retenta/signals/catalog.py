"""Price drops and restocks, per contact who cares about the product.

The catalog keeps every change of a watched field in ``products_history`` (written in the
same transaction as the change). This pass reads the changes after its cursor, keeps the
drops and restocks (``classify``), and finds who cares about each product: an open cart, a
wishlist, or a recent view by someone who has not bought it since. Each (contact, product,
change) becomes one "Price Dropped" or "Back In Stock" signal with the product in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from retenta.signals.emit import Signal
from retenta.signals.settings import SignalSettings

PRICE_DROPPED = "Price Dropped"
BACK_IN_STOCK = "Back In Stock"
REASON_RANK = {"cart": 0, "wishlist": 1, "viewed": 2}


@dataclass(frozen=True, slots=True)
class Change:
    """One product's drop or restock at one moment (``old_price`` for drops)."""

    workspace_id: str
    sku: str
    kind: str  # PRICE_DROPPED | BACK_IN_STOCK
    changed_at: datetime
    old_price: Decimal | None = None
    new_price: Decimal | None = None


def _number(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text is not None else None
    except InvalidOperation:
        return None


def classify(field: str, old: str | None, new: str | None) -> str | None:
    """The signal one history row means, if any.

    >>> classify("price", "20.00", "15.00"), classify("sale_price", "15", "18")
    ('Price Dropped', None)
    >>> classify("in_stock", "false", "true"), classify("stock", "0", "4")
    ('Back In Stock', 'Back In Stock')
    >>> classify("stock", "2", "4") is None
    True
    """
    if field in ("price", "sale_price"):
        before, after = _number(old), _number(new)
        if before is not None and after is not None and after < before:
            return PRICE_DROPPED
        return None
    if field == "in_stock":
        return (
            BACK_IN_STOCK
            if (old or "").lower() == "false" and (new or "").lower() == "true"
            else None
        )
    if field == "stock":
        before, after = _number(old), _number(new)
        return BACK_IN_STOCK if before is not None and before <= 0 and (after or 0) > 0 else None
    return None


def changes_between(cur: Any, since: datetime) -> tuple[list[Change], datetime | None]:
    """Drops and restocks logged after ``since`` (one per product, kind and moment), and the
    newest change time read (``None``: nothing new)."""
    rows = cur.execute(
        "SELECT workspace_id, sku, field, old, new, changed_at FROM products_history"
        " WHERE changed_at > ? ORDER BY changed_at, workspace_id, sku",
        [since],
    ).fetchall()
    newest = rows[-1][5] if rows else None
    found: dict[tuple[str, str, str, datetime], Change] = {}
    for ws, sku, field, old, new, at in rows:
        kind = classify(field, old, new)
        if kind is None:
            continue
        key = (ws, sku, kind, at)
        prior = found.get(key)
        old_price = _number(old) if kind == PRICE_DROPPED else None
        if prior is not None and prior.old_price is not None and old_price is not None:
            old_price = max(prior.old_price, old_price)  # price and sale price both fell
        found[key] = Change(ws, sku, kind, at, old_price, _number(new) if old_price else None)
    return list(found.values()), newest


AUDIENCE_SQL = """
WITH skus AS (SELECT unnest($skus::VARCHAR[]) AS sku),
cared AS (
    SELECT c.contact_id, i.sku, 'cart' AS reason FROM current_cart_items i
    JOIN current_carts c ON c.workspace_id = i.workspace_id AND c.cart_id = i.cart_id
    WHERE i.workspace_id = $ws AND c.status = 'open' AND i.quantity > 0
      AND i.sku IN (SELECT sku FROM skus)
    UNION ALL
    SELECT contact_id, sku, 'wishlist' FROM wishlist_items
    WHERE workspace_id = $ws AND sku IN (SELECT sku FROM skus)
    UNION ALL
    SELECT v.contact_id, v.sku, 'viewed' FROM (
        SELECT contact_id, coalesce(properties->>'sku', properties->>'product_id') AS sku,
               max(timestamp) AS seen
        FROM all_events WHERE workspace_id = $ws AND type = 'track'
          AND event = 'Product Viewed' AND timestamp >= $since
          AND coalesce(properties->>'sku', properties->>'product_id') IN (SELECT sku FROM skus)
        GROUP BY ALL) v
    WHERE NOT EXISTS (
        SELECT 1 FROM orders o JOIN order_items oi
          ON oi.workspace_id = o.workspace_id AND oi.order_id = o.order_id
        WHERE o.workspace_id = $ws AND o.contact_id = v.contact_id AND oi.sku = v.sku
          AND o.placed_at >= v.seen)
)
SELECT coalesce(k.merged_into, k.id) AS contact_id, cared.sku, cared.reason
FROM cared JOIN contacts k ON k.id = cared.contact_id
WHERE k.erased_at IS NULL
"""


def audience(
    cur: Any, workspace_id: str, skus: list[str], view_since: datetime
) -> dict[tuple[int, str], str]:
    """``(contact, sku) -> reason`` (cart before wishlist before a view) for these products."""
    rows = cur.execute(
        AUDIENCE_SQL,
        {"skus": skus, "ws": workspace_id, "since": view_since},
    ).fetchall()
    best: dict[tuple[int, str], str] = {}
    for contact_id, sku, reason in rows:
        key = (int(contact_id), str(sku))
        if key not in best or REASON_RANK[reason] < REASON_RANK[best[key]]:
            best[key] = reason
    return best


def products(cur: Any, workspace_id: str, skus: list[str]) -> dict[str, dict[str, Any]]:
    rows = cur.execute(
        "SELECT sku, name, url, image_url, price, sale_price, currency, in_stock, brand,"
        " category_path FROM products WHERE workspace_id = ?"
        " AND sku IN (SELECT unnest(?::VARCHAR[]))",
        [workspace_id, skus],
    ).fetchall()
    out = {}
    for sku, name, url, image, price, sale, currency, in_stock, brand, path in rows:
        current = sale if sale is not None and (price is None or sale < price) else price
        out[sku] = {
            "sku": sku, "product_id": sku, "name": name, "url": url, "image_url": image,
            "price": float(current) if current is not None else None, "currency": currency,
            "in_stock": in_stock, "brand": brand, "category": " > ".join(path or []),
        }  # fmt: skip
    return out


def catalog_signals(
    cur: Any, workspace_id: str, changes: Iterable[Change], settings: SignalSettings,
    now: datetime,
) -> list[Signal]:  # fmt: skip
    """The signals of one workspace's changes: one per interested contact and change."""
    mine = [c for c in changes if c.workspace_id == workspace_id and _big_enough(c, settings)]
    if not mine:
        return []
    skus = sorted({c.sku for c in mine})
    who = audience(cur, workspace_id, skus, now - timedelta(days=settings.view_days))
    catalog = products(cur, workspace_id, skus)
    by_sku: dict[str, list[tuple[int, str]]] = {}
    for (contact_id, sku), reason in sorted(who.items()):
        by_sku.setdefault(sku, []).append((contact_id, reason))
    out = []
    for change in mine:
        product = catalog.get(change.sku)
        if product is None or (change.kind == BACK_IN_STOCK and product["in_stock"] is False):
            continue
        for contact_id, reason in by_sku.get(change.sku, ()):
            out.append(_signal(change, product, contact_id, reason))
    return out


def _big_enough(change: Change, settings: SignalSettings) -> bool:
    if change.kind != PRICE_DROPPED or not change.old_price or change.new_price is None:
        return True
    percent = (change.old_price - change.new_price) / change.old_price * 100
    return float(percent) >= settings.min_drop_percent


def _signal(change: Change, product: dict[str, Any], contact_id: int, reason: str) -> Signal:
    props = {**product, "reason": reason, "changed_at": change.changed_at.isoformat()}
    if change.kind == PRICE_DROPPED and change.old_price:
        old = float(change.old_price)
        props["old_price"] = old
        if props["price"] is not None and old > 0:
            props["drop_percent"] = round((old - props["price"]) / old * 100, 1)
    props["products"] = [{k: v for k, v in props.items() if k != "reason"}]
    return Signal(contact_id, change.kind, f"{change.sku}@{change.changed_at.isoformat()}", props)
