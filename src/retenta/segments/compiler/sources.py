"""What each TAD condition scans: the view, its time column, its fields and fixed filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.dialects import SqlDialect, string
from retenta.segments.compiler.predicates import Field
from retenta.segments.definition_checks import ITEM_FIELDS, ORDER_FIELDS
from retenta.segments.view_sql import LINE_OWN_COLUMNS, ORDER_LINES_VIEW
from retenta.storage.duckdb.event_facts import HOT_PROPERTIES

ALIAS = "t"
FACTS_VIEW = "_event_facts"
ITEM_VIEWS = frozenset({"order_items", ORDER_LINES_VIEW})
HOT = frozenset(HOT_PROPERTIES)


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
    # JSON keys that are columns of their own holding the key's JSON text (event facts).
    hot: frozenset[str] = frozenset()
    # Fields whose value is ``COALESCE(own column, something joined)``: field → own column
    # (``_order_lines``); a filter on the field also tests the own column (``own_filter``).
    own: dict[str, str] = field(default_factory=dict)

    @property
    def time(self) -> exp.Column:
        return col(self.time_column)

    def field(self, name: str) -> Field:
        kind = self.columns.get(name)
        if name == "revenue" and self.view in ITEM_VIEWS:
            value = exp.Mul(this=col("price"), expression=col("quantity"))
            return Field(exp.paren(value, copy=False), self.d, "number")
        if kind is not None:
            return Field(col(name), self.d, kind)
        if name in self.hot:
            return Field(col(name), self.d, "jsontext", name)
        return Field(col(self.json_column), self.d, "json", name)


def source_of(cond: Any, d: SqlDialect, *, facts: bool = False) -> Source:
    """The source of an event / order / purchase / message condition (or an ``unless``).

    With ``facts`` (DuckDB, ``event_facts`` in sync) an event condition that reads only
    hot properties scans the time-ordered ``_event_facts`` view instead of ``events``. On
    DuckDB a purchase condition scans ``_order_lines`` (``order_items`` with the lines' own
    name / category / brand, see ``Source.own``).
    """
    kind = getattr(cond, "type", None) or getattr(cond, "source", None)
    if kind == "event":
        name = col("event").eq(string(cond.event))
        if facts and reads_only_hot(cond):
            return Source(FACTS_VIEW, "timestamp", d, filters=(name,), hot=HOT)
        return Source("events", "timestamp", d, filters=(name,))
    if kind == "order":
        return Source("orders", "placed_at", d, columns=ORDER_FIELDS)
    if kind == "purchase":
        if d.clickhouse:
            return Source("order_items", "placed_at", d, columns=ITEM_FIELDS)
        return Source(ORDER_LINES_VIEW, "placed_at", d, columns=ITEM_FIELDS, own=LINE_OWN_COLUMNS)
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


def reads_only_hot(cond: Any) -> bool:
    """Whether every property an event condition (or ``unless``) reads is a hot one.

    >>> from types import SimpleNamespace as N
    >>> flt = N(property="category")
    >>> reads_only_hot(N(where=[flt], aggregate=N(property="price"), per=None))
    True
    >>> reads_only_hot(N(where=[N(property="color")], aggregate=None))
    False
    """
    where = list(getattr(cond, "where", None) or [])
    aggregate = getattr(cond, "aggregate", None)
    names = [flt.property for flt in where]
    names += [getattr(aggregate, "property", None), getattr(cond, "per", None)]
    names.append(getattr(cond, "property", None))  # an ``unless``'s key
    return all(name is None or name in HOT for name in names)
