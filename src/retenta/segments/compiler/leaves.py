"""Leaf conditions as sets of contact ids: one scan of one view with GROUP BY / HAVING.

Each builder returns a ``Part``: a query yielding distinct ``contact_id`` and whether the
members are that set (``negated=False``) or everybody else (``negated=True``). A TAD
comparison that zero satisfies (``count < 2``, ``sum = 0``) is compiled as the complement
of the contacts whose rows fail it, so contacts without any row need no scan at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.dialects import SqlDialect, number
from retenta.segments.compiler.predicates import Field, compare, predicate
from retenta.segments.compiler.sources import ALIAS, FACTS_VIEW, Source, col, source_of

__all__ = ["ALIAS", "CANDIDATES", "CompileError", "Ctx", "Fusion", "Part"]
from retenta.segments.compiler.windows import bounds
from retenta.segments.definition_checks import TRAIT_TYPES, infer_value_type
from retenta.segments.view_sql import (
    CONSENT_ROWS_VIEW,
    ORDER_TRAITS_PLAIN_VIEW,
    ORDER_TRAITS_VIEW,
    TRAIT_ORDER_COLUMNS,
)

CANDIDATES = "_candidates"
FLAGS_PREFIX = "_flags_"
CONTACT_COLUMNS = {
    "contact_id": "number", "email": "text", "phone": "text", "external_id": "text",
    "language": "text", "timezone": "text", "created_at": "timestamp",
    "updated_at": "timestamp", "last_seen_at": "timestamp",
}  # fmt: skip
TRAIT_KINDS = {"number": "number", "date": "timestamp", "text": "text"}
ZERO_AGGREGATES = {"count", "count_distinct", "sum"}
FUSABLE_AGGREGATES = {"count", "sum", "avg", "min", "max"}
# Views whose leaves DuckDB reads each on its own: an AND group's chain of semi-join
# reductions (``algebra._reduced``) has each such leaf group only the contacts that passed
# the leaves before it, which beat one shared GROUP BY of every contact's rows (1.76M
# orders at 1M contacts, CPU medians of 5 alternated, load 4-6, same members: heavy
# 10-condition count 1,455 -> 1,279 and 1,524 -> 1,427 ms, light 667 -> 578 and 672 -> 620,
# an OR of three order leaves 295 -> 265, the TAD segment 98 -> 93). ClickHouse and the
# candidates path (a few contacts at a time) keep the shared scan.
UNFUSED_DUCKDB = frozenset({"orders"})


class CompileError(ValueError):
    """A definition that parses but cannot be compiled here (path and reason)."""

    def __init__(self, path: str, reason: str) -> None:
        self.errors = [{"path": path, "reason": reason}]
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Fusion:
    """How a leaf reads as one flag of a shared scan (``compiler.fusion``): the set is the
    contacts whose rows of ``view`` meeting ``where`` pass ``having`` (aggregates unfiltered)."""

    view: str
    where: exp.Expr
    having: exp.Expr


@dataclass(frozen=True)
class Part:
    query: exp.Query
    negated: bool = False
    fusion: Fusion | None = None

    def flip(self) -> Part:
        return Part(self.query, not self.negated, self.fusion)


@dataclass
class Ctx:
    d: SqlDialect
    now: datetime
    candidates: bool = False
    extra_ctes: dict[str, exp.Query] = field(default_factory=dict)
    rfm_config: Any = None
    # Event conditions on hot properties read ``_event_facts`` (DuckDB, no candidates, the
    # table in sync: ``storage.duckdb.event_facts``).
    event_facts: bool = False
    # Order traits read the per-contact ``order_summary`` (DuckDB, no candidates, the
    # summary in sync: ``segments.order_summary``).
    order_summary: bool = False
    # ... and its delta (contacts whose orders changed since the last fold), when not empty.
    order_delta: bool = True
    # Views whose fusable leaves read shared flags (``fusion.flag_ctes``), and the counts
    # and leaves a compile pass finds.
    flag_views: frozenset[str] = frozenset()
    fusable: dict[str, int] = field(default_factory=dict)
    flags: dict[str, list[Fusion]] = field(default_factory=dict)

    def flagged(self, fusion: Fusion | None, negated: bool) -> Part | None:
        """The leaf as a read of its flag in the view's shared flags CTE, when that is on."""
        if fusion is None:
            return None
        self.fusable[fusion.view] = self.fusable.get(fusion.view, 0) + 1
        if fusion.view not in self.flag_views:
            return None
        leaves = self.flags.setdefault(fusion.view, [])
        leaves.append(fusion)
        flag = exp.column(f"_f{len(leaves)}", table=ALIAS)
        cte = exp.to_table(FLAGS_PREFIX + fusion.view).as_(ALIAS)
        return Part(exp.select(col("contact_id")).from_(cte).where(flag), negated)

    def restrict(self, select: exp.Select, column: exp.Expr) -> exp.Select:
        """Push the candidate set into a scan (REALTIME evaluates a few contacts at a time)."""
        if not self.candidates:
            return select
        pick = exp.select("contact_id").from_(CANDIDATES)
        return select.where(column.isin(query=pick), copy=False)


def contacts_field(name: str, d: SqlDialect) -> Field:
    kind = CONTACT_COLUMNS.get(name)
    if kind is not None:
        return Field(col(name), d, kind)
    return Field(col("attributes"), d, "json", name)


def universe(ctx: Ctx) -> exp.Select:
    """Every live contact (of the candidates, when given)."""
    select = exp.select(col("contact_id")).from_(exp.to_table("contacts").as_(ALIAS))
    return ctx.restrict(select, col("contact_id"))


def attribute_part(cond: Any, ctx: Ctx) -> Part:
    field_ = contacts_field(cond.field, ctx.d)
    where = predicate(field_, cond.op, cond.value_type, cond.value, ctx.now, cond.unit)
    return Part(universe(ctx).where(where, copy=False))


def trait_part(cond: Any, ctx: Ctx) -> Part:
    value_type = TRAIT_TYPES[cond.trait]
    field_ = Field(col(cond.trait), ctx.d, TRAIT_KINDS[value_type])
    where = predicate(field_, cond.op, value_type, cond.value, ctx.now, cond.unit)
    view = "contact_traits"
    if ctx.order_summary and cond.trait in TRAIT_ORDER_COLUMNS:
        view = ORDER_TRAITS_VIEW if ctx.order_delta else ORDER_TRAITS_PLAIN_VIEW
    select = exp.select(col("contact_id")).from_(exp.to_table(view).as_(ALIAS))
    return Part(ctx.restrict(select, col("contact_id")).where(where, copy=False))


def consent_part(cond: Any, ctx: Ctx) -> Part:
    channel = col("channel").eq(exp.Literal.string(str(cond.channel)))
    topic = col("topic").eq(exp.Literal.string(str(cond.topic)))
    status = exp.Literal.string(cond.status)
    if not ctx.d.clickhouse:  # the rows of that channel and topic, grouped by contact alone
        rows = exp.select(col("contact_id")).from_(exp.to_table(CONSENT_ROWS_VIEW).as_(ALIAS))
        latest = ctx.d.arg_min(col("status"), col("_last"), last=True)
        grouped = ctx.restrict(rows.where(channel, topic, copy=False), col("contact_id"))
        return Part(grouped.group_by(col("contact_id")).having(latest.eq(status), copy=False))
    select = exp.select(col("contact_id")).from_(exp.to_table("consents").as_(ALIAS)).distinct()
    select = select.where(channel, topic, col("status").eq(status), copy=False)
    return Part(ctx.restrict(select, col("contact_id")))


# ---- TAD --------------------------------------------------------------------------------


def scan_filters(source: Source, where: list[Any], window: Any, ctx: Ctx) -> list[exp.Expr]:
    """The WHERE of a TAD scan: fixed filters, property filters, the window's bounds."""
    out = list(source.filters)
    for flt in where:
        value_type = (
            flt.value_type or source.columns.get(flt.property) or infer_value_type(flt.value)
        )
        value_type = "text" if value_type == "json" else value_type
        own = source.own.get(flt.property)
        if own is not None:
            out.append(own_filter(Field(col(own), ctx.d, source.columns[flt.property]),
                                  flt.op, value_type, flt.value, ctx.now))  # fmt: skip
        out.append(predicate(source.field(flt.property), flt.op, value_type, flt.value, ctx.now))
    span = bounds(window, ctx.now)
    if span.lo is not None:
        out.append(source.time >= ctx.d.timestamp(span.lo))
    if span.hi is not None:
        hi = ctx.d.timestamp(span.hi)
        out.append(source.time <= hi if span.hi_inclusive else source.time < hi)
    return out


def own_filter(own: Field, op: str, value_type: str, value: Any, now: datetime) -> exp.Expr:
    """What a filter on ``COALESCE(own, joined)`` implies for ``own`` alone: ``own IS NULL OR
    <the filter on own>`` (where own is set, the field IS own). It drops no row the filter
    keeps, and, reading only the scanned table, DuckDB applies it before the joins."""
    missing = exp.Is(this=own.column.copy(), expression=exp.Null())
    test = predicate(own, op, value_type, value, now)
    return exp.paren(exp.or_(missing, exp.paren(test, copy=False), copy=False), copy=False)


def scan(source: Source, where: list[Any], window: Any, ctx: Ctx) -> exp.Select:
    """``FROM <view> AS t [JOIN first orders] WHERE …`` with nothing selected yet."""
    select = exp.select().from_(exp.to_table(source.view).as_(ALIAS))
    if window.kind == "since_first_order":
        first = (
            exp.select(
                col("contact_id", "o"), exp.func("MIN", col("placed_at", "o")).as_("first_at")
            )
            .from_(exp.to_table("orders").as_("o"))
            .group_by(col("contact_id", "o"))
        )
        on = col("contact_id", "fo").eq(col("contact_id"))
        select = select.join(first.subquery("fo"), on=on)
        select = select.where(source.time >= col("first_at", "fo"), copy=False)
    filters = scan_filters(source, where, window, ctx)
    if filters:
        select = select.where(*filters, copy=False)
    return ctx.restrict(select, col("contact_id"))


def aggregate(cond: Any, source: Source, ctx: Ctx) -> tuple[exp.Expr, exp.Expr | None]:
    """The aggregate expression and the filter it needs (first/last skip missing values)."""
    agg, d = cond.aggregate, ctx.d
    if agg.fn == "count":
        if agg.property is None:
            return exp.Count(this=exp.Star()), None
        return exp.Count(this=source.field(agg.property).text()), None
    target = source.field(agg.property)
    if agg.fn == "count_distinct":
        return d.count_distinct(target.text()), None
    if agg.fn in {"first", "last"}:
        value = target.text() if compare_type(cond) == "text" else target.number()
        present = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
        return d.arg_min(value, source.time, last=agg.fn == "last"), present
    value = target.number()
    if agg.fn == "sum":
        return exp.func("COALESCE", exp.func("SUM", value), number(0)), None
    return exp.func(agg.fn.upper(), value), None


def compare_type(cond: Any) -> str:
    if cond.aggregate.fn in {"first", "last"} and cond.compare.op in {"equals", "not_equals"}:
        return infer_value_type(cond.compare.value)
    return "number"


def at_least_once(cond: Any) -> bool:
    """``count ≥ 1`` (or ``> 0``) of rows: the plain "did it" condition."""
    agg, cmp = cond.aggregate, cond.compare
    if agg.fn != "count" or agg.property is not None or getattr(cond, "per", None):
        return False
    return (cmp.op, cmp.value) in {("gte", 1), ("gt", 0)}


def zero_satisfies(cond: Any) -> bool:
    """Whether a contact with no rows at all meets the comparison (so: complement)."""
    if cond.aggregate.fn not in ZERO_AGGREGATES or getattr(cond, "per", None):
        return False
    op, value = cond.compare.op, cond.compare.value
    if op == "between":
        return bool(value[0] <= 0 <= value[1])
    checks: dict[str, bool] = {
        "equals": value == 0, "not_equals": value != 0, "gt": value < 0, "gte": value <= 0,
        "lt": value > 0, "lte": value >= 0,
    }  # fmt: skip
    return checks[op]


def tad_part(cond: Any, ctx: Ctx) -> Part:
    source = source_of(cond, ctx.d, facts=ctx.event_facts)
    agg, extra = aggregate(cond, source, ctx)
    cmp = compare(agg, cond.compare.op, cond.compare.value, compare_type(cond))
    select = scan(source, cond.where, cond.window, ctx)
    if extra is not None:
        select = select.where(extra, copy=False)
    per = getattr(cond, "per", None)
    if per is not None:
        return Part(_per_groups(cond, source, select, cmp, ctx))
    if at_least_once(cond):  # no aggregate to compute: the rows' contacts are the set
        fusion = _fusion(cond, source, select, cmp, ctx)
        flagged = ctx.flagged(fusion, False)
        if flagged is not None:
            return flagged
        return Part(select.select(col("contact_id"), copy=False).distinct(), fusion=fusion)
    negated = zero_satisfies(cond)
    having = exp.Not(this=exp.paren(cmp, copy=False)) if negated else cmp
    fusion = _fusion(cond, source, select, having, ctx)
    flagged = ctx.flagged(fusion, negated)
    if flagged is not None:
        return flagged
    grouped = select.select(col("contact_id"), copy=False).group_by(col("contact_id"))
    return Part(grouped.having(having, copy=False), negated, fusion)


def _fusion(
    cond: Any, source: Source, select: exp.Select, having: exp.Expr, ctx: Ctx
) -> Fusion | None:
    """The leaf as a flag of a shared scan, when its scan is plain filters on one view."""
    where = select.args.get("where")
    if cond.aggregate.fn not in FUSABLE_AGGREGATES or cond.window.kind == "since_first_order":
        return None
    if source.view in UNFUSED_DUCKDB and not ctx.d.clickhouse and not ctx.candidates:
        return None
    if source.view == FACTS_VIEW:
        # Each such scan prunes to its own event name and window (the copy is ordered by
        # them); a shared scan of their OR read more. Measured at 1M (CPU, load 8-9): light
        # 10-condition count 765 -> 632 ms, the JSON/trait one 3,055 -> 2,885 ms.
        return None
    condition = where.this.copy() if where is not None else exp.true()
    if _reads_json(condition) or _reads_json(having):
        return None
    return Fusion(source.view, condition, having.copy())


def _reads_json(node: exp.Expr) -> bool:
    """Whether an expression parses JSON: a fused scan would parse it twice (WHERE and
    FILTER), and the OR of the leaves' filters would reach every row (measured at 1M:
    the JSON/traits 10-condition count 26 s unfused → 39 s with such a leaf fused)."""
    json_nodes = (exp.JSONExtractScalar, exp.JSONExtract)
    return any(
        isinstance(n, json_nodes) or (isinstance(n, exp.Anonymous) and "JSON" in n.name.upper())
        for n in node.walk()
    )


def _per_groups(
    cond: Any, source: Source, select: exp.Select, cmp: exp.Expr, ctx: Ctx
) -> exp.Query:
    """Contacts with a ``per`` key whose rows meet the comparison (and no ``unless`` row)."""
    key = source.field(cond.per).text()
    present = exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null()))
    pairs: exp.Query = (
        select.select(col("contact_id"), key.as_("k"), copy=False)
        .where(present, copy=False)
        .group_by(col("contact_id"), key.copy())
        .having(cmp, copy=False)
    )
    if cond.unless is not None:
        pairs = exp.except_(pairs, _unless_pairs(cond, ctx), distinct=True)
    return exp.select(exp.column("contact_id")).from_(pairs.subquery("g")).distinct()


def _unless_pairs(cond: Any, ctx: Ctx) -> exp.Select:
    unless = cond.unless
    source = source_of(unless, ctx.d, facts=ctx.event_facts)
    key = source.field(unless.property).text()
    window = unless.window or cond.window
    select = scan(source, unless.where, window, ctx)
    present = exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null()))
    return select.select(col("contact_id"), key.as_("k"), copy=False).where(present, copy=False)
