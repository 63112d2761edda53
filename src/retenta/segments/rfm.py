"""RFM scoring: configuration, the named cells, and the scoring query. Pure: no I/O.

Buyers are the contacts with at least one counted order (``statuses``) placed in the
``period_days`` before ``now``. For each: recency = whole days since the last counted
order, frequency = counted orders, monetary = their value (``COALESCE(revenue, total)``).

Scores run 1–5 (5 best):
- ``quantiles``: cut points at the 20/40/60/80th percentiles of the buyers' values,
  linearly interpolated (numpy's default ``linear`` method, DuckDB ``quantile_cont``),
  computed exactly (integer arithmetic) so DuckDB and ClickHouse agree to the row.
  F and M = 1 + number of cuts strictly below the value; R = 5 − number of cuts strictly
  below the recency (the most recent fifth scores 5).
- ``thresholds``: four ascending boundaries per dimension. F and M = 1 + number of
  boundaries ≤ the value (frequency thresholds ``[2, 3, 5, 10]``: 1 order → 1, 10+ → 5);
  R = 5 − number of boundaries < recency (``[30, 90, 180, 365]`` days: ≤ 30 → 5, > 365 → 1).

Named cells map the R × F grid (the usual RFM segment map; M is reported, not mapped):

======  ==============  ==============  ==============  ==============  ==============
R \\ F   1               2               3               4               5
======  ==============  ==============  ==============  ==============  ==============
5       new_customers   potential_l.    potential_l.    champions       champions
4       promising       potential_l.    potential_l.    loyal           loyal
3       about_to_sleep  about_to_sleep  need_attention  loyal           loyal
2       hibernating     hibernating     at_risk         at_risk         cannot_lose
1       lost            hibernating     at_risk         at_risk         cannot_lose
======  ==============  ==============  ==============  ==============  ==============
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp

Dialect = Literal["duckdb", "clickhouse"]
DEFAULT_STATUSES = ("placed", "paid", "shipped")

CELLS: dict[str, str] = {
    "champions": "Champions",
    "loyal": "Loyal",
    "potential_loyalists": "Potential loyalists",
    "new_customers": "New customers",
    "promising": "Promising",
    "need_attention": "Need attention",
    "about_to_sleep": "About to sleep",
    "at_risk": "At risk",
    "cannot_lose": "Can't lose them",
    "hibernating": "Hibernating",
    "lost": "Lost",
}
# (cell, R scores, F scores); the 25 cells of the grid, each exactly once.
CELL_MAP: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new_customers", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need_attention", (3,), (3,)),
    ("about_to_sleep", (3,), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cannot_lose", (1, 2), (5,)),
    ("hibernating", (2,), (1, 2)),
    ("hibernating", (1,), (2,)),
    ("lost", (1,), (1,)),
)


def cell_of(r: int, f: int) -> str:
    """The named cell of an (R, F) pair.

    >>> cell_of(5, 5), cell_of(1, 1), cell_of(2, 5), cell_of(3, 3), cell_of(1, 2)
    ('champions', 'lost', 'cannot_lose', 'need_attention', 'hibernating')
    """
    for name, rs, fs in CELL_MAP:
        if r in rs and f in fs:
            return name
    raise ValueError(f"no cell for R={r} F={f}")


class RfmConfig(BaseModel):
    """How a workspace scores RFM (stored as JSON in ``rfm_config``)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["quantiles", "thresholds"] = "quantiles"
    period_days: int | None = Field(365, ge=1, le=36500)  # None: all time
    statuses: list[str] = Field(default_factory=lambda: list(DEFAULT_STATUSES), min_length=1)
    recency_thresholds: list[float] = Field(default_factory=lambda: [30.0, 90.0, 180.0, 365.0])
    frequency_thresholds: list[float] = Field(default_factory=lambda: [2.0, 3.0, 5.0, 10.0])
    monetary_thresholds: list[float] = Field(default_factory=lambda: [100.0, 250.0, 500.0, 1000.0])

    @field_validator("recency_thresholds", "frequency_thresholds", "monetary_thresholds")
    @classmethod
    def _four_ascending(cls, value: list[float]) -> list[float]:
        if len(value) != 4:
            raise ValueError("give exactly 4 boundaries (between scores 1|2|3|4|5)")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("boundaries must be strictly ascending")
        if value[0] < 0:
            raise ValueError("boundaries cannot be negative")
        return value

    @field_validator("statuses")
    @classmethod
    def _known_statuses(cls, value: list[str]) -> list[str]:
        known = ("placed", "paid", "shipped", "returned", "cancelled")
        unknown = [s for s in value if s not in known]
        if unknown:
            raise ValueError(f"unknown order status {unknown[0]!r}; known: {', '.join(known)}")
        return list(dict.fromkeys(value))


# The query, in DuckDB syntax with two portable markers: rfm_epoch_us(ts) and
# rfm_intdiv(a, b), rewritten per dialect. `:name` placeholders are bound as literals.
_BASE = """
WITH rfm_base AS (
    SELECT contact_id, max(placed_at) AS last_order_at, count(*) AS order_count,
        sum(CAST(COALESCE(revenue, total) AS DECIMAL(18, 2))) AS money_exact
    FROM orders
    WHERE status IN (:statuses) AND placed_at <= :now {since}
    GROUP BY contact_id
), rfm_values AS (
    SELECT contact_id,
        rfm_intdiv(:now_us - rfm_epoch_us(last_order_at), 86400000000) AS recency_days,
        order_count, money_exact
    FROM rfm_base
)"""
_QUANTILE_CUTS = """
, rfm_ranked AS (
    SELECT recency_days, order_count, money_exact,
        row_number() OVER (ORDER BY recency_days) - 1 AS r_i,
        row_number() OVER (ORDER BY order_count) - 1 AS f_i,
        row_number() OVER (ORDER BY money_exact) - 1 AS m_i,
        count(*) OVER () AS n
    FROM rfm_values
), rfm_cuts AS (
    SELECT {cut_columns} FROM rfm_ranked
)"""
_SCORED = """
SELECT contact_id, recency_days, order_count AS frequency,
    CAST(money_exact AS DOUBLE) AS monetary, r, f, m, {cell} AS cell
FROM (
    SELECT v.contact_id, v.recency_days, v.order_count, v.money_exact,
        {r_score} AS r, {f_score} AS f, {m_score} AS m
    FROM rfm_values AS v {cuts_join}
) AS rfm_scored
"""
_DIMENSIONS = (("r", "recency_days"), ("f", "order_count"), ("m", "money_exact"))


def _cut_columns() -> str:
    """Five times each cut point: ``5·v[lo] + rem·(v[lo+1] − v[lo])`` with
    ``lo, rem = divmod((n − 1)·k, 5)`` — numpy's linear interpolation, without rounding."""
    parts = []
    for dim, column in _DIMENSIONS:
        for k in range(1, 5):
            lo = f"rfm_intdiv((n - 1) * {k}, 5)"
            rem = f"((n - 1) * {k}) % 5"
            v_lo = f"max(CASE WHEN {dim}_i = {lo} THEN {column} END)"
            v_hi = f"max(CASE WHEN {dim}_i = {lo} + 1 THEN {column} END)"
            parts.append(
                f"5 * {v_lo} + max({rem}) * (COALESCE({v_hi}, {v_lo}) - {v_lo}) AS {dim}_cut{k}"
            )
    return ", ".join(parts)


def _score_quantiles(dim: str, column: str) -> str:
    below = " + ".join(
        f"CASE WHEN 5 * v.{column} > c.{dim}_cut{k} THEN 1 ELSE 0 END" for k in range(1, 5)
    )
    return f"(5 - ({below}))" if dim == "r" else f"(1 + {below})"


def _score_thresholds(dim: str, column: str) -> str:
    op = ">" if dim == "r" else ">="
    counted = " + ".join(
        f"CASE WHEN v.{column} {op} :{dim}_t{k} THEN 1 ELSE 0 END" for k in range(1, 5)
    )
    return f"(5 - ({counted}))" if dim == "r" else f"(1 + {counted})"


def _cell_case() -> str:
    whens = []
    for name, rs, fs in CELL_MAP:
        r_in = ", ".join(str(r) for r in rs)
        f_in = ", ".join(str(f) for f in fs)
        whens.append(f"WHEN r IN ({r_in}) AND f IN ({f_in}) THEN '{name}'")
    return f"CASE {' '.join(whens)} END"


def rfm_sql_template(config: RfmConfig) -> str:
    """The scoring query in DuckDB syntax with placeholders (no user value in the text)."""
    since = "AND placed_at > :since" if config.period_days is not None else ""
    text = _BASE.format(since=since)
    if config.method == "quantiles":
        text += _QUANTILE_CUTS.format(cut_columns=_cut_columns())
        scores = {d: _score_quantiles(d, c) for d, c in _DIMENSIONS}
        cuts_join = "CROSS JOIN rfm_cuts AS c"
    else:
        scores = {d: _score_thresholds(d, c) for d, c in _DIMENSIONS}
        cuts_join = ""
    return text + _SCORED.format(
        cell=_cell_case(),
        r_score=scores["r"],
        f_score=scores["f"],
        m_score=scores["m"],
        cuts_join=cuts_join,
    )


def time_literal(at: datetime, dialect: Dialect) -> exp.Expr:
    """A UTC instant as a literal of the dialect's microsecond timestamp type.

    >>> t = datetime(2026, 9, 1, 12, 30, tzinfo=UTC)
    >>> time_literal(t, "duckdb").sql("duckdb")
    "CAST('2026-09-01 12:30:00.000000+00:00' AS TIMESTAMPTZ)"
    >>> time_literal(t, "clickhouse").sql("clickhouse")
    "toDateTime64('2026-09-01 12:30:00.000000', 6, 'UTC')"
    """
    utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S.%f")
    if dialect == "clickhouse":
        return exp.Anonymous(
            this="toDateTime64",
            expressions=[
                exp.Literal.string(text),
                exp.Literal.number(6),
                exp.Literal.string("UTC"),
            ],
        )
    return exp.cast(exp.Literal.string(text + "+00:00"), "TIMESTAMPTZ")


def _epoch_us(at: datetime) -> int:
    utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    delta = utc - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dialect_functions(query: exp.Expr, dialect: Dialect) -> exp.Expr:
    """Rewrite the portable markers, innermost first (children precede parents)."""
    for node in reversed(list(query.find_all(exp.Anonymous, bfs=False))):
        name = str(node.name).lower()
        if name == "rfm_epoch_us":
            fn = "toUnixTimestamp64Micro" if dialect == "clickhouse" else "epoch_us"
            node.replace(exp.Anonymous(this=fn, expressions=node.expressions))
        elif name == "rfm_intdiv":
            a, b = node.expressions
            if dialect == "clickhouse":
                node.replace(exp.Anonymous(this="intDiv", expressions=[a, b]))
            else:
                node.replace(exp.IntDiv(this=exp.paren(a), expression=exp.paren(b)))
    return query


def _bind(query: exp.Expr, values: dict[str, exp.Expr | Sequence[exp.Expr]]) -> exp.Expr:
    def put(node: exp.Expr) -> exp.Expr | list[exp.Expr]:
        if isinstance(node, exp.Placeholder) and node.name in values:
            value = values[str(node.name)]
            if isinstance(value, exp.Expr):
                return value.copy()
            return [v.copy() for v in value]
        return node

    bound = query.transform(put)
    assert isinstance(bound, exp.Expr)
    return bound


def rfm_query(config: RfmConfig | None, dialect: Dialect, now: datetime) -> exp.Query:
    """RFM of every buyer: ``(contact_id, recency_days, frequency, monetary, r, f, m, cell)``.

    Reads the logical view ``orders``; put the views in front with ``views.with_views``.
    ``config`` None scores with the defaults (a workspace's own: ``rfm_service.load_config``).

    >>> q = rfm_query(RfmConfig(), "duckdb", datetime(2026, 9, 1, tzinfo=UTC))
    >>> q.named_selects
    ['contact_id', 'recency_days', 'frequency', 'monetary', 'r', 'f', 'm', 'cell']
    """
    config = config or RfmConfig()
    parsed = sqlglot.parse_one(rfm_sql_template(config), dialect="duckdb")
    values: dict[str, exp.Expr | Sequence[exp.Expr]] = {
        "statuses": [exp.Literal.string(s) for s in config.statuses],
        "now": time_literal(now, dialect),
        "now_us": exp.Literal.number(_epoch_us(now)),
    }
    if config.period_days is not None:
        values["since"] = time_literal(now - timedelta(days=config.period_days), dialect)
    for dim, bounds in (
        ("r", config.recency_thresholds),
        ("f", config.frequency_thresholds),
        ("m", config.monetary_thresholds),
    ):
        for k, bound in enumerate(bounds, start=1):
            values[f"{dim}_t{k}"] = exp.Literal.number(bound)
    bound_query = _dialect_functions(_bind(parsed, values), dialect)
    assert isinstance(bound_query, exp.Query)
    return bound_query
