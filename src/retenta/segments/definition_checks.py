"""Checks on a definition that its JSON Schema cannot express (ops per type, value shapes, params).

Pure functions over the models of ``segments.definition``; each error is ``{"path", "reason"}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from retenta.segments.rfm import CELLS

UNION_TAGS = {"str", "int", "float", "bool", "list", "none", "date", "datetime", "tuple"}

NEGATIVE_OPS = {"not_equals", "not_in", "not_contains"}
NO_VALUE_OPS = {"exists", "not_exists", "is_true", "is_false", "is_empty"}
LIST_VALUE_OPS = {"in", "not_in", "has_any", "has_all"}
AMOUNT_OPS = {"in_last", "in_next", "anniversary_in_next"}
OPS_BY_TYPE: dict[str, set[str]] = {
    "text": {
        "equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with",
        "ends_with", "exists", "not_exists",
    },
    "number": {"equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "between",
               "exists", "not_exists"},
    "date": {"equals", "before", "after", "gt", "gte", "lt", "lte", "between", "in_last",
             "in_next", "anniversary_in_next", "exists", "not_exists"},
    "boolean": {"is_true", "is_false", "exists", "not_exists"},
    "list": {"has_any", "has_all", "contains", "not_contains", "is_empty", "exists",
             "not_exists"},
}  # fmt: skip
TRAIT_TYPES = {
    "orders": "number", "revenue": "number", "average_order_value": "number",
    "first_order_at": "date", "last_order_at": "date", "last_activity_at": "date",
    "favourite_category": "text",
}  # fmt: skip
ORDER_FIELDS = {
    "status": "text", "channel": "text", "store_id": "text", "currency": "text", "coupon": "text",
    "order_id": "text", "total": "number", "revenue": "number",
}  # fmt: skip
ITEM_FIELDS = {
    "sku": "text", "name": "text", "category": "text", "brand": "text", "status": "text",
    "order_id": "text", "quantity": "number", "price": "number", "returned_quantity": "number",
    "revenue": "number",
}  # fmt: skip
RFM_CELLS = list(CELLS)


def infer_value_type(value: Any) -> str:
    """The value type a filter value implies when the filter does not say.

    >>> infer_value_type(3), infer_value_type([1.5]), infer_value_type("x")
    ('number', 'number', 'text')
    """
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


def err(path: str, reason: str) -> dict[str, str]:
    return {"path": path, "reason": reason}


def is_param(value: Any) -> bool:
    return type(value).__name__ == "Param"


def semantic_errors(defn: Any) -> list[dict[str, str]]:
    """Every problem in a structurally valid definition, in document order."""
    from retenta.segments.definition import walk

    errors: list[dict[str, str]] = []
    for path, cond in walk(defn.root):
        errors.extend(_leaf_errors(cond, path))
    for path, name in param_uses(defn.to_json()["root"], "root"):
        if name not in defn.params:
            errors.append(err(path, f"unknown parameter @{name} (declare it in params)"))
    return errors


def _leaf_errors(cond: Any, path: str) -> Iterator[dict[str, str]]:
    kind = cond.type
    if kind == "attribute":
        yield from value_errors(cond.op, cond.value_type, cond.value, path)
    elif kind == "trait":
        yield from value_errors(cond.op, TRAIT_TYPES[cond.trait], cond.value, path)
    elif kind in {"event", "message"}:
        yield from _tad_errors(cond, path, fields=None)
    elif kind == "order":
        yield from _tad_errors(cond, path, fields=ORDER_FIELDS)
    elif kind == "purchase":
        yield from _tad_errors(cond, path, fields=ITEM_FIELDS)
    elif kind == "rfm":
        yield from _rfm_errors(cond, path)


def _tad_errors(cond: Any, path: str, fields: dict[str, str] | None) -> Iterator[dict[str, str]]:
    for i, flt in enumerate(cond.where):
        yield from _filter_errors(flt, f"{path}.where[{i}]", fields)
    agg = cond.aggregate
    if agg.fn != "count" and agg.property is None:
        yield err(f"{path}.aggregate.property", f"aggregate {agg.fn} needs a property")
    numeric = {k for k, t in (fields or {}).items() if t == "number"}
    if fields is not None and agg.property is not None:
        allowed = numeric if agg.fn in {"sum", "avg", "min", "max"} else set(fields)
        if agg.property not in allowed:
            reason = f"{agg.fn} of {agg.property!r} is not possible; use one of {sorted(allowed)}"
            yield err(f"{path}.aggregate.property", reason)
    compare_type = "number"
    if agg.fn in {"first", "last"} and cond.compare.op in {"equals", "not_equals"}:
        compare_type = infer_value_type(cond.compare.value)
    yield from value_errors(cond.compare.op, compare_type, cond.compare.value, f"{path}.compare")
    yield from _window_errors(cond.window, f"{path}.window")
    unless = getattr(cond, "unless", None)
    if unless is not None:
        yield from _unless_errors(cond, unless, f"{path}.unless")


def _unless_errors(cond: Any, unless: Any, path: str) -> Iterator[dict[str, str]]:
    if cond.per is None:
        yield err(path, "unless correlates rows by the per key; set per")
    if unless.source == "event" and unless.event is None:
        yield err(f"{path}.event", "an event unless needs the event name")
    fields = ITEM_FIELDS if unless.source == "purchase" else None
    if fields is not None and unless.property not in fields:
        yield err(f"{path}.property", f"purchases have no field {unless.property!r}")
    for i, flt in enumerate(unless.where):
        yield from _filter_errors(flt, f"{path}.where[{i}]", fields)
    if unless.window is not None:
        yield from _window_errors(unless.window, f"{path}.window")


def _filter_errors(flt: Any, path: str, fields: dict[str, str] | None) -> Iterator[dict[str, str]]:
    value_type = flt.value_type or infer_value_type(flt.value)
    if fields is not None:
        if flt.property not in fields:
            yield err(
                f"{path}.property", f"unknown field {flt.property!r}; one of {sorted(fields)}"
            )
            return
        value_type = flt.value_type or fields[flt.property]
    yield from value_errors(flt.op, value_type, flt.value, path)


def _window_errors(window: Any, path: str) -> Iterator[dict[str, str]]:
    concrete = window.kind == "between" and not (is_param(window.from_) or is_param(window.to))
    if concrete and _as_datetime(window.from_) >= _as_datetime(window.to):
        yield err(f"{path}.to", "must be after from")


def _rfm_errors(cond: Any, path: str) -> Iterator[dict[str, str]]:
    if cond.cells is None and cond.r is None and cond.f is None and cond.m is None:
        yield err(path, "give cells or at least one of r, f, m score ranges")
    for i, cell in enumerate(cond.cells or []):
        if cell not in RFM_CELLS:
            yield err(f"{path}.cells[{i}]", f"unknown RFM cell {cell!r}; one of {RFM_CELLS}")
    for axis in ("r", "f", "m"):
        rng = getattr(cond, axis)
        if rng is not None and not 1 <= rng[0] <= rng[1] <= 5:
            yield err(f"{path}.{axis}", "a score range is [low, high] within 1..5")


def value_errors(op: str, value_type: str, value: Any, path: str) -> Iterator[dict[str, str]]:
    """Whether ``op`` applies to ``value_type`` and ``value`` has the shape ``op`` needs."""
    if op not in OPS_BY_TYPE.get(value_type, set()):
        yield err(f"{path}.op", f"{op} does not apply to {value_type} values")
        return
    if is_param(value):
        return
    reason = _shape_reason(op, value_type, value)
    if reason:
        yield err(f"{path}.value", reason)


def _shape_reason(op: str, value_type: str, value: Any) -> str | None:
    if op in NO_VALUE_OPS:
        return None if value is None else f"{op} takes no value"
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2):
            return "between needs two values [low, high]"
        return _items_reason(value, value_type)
    if op in LIST_VALUE_OPS:
        if not isinstance(value, list) or not value:
            return f"{op} needs a non-empty list of values"
        return _items_reason(value, "text" if value_type == "list" else value_type)
    if op in AMOUNT_OPS:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3660
        return None if ok else f"{op} needs a whole number (0–3660)"
    if value is None or isinstance(value, list):
        return f"{op} needs one value"
    return _items_reason([value], "text" if value_type == "list" else value_type)


def _items_reason(values: list[Any], value_type: str) -> str | None:
    for v in values:
        if is_param(v):
            continue
        if value_type == "number" and (isinstance(v, bool) or not isinstance(v, int | float)):
            return f"{v!r} is not a number"
        if value_type == "date" and not _is_date(v):
            return f"{v!r} is not an ISO date or timestamp"
        if value_type == "text" and not isinstance(v, str | int | float):
            return f"{v!r} is not text"
    return None


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        _as_datetime(value)
    except ValueError:
        return False
    return True


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return _as_datetime(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def param_uses(node: Any, path: str) -> list[tuple[str, str]]:
    """``(path, name)`` of each ``{"param": name}`` inside JSON ``node``."""
    if isinstance(node, dict):
        if set(node) == {"param"} and isinstance(node["param"], str):
            return [(path, node["param"])]
        return [use for k, v in node.items() for use in param_uses(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [use for i, v in enumerate(node) for use in param_uses(v, f"{path}[{i}]")]
    return []


def substitute(node: Any, values: dict[str, Any]) -> Any:
    """JSON ``node`` with every ``{"param": name}`` replaced by ``values[name]``."""
    if isinstance(node, dict):
        if set(node) == {"param"} and node["param"] in values:
            return values[node["param"]]
        return {k: substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values) for v in node]
    return node
