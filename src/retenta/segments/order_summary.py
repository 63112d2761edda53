"""The compiler's side of ``order_summary`` (``storage/duckdb/order_summary.py``): which
definitions read an order trait, so the sync check runs only for them.

>>> "average_order_value" in TRAIT_ORDER_COLUMNS
True
"""

from __future__ import annotations

from typing import Any

from retenta.segments.view_sql import TRAIT_ORDER_COLUMNS
from retenta.storage.duckdb.order_summary import (
    delta_rows,
    fold,
    in_sync,
    mark,
    rebuild,
    refresh,
    snapshot,
)

__all__ = [
    "TRAIT_ORDER_COLUMNS", "delta_rows", "fold", "in_sync", "mark", "reads_order_traits",
    "rebuild", "refresh", "snapshot",
]  # fmt: skip


def reads_order_traits(definition: Any) -> bool:
    """Whether a definition (JSON) has a trait condition on an order figure.

    >>> reads_order_traits({"root": {"type": "not", "condition": {"type": "trait",
    ...     "trait": "average_order_value", "op": "gte", "value": 50}}})
    True
    >>> reads_order_traits({"root": {"type": "trait", "trait": "favourite_category"}})
    False
    """
    if isinstance(definition, dict):
        if definition.get("type") == "trait" and definition.get("trait") in TRAIT_ORDER_COLUMNS:
            return True
        return any(reads_order_traits(v) for v in definition.values())
    if isinstance(definition, list):
        return any(reads_order_traits(v) for v in definition)
    return False
