"""Operators of attribute, trait and property conditions as sqlglot predicates.

A ``Field`` knows how to read one value (a view column or a key of a JSON column) as text,
number, day (``YYYY-MM-DD``), timestamp or list. Semantics shared with the reference
evaluator (tests/segments/reference.py) and documented in docs/segments.md:

- text operators are case-sensitive; numbers given for text compare as their text;
- negative operators (``not_equals``, ``not_in``, ``not_contains``) also match a missing value;
- date operators work on the UTC day, except ``in_last`` / ``in_next`` on a timestamp column;
- ``anniversary_in_next N``: month-day within today … today + N (Feb 29 counts on Feb 28).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.dialects import SqlDialect, number, string
from retenta.segments.compiler.windows import ago, ahead, utc


@dataclass(frozen=True)
class Field:
    """One value per row: ``column`` itself (typed ``kind``) or ``path`` inside JSON ``column``."""

    column: exp.Expr
    d: SqlDialect
    kind: str = "json"  # json | jsontext | text | number | timestamp | boolean
    path: str = ""

    def text(self) -> exp.Expr:
        # jsontext: a column holding the JSON text of ``path`` (``event_facts``), read
        # exactly as the JSON path would be, so every operator means the same.
        if self.kind == "json":
            return self.d.json_text(self.column, self.path)
        if self.kind == "timestamp":
            return self.d.day_text(self.column)
        if self.kind in {"number", "boolean"}:
            return self.d.text_of(self.column)
        return self.column

    def number(self) -> exp.Expr:
        if self.kind in {"json", "jsontext"}:
            return self.d.to_number(self.text())
        return self.d.as_double(self.column) if self.kind != "number" else self.column

    def day(self) -> exp.Expr:
        if self.kind == "timestamp":
            return self.d.day_text(self.column)
        return self.d.text_prefix(self.text(), 10)

    def timestamp(self) -> exp.Expr | None:
        return self.column if self.kind == "timestamp" else None

    def items(self) -> exp.Expr:
        return self.d.json_list(self.column, self.path)

    def present(self) -> exp.Expr:
        target = self.text() if self.kind == "json" else self.column
        return exp.Not(this=exp.Is(this=target, expression=exp.Null()))


def literal(value: Any, value_type: str) -> exp.Expr:
    """A user value as a typed literal (numbers for number comparisons, text otherwise)."""
    if value_type == "number":
        return number(
            value if isinstance(value, int) and not isinstance(value, bool) else float(value)
        )
    if isinstance(value, bool):
        return string("true" if value else "false")
    return string(str(value))


def _or_missing(present: exp.Expr, pred: exp.Expr) -> exp.Expr:
    return exp.or_(exp.Not(this=present), exp.paren(pred, copy=False))


def _isin(target: exp.Expr, values: list[Any], value_type: str) -> exp.Expr:
    return target.isin(*(literal(v, value_type) for v in values))


def _compare(target: exp.Expr, op: str, value: Any, value_type: str) -> exp.Expr:
    if op == "between":
        low, high = (literal(v, value_type) for v in value)
        return exp.and_(target >= low, target <= high)
    node = {"equals": exp.EQ, "gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}[op]
    return node(this=target, expression=literal(value, value_type))


def compare(target: exp.Expr, op: str, value: Any, value_type: str) -> exp.Expr:
    """``target <op> value`` for the comparison of an aggregate (no missing-value rule)."""
    if op == "not_equals":
        return exp.NEQ(this=target, expression=literal(value, value_type))
    return _compare(target, op, value, value_type)


def predicate(
    field: Field, op: str, value_type: str, value: Any, now: datetime, unit: str = "days"
) -> exp.Expr:
    """The predicate of one attribute / trait / property condition."""
    if op == "exists":
        return field.present()
    if op == "not_exists":
        return exp.Not(this=field.present())
    if value_type == "number":
        return _number_predicate(field, op, value)
    if value_type == "date":
        return _date_predicate(field, op, value, now, unit)
    if value_type == "boolean":
        return field.text().eq(string("true" if op == "is_true" else "false"))
    if value_type == "list":
        return _list_predicate(field, op, value)
    return _text_predicate(field, op, value)


def _text_predicate(field: Field, op: str, value: Any) -> exp.Expr:
    text, d = field.text(), field.d
    positive: dict[str, Callable[[], exp.Expr]] = {
        "contains": lambda: d.contains(text, str(value)),
        "starts_with": lambda: d.starts_with(text, str(value)),
        "ends_with": lambda: d.ends_with(text, str(value)),
        "equals": lambda: text.eq(literal(value, "text")),
        "in": lambda: _isin(text, value, "text"),
    }
    if op in positive:
        return positive[op]() if op == "in" else _raw_prefilter(field, value, positive[op]())
    inner = {"not_equals": "equals", "not_in": "in", "not_contains": "contains"}[op]
    return _or_missing(field.present(), exp.Not(this=positive[inner]()))


_LITERAL_SAFE = re.compile(r"^[A-Za-z0-9 _.,:;!?@#$%&*+=<>()'-]+$")


def literally_in_json(value: Any) -> bool:
    """Whether any JSON writer puts this text into a document as is (no escapes possible).

    >>> literally_in_json("Women"), literally_in_json("Жінки"), literally_in_json("a/b")
    (True, False, False)
    """
    return (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and bool(_LITERAL_SAFE.match(str(value)))
    )


def _raw_prefilter(field: Field, value: Any, pred: exp.Expr) -> exp.Expr:
    """A positive text test of a JSON value, behind a plain substring test of the document.

    A value that passes equals / in / contains / starts_with / ends_with appears literally
    in the document text, so ``contains(document, v)`` is a necessary condition; it costs a
    memory search where extracting the value parses the whole document (event leaf over 180
    days at 1M contacts, ~9M documents: 12.1–12.6 → 10.1–10.2 s). Only for values no JSON
    writer escapes, and not for ``in`` (a list of substring tests cost more than they saved
    on small documents: city in 5 values 0.66–0.73 → 0.86–0.88 s).
    """
    if field.kind != "json" or not literally_in_json(value):
        return pred
    found = field.d.contains(field.d.raw_json_text(field.column), str(value))
    return exp.and_(exp.paren(found, copy=False), exp.paren(pred, copy=False), copy=False)


def _number_predicate(field: Field, op: str, value: Any) -> exp.Expr:
    target = field.number()
    present = exp.Not(this=exp.Is(this=target, expression=exp.Null()))
    if op == "in":
        return _isin(target, value, "number")
    if op == "not_in":
        return _or_missing(present, exp.Not(this=_isin(target, value, "number")))
    if op == "not_equals":
        return _or_missing(present, exp.NEQ(this=target, expression=literal(value, "number")))
    return _compare(target, op, value, "number")


def day_of(value: Any) -> str:
    """The UTC day of a date or timestamp, as ``YYYY-MM-DD``.

    >>> day_of("2026-09-01T23:00:00-02:00")
    '2026-09-02'
    """
    return utc(value).date().isoformat()


def _date_predicate(field: Field, op: str, value: Any, now: datetime, unit: str) -> exp.Expr:
    day, stamp, d = field.day(), field.timestamp(), field.d
    if op in {"in_last", "in_next"}:
        lo, hi = (ago(now, value, unit), now) if op == "in_last" else (now, ahead(now, value, unit))
        if stamp is not None:
            return exp.and_(stamp >= d.timestamp(lo), stamp <= d.timestamp(hi))
        return exp.and_(day >= string(day_of(lo)), day <= string(day_of(hi)))
    if op == "anniversary_in_next":
        month_day = d.text_prefix(day, 5, start=6)
        return month_day.isin(*(string(md) for md in anniversary_days(now, value)))
    if op == "between":
        low, high = (string(day_of(v)) for v in value)
        return exp.and_(day >= low, day <= high)
    node = {
        "equals": exp.EQ, "before": exp.LT, "after": exp.GT, "gt": exp.GT, "gte": exp.GTE,
        "lt": exp.LT, "lte": exp.LTE,
    }[op]  # fmt: skip
    return node(this=day, expression=string(day_of(value)))


def anniversary_days(now: datetime, days: int) -> list[str]:
    """``MM-DD`` of today … today + ``days``; Feb 29 joins Feb 28 in a common year.

    >>> anniversary_days(datetime(2027, 2, 27), 1)
    ['02-27', '02-28', '02-29']
    """
    out: list[str] = []
    for k in range(days + 1):
        day = (now + timedelta(days=k)).date()
        out.append(day.strftime("%m-%d"))
        leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
        if day.month == 2 and day.day == 28 and not leap:
            out.append("02-29")
    return list(dict.fromkeys(out))


def _list_predicate(field: Field, op: str, value: Any) -> exp.Expr:
    items, d = field.items(), field.d
    if op == "is_empty":
        return d.list_empty(items)
    if op in {"has_any", "has_all"}:
        return d.list_has_any(items, [str(v) for v in value], all_=op == "has_all")
    has = d.list_has(items, str(value))
    return has if op == "contains" else exp.Not(this=has)
