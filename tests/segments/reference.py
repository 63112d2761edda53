"""An independent evaluator of segment definitions in plain Python, over plain rows.

It shares nothing with the compiler but the definition models and the window bounds'
arithmetic (``windows.bounds``, itself checked by doctests); every operator, aggregate and
boolean rule is written again here, row by row, from docs/segments.md. The equivalence test
compares its answer with DuckDB's and ClickHouse's.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.segments.compiler.windows import ago, ahead, bounds, utc
from retenta.segments.definition import Definition, bind_params, parse_definition

Row = dict[str, Any]


@dataclass
class Dataset:
    """Rows as the views show them (contacts carry email/language/created_at/attributes;
    items carry order_id/line_no/sku/name/category/brand/quantity/price/returned_quantity;
    traits map contact_id to its contact_traits row)."""

    contacts: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)
    items: list[Row] = field(default_factory=list)
    consents: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    traits: dict[int, Row] = field(default_factory=dict)

    def item_rows(self) -> list[Row]:
        """Order lines with their order's contact, time and status (the order_items view)."""
        orders = {o["order_id"]: o for o in self.orders}
        out = []
        for item in self.items:
            order = orders[item["order_id"]]
            out.append(
                {
                    **item,
                    "contact_id": order["contact_id"],
                    "placed_at": order["placed_at"],
                    "status": order["status"],
                }
            )
        return out


# ---- values ---------------------------------------------------------------------------------


def json_text(doc: Any, path: str) -> str | None:
    """What ``->>`` gives: text of a scalar as written, JSON of a container, None if absent."""
    node = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str):
        return node
    if isinstance(node, int | float):
        return json.dumps(node)
    return json.dumps(node, separators=(",", ":"), ensure_ascii=False)


def to_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def day(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    return str(value)[:10]


@dataclass
class Value:
    """One row's value of a field, with the column's own type where it has one."""

    raw: Any
    kind: str  # json | text | number | timestamp

    def text(self) -> str | None:
        if self.raw is None:
            return None
        if self.kind == "timestamp":
            return day(self.raw)
        if self.kind == "number":
            return repr(float(self.raw))
        return str(self.raw)

    def number(self) -> float | None:
        if self.kind in {"number"}:
            return None if self.raw is None else float(self.raw)
        return to_number(self.text())


def check(value: Value, op: str, value_type: str, arg: Any, now: datetime, unit: str) -> bool:
    """One attribute / trait / property operator, per docs/segments.md."""
    text = value.text()
    if op == "exists":
        return text is not None
    if op == "not_exists":
        return text is None
    if value_type == "number":
        return _number_check(value.number(), op, arg)
    if value_type == "date":
        return _date_check(value, op, arg, now, unit)
    if value_type == "boolean":
        return text == ("true" if op == "is_true" else "false")
    if value_type == "list":
        return _list_check(value.raw, op, arg)
    return _text_check(text, op, arg)


def _as_text(arg: Any) -> str:
    if isinstance(arg, bool):
        return "true" if arg else "false"
    return str(arg)


def _text_check(text: str | None, op: str, arg: Any) -> bool:
    negative = {"not_equals": "equals", "not_in": "in", "not_contains": "contains"}
    if op in negative:
        return text is None or not _text_check(text, negative[op], arg)
    if text is None:
        return False
    if op == "equals":
        return text == _as_text(arg)
    if op == "in":
        return text in {_as_text(a) for a in arg}
    if op == "contains":
        return _as_text(arg) in text
    if op == "starts_with":
        return text.startswith(_as_text(arg))
    return text.endswith(_as_text(arg))


def compare_number(n: float | None, op: str, arg: Any) -> bool:
    if n is None:
        return False
    if op == "between":
        return float(arg[0]) <= n <= float(arg[1])
    a = float(arg)
    return {
        "equals": n == a,
        "not_equals": n != a,
        "gt": n > a,
        "gte": n >= a,
        "lt": n < a,
        "lte": n <= a,
    }[op]


def _number_check(n: float | None, op: str, arg: Any) -> bool:
    if op in {"not_equals", "not_in"} and n is None:
        return True
    if op == "in":
        return n is not None and n in {float(a) for a in arg}
    if op == "not_in":
        return n not in {float(a) for a in arg}
    return compare_number(n, op, arg)


def _date_check(value: Value, op: str, arg: Any, now: datetime, unit: str) -> bool:
    d = day(value.raw) if value.kind == "timestamp" else day(value.text())
    if d is None:
        return False
    if op in {"in_last", "in_next"}:
        lo, hi = (ago(now, arg, unit), now) if op == "in_last" else (now, ahead(now, arg, unit))
        if value.kind == "timestamp":
            return lo <= value.raw <= hi
        return day(lo) <= d <= day(hi)  # type: ignore[operator]
    if op == "anniversary_in_next":
        wanted = set()
        for k in range(arg + 1):
            when = (now + timedelta(days=k)).date()
            wanted.add(when.strftime("%m-%d"))
            if when.month == 2 and when.day == 28 and when.year % 4 != 0:
                wanted.add("02-29")
        return d[5:10] in wanted
    if op == "between":
        return day(utc(arg[0])) <= d <= day(utc(arg[1]))  # type: ignore[operator]
    a = day(utc(arg))
    assert a is not None
    return {
        "equals": d == a,
        "before": d < a,
        "after": d > a,
        "gt": d > a,
        "gte": d >= a,
        "lt": d < a,
        "lte": d <= a,
    }[op]


def _list_check(raw: Any, op: str, arg: Any) -> bool:
    items = [str(v) for v in raw] if isinstance(raw, list) else []
    if op == "is_empty":
        return not items
    if op == "has_any":
        return any(str(a) in items for a in arg)
    if op == "has_all":
        return all(str(a) in items for a in arg)
    return (str(arg) in items) == (op == "contains")


# ---- the evaluator --------------------------------------------------------------------------

CONTACT_KINDS = {
    "email": "text",
    "language": "text",
    "created_at": "timestamp",
    "contact_id": "number",
}
TRAIT_KINDS = {"number": "number", "date": "timestamp", "text": "text"}
ORDER_KINDS = {
    "status": "text",
    "channel": "text",
    "store_id": "text",
    "currency": "text",
    "coupon": "text",
    "order_id": "text",
    "total": "number",
    "revenue": "number",
}
ITEM_KINDS = {
    "sku": "text",
    "name": "text",
    "category": "text",
    "brand": "text",
    "status": "text",
    "order_id": "text",
    "quantity": "number",
    "price": "number",
    "returned_quantity": "number",
    "revenue": "number",
}


@dataclass
class Reference:
    data: Dataset
    now: datetime
    resolve: Callable[[str], Any] | None = None

    def members(self, definition: Any, params: dict[str, Any] | None = None) -> set[int]:
        bound, _ = bind_params(parse_definition(definition), params)
        return self.node(bound.root)

    @property
    def everybody(self) -> set[int]:
        return {c["contact_id"] for c in self.data.contacts}

    def node(self, cond: Any) -> set[int]:
        kind = cond.type
        if kind == "all":
            sets = [self.node(c) for c in cond.conditions]
            return set.intersection(*sets)
        if kind == "any":
            return set().union(*(self.node(c) for c in cond.conditions))
        if kind == "not":
            return self.everybody - self.node(cond.condition)
        return getattr(self, f"leaf_{kind}")(cond)

    def leaf_segment(self, cond: Any) -> set[int]:
        assert self.resolve is not None
        defn: Definition = parse_definition(self.resolve(cond.segment_id))
        inner = self.members(defn)
        return inner if cond.member else self.everybody - inner

    def leaf_attribute(self, cond: Any) -> set[int]:
        out = set()
        for c in self.data.contacts:
            kind = CONTACT_KINDS.get(cond.field)
            value = (
                Value(c.get(cond.field), kind)
                if kind
                else Value(json_text(c["attributes"], cond.field), "json")
            )
            if cond.value_type == "list" and not kind:
                value = Value(_json_node(c["attributes"], cond.field), "json")
            if check(value, cond.op, cond.value_type, cond.value, self.now, cond.unit):
                out.add(c["contact_id"])
        return out

    def leaf_trait(self, cond: Any) -> set[int]:
        from retenta.segments.definition_checks import TRAIT_TYPES

        value_type = TRAIT_TYPES[cond.trait]
        out = set()
        for cid, row in self.data.traits.items():
            value = Value(row.get(cond.trait), TRAIT_KINDS[value_type])
            if check(value, cond.op, value_type, cond.value, self.now, cond.unit):
                out.add(cid)
        return out

    def leaf_consent(self, cond: Any) -> set[int]:
        current: dict[tuple[int, str, str], Row] = {}
        for row in sorted(self.data.consents, key=lambda r: r["changed_at"]):
            current[(row["contact_id"], row["channel"], row["topic"])] = row
        return {
            cid
            for (cid, ch, topic), row in current.items()
            if ch == cond.channel and topic == cond.topic and row["status"] == cond.status
        }

    def leaf_rfm(self, cond: Any) -> set[int]:
        raise NotImplementedError("rfm is not generated")

    def leaf_event(self, cond: Any) -> set[int]:
        rows = [r for r in self.data.events if r["event"] == cond.event]
        return self.tad(cond, rows, "timestamp", _json_field)

    def leaf_order(self, cond: Any) -> set[int]:
        return self.tad(cond, self.data.orders, "placed_at", _column_field(ORDER_KINDS))

    def leaf_purchase(self, cond: Any) -> set[int]:
        return self.tad(cond, self.data.item_rows(), "placed_at", _column_field(ITEM_KINDS))

    def leaf_message(self, cond: Any) -> set[int]:
        def keep(r: Row) -> bool:
            fixed = all(
                getattr(cond, k) is None or r[k] == getattr(cond, k)
                for k in ("channel", "campaign_id", "message_id")
            )
            tagged = cond.tag is None or cond.tag in (r["tags"] or [])
            human = cond.include_machine or not r["machine"]
            return r["status"] == cond.status and fixed and tagged and human

        return self.tad(cond, [r for r in self.data.messages if keep(r)], "at", _json_field)

    # ---- TAD ----

    def tad(self, cond: Any, rows: Iterable[Row], time_key: str, get: Getter) -> set[int]:
        chosen = [
            r
            for r in rows
            if self._in_window(r, r[time_key], cond.window)
            and all(self._filter(r, f, get) for f in cond.where)
        ]
        if getattr(cond, "per", None) is not None:
            return self._per(cond, chosen, time_key, get)
        groups: dict[int, list[Row]] = defaultdict(list)
        for r in chosen:
            groups[r["contact_id"]].append(r)
        fits = {cid for cid, rs in groups.items() if self._fits(cond, rs, time_key, get)}
        if self._zero_fits(cond):
            fits |= self.everybody - set(groups)
        return fits

    def _per(self, cond: Any, rows: list[Row], time_key: str, get: Getter) -> set[int]:
        groups: dict[tuple[int, str], list[Row]] = defaultdict(list)
        for r in rows:
            key = get(r, cond.per).text()
            if key is not None:
                groups[(r["contact_id"], key)].append(r)
        pairs = {k for k, rs in groups.items() if self._fits(cond, rs, time_key, get)}
        if cond.unless is not None:
            pairs -= self._unless_pairs(cond)
        return {cid for cid, _ in pairs}

    def _unless_pairs(self, cond: Any) -> set[tuple[int, str]]:
        u = cond.unless
        if u.source == "event":
            rows, key, get = (
                [r for r in self.data.events if r["event"] == u.event],
                "timestamp",
                _json_field,
            )
        else:
            rows, key, get = self.data.item_rows(), "placed_at", _column_field(ITEM_KINDS)
        window = u.window or cond.window
        out = set()
        for r in rows:
            if self._in_window(r, r[key], window) and all(self._filter(r, f, get) for f in u.where):
                k = get(r, u.property).text()
                if k is not None:
                    out.add((r["contact_id"], k))
        return out

    def _in_window(self, row: Row, at: datetime, window: Any) -> bool:
        if window.kind == "since_first_order":
            firsts = [
                o["placed_at"] for o in self.data.orders if o["contact_id"] == row["contact_id"]
            ]
            return bool(firsts) and at >= min(firsts)
        return bounds(window, self.now).contains(at)

    def _filter(self, row: Row, flt: Any, get: Getter) -> bool:
        value = get(row, flt.property)
        value_type = flt.value_type or _declared(value) or _implied(flt.value)
        return check(value, flt.op, value_type, flt.value, self.now, "days")

    def _fits(self, cond: Any, rows: list[Row], time_key: str, get: Getter) -> bool:
        agg = cond.aggregate
        numeric = cond.compare.op not in {"equals", "not_equals"} or not isinstance(
            cond.compare.value, str
        )
        result: Any
        if agg.fn == "count":
            result = (
                len(rows)
                if agg.property is None
                else sum(1 for r in rows if get(r, agg.property).text() is not None)
            )
        elif agg.fn == "count_distinct":
            result = len({t for r in rows if (t := get(r, agg.property).text()) is not None})
        elif agg.fn in {"first", "last"}:
            pairs = [
                (r[time_key], v)
                for r in rows
                if (
                    v := (
                        get(r, agg.property).number()
                        if numeric or agg.fn not in {"first", "last"}
                        else get(r, agg.property).text()
                    )
                )
                is not None
            ]
            if not pairs:
                return False
            result = (min if agg.fn == "first" else max)(pairs, key=lambda p: p[0])[1]
        else:
            numbers = [n for r in rows if (n := get(r, agg.property).number()) is not None]
            if agg.fn == "sum":
                result = sum(numbers)
            elif not numbers:
                return False
            else:
                result = {
                    "avg": lambda: sum(numbers) / len(numbers),
                    "min": lambda: min(numbers),
                    "max": lambda: max(numbers),
                }[agg.fn]()
        if isinstance(result, str):
            return (result == cond.compare.value) == (cond.compare.op == "equals")
        return compare_number(result, cond.compare.op, cond.compare.value)

    def _zero_fits(self, cond: Any) -> bool:
        if cond.aggregate.fn not in {"count", "count_distinct", "sum"}:
            return False
        return compare_number(0.0, cond.compare.op, cond.compare.value)


Getter = Callable[[Row, str], Value]


def _json_node(doc: Any, path: str) -> Any:
    node = doc
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _json_field(row: Row, name: str) -> Value:
    return Value(json_text(row["properties"], name), "json")


def _column_field(kinds: dict[str, str]) -> Getter:
    def get(row: Row, name: str) -> Value:
        if name == "revenue" and "quantity" in row:
            return Value(row["price"] * row["quantity"], "number")
        return Value(row.get(name), kinds[name])

    return get


def _declared(value: Value) -> str | None:
    return None if value.kind == "json" else {"timestamp": "date"}.get(value.kind, value.kind)


def _implied(arg: Any) -> str:
    if isinstance(arg, list) and arg:
        arg = arg[0]
    if isinstance(arg, bool):
        return "boolean"
    return "number" if isinstance(arg, int | float) else "text"
