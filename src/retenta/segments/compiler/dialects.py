"""The few expressions that differ between DuckDB and ClickHouse, as sqlglot nodes.

Everything else the compiler builds is dialect-neutral sqlglot and transpiles as is. Each
helper here returns the node the target dialect evaluates the same way as the other one:
JSON text of a missing key or a JSON ``null`` is NULL in both, a non-numeric text is a NULL
number in both (ClickHouse's ``CAST`` would raise), timestamps are UTC in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlglot import exp

DialectName = Literal["duckdb", "clickhouse"]


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _false_if_null(node: exp.Expr) -> exp.Expr:
    return exp.func("COALESCE", node, exp.false())


def string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def number(value: float) -> exp.Expr:
    """A numeric literal (negative numbers as a negation node).

    >>> number(-2.5).sql()
    '-2.5'
    """
    if value < 0:
        return exp.Neg(this=exp.Literal.number(repr(abs(float(value)))))
    return exp.Literal.number(repr(float(value)) if isinstance(value, float) else str(value))


@dataclass(frozen=True)
class SqlDialect:
    name: DialectName

    @property
    def clickhouse(self) -> bool:
        return self.name == "clickhouse"

    def json_text(self, column: exp.Expr, path: str) -> exp.Expr:
        """The JSON value at dotted ``path`` as text (numbers and booleans as written)."""
        keys = path.split(".")
        if self.clickhouse:
            return _fn("JSONExtract", column, *map(string, keys), string("Nullable(String)"))
        json_path = exp.JSONPath(
            expressions=[exp.JSONPathRoot(), *(exp.JSONPathKey(this=k) for k in keys)]
        )
        return exp.JSONExtractScalar(this=column, expression=json_path)

    def raw_json_text(self, column: exp.Expr) -> exp.Expr:
        """A JSON column's document as plain text (for substring prefilters)."""
        if self.clickhouse:
            return column
        return exp.cast(column, "VARCHAR")

    def to_number(self, text: exp.Expr) -> exp.Expr:
        """Text as a DOUBLE, NULL when it is not a number."""
        if self.clickhouse:
            return _fn("toFloat64OrNull", text)
        return exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))

    def as_double(self, column: exp.Expr) -> exp.Expr:
        if self.clickhouse:
            return _fn("toFloat64", column)
        return exp.cast(column, "DOUBLE")

    def json_list(self, column: exp.Expr, path: str) -> exp.Expr:
        """The JSON array at ``path`` as a list of text (empty / NULL when not an array)."""
        keys = path.split(".")
        if self.clickhouse:  # an array cannot be Nullable: read a NULL document as {}
            document = _fn("ifNull", column, string("{}"))
            return _fn("JSONExtract", document, *map(string, keys), string("Array(String)"))
        json_path = exp.JSONPath(
            expressions=[exp.JSONPathRoot(), *(exp.JSONPathKey(this=k) for k in keys)]
        )
        raw = exp.JSONExtract(this=column, expression=json_path)
        return exp.TryCast(this=raw, to=exp.DataType.build("VARCHAR[]", dialect="duckdb"))

    def list_has(self, items: exp.Expr, value: str) -> exp.Expr:
        if self.clickhouse:
            return _fn("has", items, string(value))
        return _false_if_null(_fn("list_contains", items, string(value)))

    def list_has_any(self, items: exp.Expr, values: list[str], all_: bool) -> exp.Expr:
        wanted = exp.Array(expressions=[string(v) for v in values])
        if self.clickhouse:
            return _fn("hasAll" if all_ else "hasAny", items, wanted)
        return _false_if_null(_fn("list_has_all" if all_ else "list_has_any", items, wanted))

    def list_empty(self, items: exp.Expr) -> exp.Expr:
        """True for an empty list and for no list at all."""
        if self.clickhouse:
            return _fn("empty", items)
        length = _fn("len", items)
        return exp.func("COALESCE", length, exp.Literal.number(0)).eq(0)

    def timestamp(self, at: datetime) -> exp.Expr:
        """A UTC timestamp literal, microsecond precision."""
        text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.clickhouse:
            return _fn("toDateTime64", string(text), exp.Literal.number(6), string("UTC"))
        return exp.cast(string(text + "+00"), "TIMESTAMPTZ")

    def day_text(self, column: exp.Expr) -> exp.Expr:
        """A timestamp column's UTC day as ``YYYY-MM-DD`` text."""
        if self.clickhouse:
            return _fn("formatDateTime", column, string("%Y-%m-%d"), string("UTC"))
        return _fn("strftime", column, string("%Y-%m-%d"))

    def text_prefix(self, text: exp.Expr, length: int, start: int = 1) -> exp.Expr:
        """``length`` characters of ``text`` from 1-based ``start``."""
        name = "substring" if self.clickhouse else "substr"
        return _fn(name, text, exp.Literal.number(start), exp.Literal.number(length))

    def contains(self, text: exp.Expr, part: str) -> exp.Expr:
        if self.clickhouse:
            return exp.GT(
                this=_fn("position", text, string(part)), expression=exp.Literal.number(0)
            )
        return _fn("contains", text, string(part))

    def starts_with(self, text: exp.Expr, part: str) -> exp.Expr:
        return _fn("startsWith" if self.clickhouse else "starts_with", text, string(part))

    def ends_with(self, text: exp.Expr, part: str) -> exp.Expr:
        return _fn("endsWith" if self.clickhouse else "ends_with", text, string(part))

    def arg_min(self, value: exp.Expr, by: exp.Expr, last: bool) -> exp.Expr:
        if self.clickhouse:
            return _fn("argMax" if last else "argMin", value, by)
        return _fn("arg_max" if last else "arg_min", value, by)

    def count_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.Count(this=exp.Distinct(expressions=[value]))

    def text_of(self, value: exp.Expr) -> exp.Expr:
        """Any value as text (for reasons)."""
        if self.clickhouse:
            return _fn("toString", value)
        return exp.cast(value, "VARCHAR")

    def id_list(self, ids: list[int]) -> exp.Select:
        """``SELECT contact_id`` of literal ids (a relation of its own, no table read)."""
        values = exp.Array(expressions=[exp.Literal.number(i) for i in ids])
        if self.clickhouse:
            return exp.select(_fn("arrayJoin", values).as_("contact_id"))
        return exp.select(exp.Unnest(expressions=[values]).as_("contact_id"))
