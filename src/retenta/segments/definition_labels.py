"""Human labels for conditions ("Order Completed ≥ 2 times in the last 90 days").

Preview shows one per leaf beside whether it matched; the builder shows them as summaries.
"""

from __future__ import annotations

from typing import Any

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
OP_WORDS = {
    "equals": "is", "not_equals": "is not", "in": "is one of", "not_in": "is none of",
    "contains": "contains", "not_contains": "does not contain", "starts_with": "starts with",
    "ends_with": "ends with", "exists": "is set", "not_exists": "is not set", "gt": ">",
    "gte": "≥", "lt": "<", "lte": "≤", "between": "between", "before": "before",
    "after": "after", "in_last": "in the last", "in_next": "in the next",
    "anniversary_in_next": "anniversary in the next", "is_true": "is true",
    "is_false": "is false", "has_any": "has any of", "has_all": "has all of",
    "is_empty": "is empty",
}  # fmt: skip
COMPARE_WORDS = {"equals": "=", "not_equals": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def show(value: Any) -> str:
    """A value as the UI writes it: params as ``@n``, lists comma-separated.

    >>> show([1, "a"]), show(1000.0), show(None)
    ('1, a', '1,000', '')
    """
    if value is None:
        return ""
    if type(value).__name__ == "Param":
        return f"@{value.param}"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def window_text(window: Any) -> str:
    kind = window.kind
    if kind == "ever":
        return "ever"
    if kind == "last":
        unit = window.unit[:-1] if show(window.amount) == "1" else window.unit
        return f"in the last {show(window.amount)} {unit}"
    if kind == "between":
        return f"between {show(window.from_)} and {show(window.to)}"
    if kind == "calendar":
        return f"in {MONTHS[window.month - 1]}" + (f" {window.year}" if window.year else "")
    if kind == "this":
        return "today" if window.unit == "day" else f"this {window.unit}"
    return "since the first order"


def _compare_text(cond: Any) -> str:
    cmp, agg = cond.compare, cond.aggregate
    if cmp.op == "between":
        amount = f"between {show(cmp.value)}"
    else:
        amount = f"{COMPARE_WORDS[cmp.op]} {show(cmp.value)}"
    if agg.fn == "count":
        at_least_once = cmp.op == "gte" and show(cmp.value) == "1"
        return "at least once" if at_least_once else f"{amount} times"
    return f"with {agg.fn.replace('_', ' ')} of {agg.property} {amount}"


def _filters_text(where: list[Any]) -> str:
    parts = [f"{f.property} {OP_WORDS[f.op]} {show(f.value)}".rstrip() for f in where]
    return f" where {' and '.join(parts)}" if parts else ""


def _tad_text(subject: str, cond: Any) -> str:
    text = f"{subject}{_filters_text(cond.where)} {_compare_text(cond)}"
    if getattr(cond, "per", None):
        text += f" for the same {cond.per}"
    text += f" {window_text(cond.window)}"
    unless = getattr(cond, "unless", None)
    if unless is not None:
        what = unless.event if unless.source == "event" else "a purchase"
        text += f", unless {show(what)} with that {unless.property}"
    return text


def _message_subject(cond: Any) -> str:
    parts = [f"{cond.channel or 'message'} {cond.status}"]
    for key in ("campaign_id", "message_id", "tag"):
        value = getattr(cond, key)
        if value is not None:
            parts.append(f"{key.replace('_id', '')} {show(value)}")
    return " ".join(parts)


def describe(cond: Any) -> str:
    """A one-line label of a condition.

    >>> from retenta.segments.definition import parse_definition
    >>> d = parse_definition({"root": {"type": "event", "event": "Order Completed",
    ...     "window": {"kind": "last", "amount": 90, "unit": "days"},
    ...     "compare": {"op": "gte", "value": 2}}})
    >>> describe(d.root)
    'Order Completed ≥ 2 times in the last 90 days'
    """
    kind = cond.type
    if kind in {"all", "any"}:
        joiner = " and " if kind == "all" else " or "
        return "(" + joiner.join(describe(c) for c in cond.conditions) + ")"
    if kind == "not":
        return f"not {describe(cond.condition)}"
    if kind in {"attribute", "trait"}:
        name = cond.field if kind == "attribute" else cond.trait
        value = show(cond.value)
        if cond.op in {"in_last", "in_next", "anniversary_in_next"}:
            value = f"{value} {cond.unit}" if cond.op != "anniversary_in_next" else f"{value} days"
        return f"{name} {OP_WORDS[cond.op]} {value}".rstrip()
    if kind == "segment":
        return f"{'in' if cond.member else 'not in'} segment {cond.segment_id}"
    if kind == "event":
        return _tad_text(show(cond.event), cond)
    if kind == "order":
        return _tad_text("orders", cond)
    if kind == "purchase":
        return _tad_text("bought items", cond)
    if kind == "message":
        return _tad_text(_message_subject(cond), cond)
    if kind == "consent":
        topic = "" if show(cond.topic) == "*" else f" ({show(cond.topic)})"
        return f"{show(cond.channel)}{topic} consent is {cond.status}"
    return _rfm_text(cond)


def _rfm_text(cond: Any) -> str:
    if cond.cells:
        return "RFM cell " + " or ".join(c.replace("_", " ") for c in cond.cells)
    ranges = [
        f"{a.upper()} {getattr(cond, a)[0]}–{getattr(cond, a)[1]}"
        for a in "rfm"
        if getattr(cond, a)
    ]
    return "RFM " + ", ".join(ranges)
