"""What each TAD condition scans: the view, its time column, its fields and fixed filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.dialects import SqlDialect, string
from retenta.segments.compiler.predicates import Field
from retenta.segments.definition_checks import ITEM_FIELDS, ORDER_FIELDS

ALIAS = "t"


def col(name: str, table: str = ALIAS) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


@dataclass(frozen=True)
class Source:
    """A view of time-stamped rows per contact and how to read a named field of a row."""

    view: str
    time_column: str
    d: SqlDialect
    columns: dict[str, str] = field(default_factory=dict)  # field → kind; else JSON key
    json_column: str = "properties"
    filters: tuple[exp.Expr, ...] = ()

    @property
    def time(self) -> exp.Column:
        return col(self.time_column)

    def field(self, name: str) -> Field:
        kind = self.columns.get(name)
        if name == "revenue" and self.view == "order_items":
            value = exp.Mul(this=col("price"), expression=col("quantity"))
            return Field(exp.paren(value, copy=False), self.d, "number")
        if kind is not None:
            return Field(col(name), self.d, kind)
        return Field(col(self.json_column), self.d, "json", name)


def source_of(cond: Any, d: SqlDialect) -> Source:
    """The source of an event / order / purchase / message condition (or an ``unless``)."""
    kind = getattr(cond, "type", None) or getattr(cond, "source", None)
    if kind == "event":
        return Source("events", "timestamp", d, filters=(col("event").eq(string(cond.event)),))
    if kind == "order":
        return Source("orders", "placed_at", d, columns=ORDER_FIELDS)
    if kind == "purchase":
        return Source("order_items", "placed_at", d, columns=ITEM_FIELDS)
    return Source("message_events", "at", d, filters=tuple(_message_filters(cond, d)))


def _message_filters(cond: Any, d: SqlDialect) -> list[exp.Expr]:
    out: list[exp.Expr] = [col("status").eq(string(cond.status))]
    for key in ("channel", "campaign_id", "message_id"):
        value = getattr(cond, key)
        if value is not None:
            out.append(col(key).eq(string(str(value))))
    if cond.tag is not None:
        out.append(d.list_has(col("tags"), str(cond.tag)))
    if not cond.include_machine:
        out.append(exp.func("COALESCE", col("machine"), exp.false()).eq(exp.false()))
    return out
