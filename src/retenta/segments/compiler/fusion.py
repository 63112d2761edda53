"""Leaves of one group that read the same view share one scan (leaf fusion).

Each fusable leaf (``leaves.Fusion``) is a set S_i = contacts whose rows of the view that meet
``w_i`` pass ``h_i``. k such leaves of one ``all`` / ``any`` become ONE scan::

    SELECT contact_id FROM <view> AS t WHERE w_1 OR … OR w_k GROUP BY contact_id
    HAVING <the group's boolean algebra over the flags f_i>

where the flag f_i = ``count(*) FILTER (WHERE w_i) > 0 AND h_i`` with every aggregate of
``h_i`` filtered by ``w_i`` (so a contact's rows of the other leaves never count for this
one, and an aggregate over no rows never passes — ClickHouse's ``max`` of nothing is 0,
not NULL). The result is the same ``Part`` the algebra would have made of those leaves:

- AND with plain P and negated N: plain, HAVING ∧P ∧ ¬N (a member has rows: it is in P);
  AND of negated only: negated, HAVING ∨N;
- OR of plain only: plain, HAVING ∨P; OR with some N: negated, HAVING ∧N ∧ ¬P.

A contact without any row is in no S_i, as in the unfused shape, so the flags are exact.
The view is read once instead of k times (events: 53M rows per read at 1M contacts).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from sqlglot import exp

from retenta.segments.compiler.leaves import FLAGS_PREFIX, Fusion, Part
from retenta.segments.compiler.sources import ALIAS, col

Kind = Literal["all", "any"]


def fuse(parts: list[Part], kind: Kind) -> list[Part]:
    """``parts`` with every two or more fusable leaves over one view replaced by one scan.

    >>> w = exp.column("event").eq(exp.Literal.string("A"))
    >>> h = exp.Count(this=exp.Star()) >= exp.Literal.number(2)
    >>> leaf = Part(exp.select("contact_id"), fusion=Fusion("events", w, h))
    >>> [p.fusion is None for p in fuse([leaf, leaf.flip()], "all")]
    [True]
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, part in enumerate(parts):
        if part.fusion is not None:
            groups[part.fusion.view].append(i)
    fused: dict[int, Part] = {}
    dropped: set[int] = set()
    for indexes in groups.values():
        if len(indexes) < 2:
            continue
        fused[indexes[0]] = _fused([parts[i] for i in indexes], kind)
        dropped.update(indexes[1:])
    return [fused.get(i, p) for i, p in enumerate(parts) if i not in dropped]


def _flag(fusion: Fusion) -> exp.Expr:
    """``count(*) FILTER (WHERE w) > 0 AND h`` with h's aggregates filtered by ``w``."""
    having = fusion.having.copy()
    for agg in list(having.find_all(exp.AggFunc)):
        agg.replace(_filtered(agg.copy(), fusion.where))
    rows = _filtered(exp.Count(this=exp.Star()), fusion.where) > exp.Literal.number(0)
    return exp.and_(rows, exp.paren(having, copy=False), copy=False)


def _filtered(agg: exp.Expr, where: exp.Expr) -> exp.Expr:
    return exp.Filter(this=agg, expression=exp.Where(this=where.copy()))


def _all(flags: list[exp.Expr]) -> exp.Expr:
    return exp.and_(*(exp.paren(f, copy=False) for f in flags), copy=False)


def _any(flags: list[exp.Expr]) -> exp.Expr:
    return exp.or_(*(exp.paren(f, copy=False) for f in flags), copy=False)


def _none(flags: list[exp.Expr]) -> list[exp.Expr]:
    return [exp.Not(this=exp.paren(f, copy=False)) for f in flags]


def _fused(parts: list[Part], kind: Kind) -> Part:
    fusions = [p.fusion for p in parts if p.fusion is not None]
    plain = [_flag(p.fusion) for p in parts if p.fusion is not None and not p.negated]
    negated = [_flag(p.fusion) for p in parts if p.fusion is not None and p.negated]
    if kind == "all":
        having, is_negated = (
            (_all(plain + _none(negated)), False) if plain else (_any(negated), True)
        )
    elif negated:
        having, is_negated = _all(negated + _none(plain)), True
    else:
        having, is_negated = _any(plain), False
    where = exp.or_(*(exp.paren(f.where.copy(), copy=False) for f in fusions), copy=False)
    common = _common_bounds([f.where for f in fusions])
    if common:
        where = exp.and_(*common, exp.paren(where, copy=False), copy=False)
    query = (
        exp.select(col("contact_id"))
        .from_(exp.to_table(fusions[0].view).as_(ALIAS))
        .where(where, copy=False)
        .group_by(col("contact_id"), copy=False)
        .having(having, copy=False)
    )
    return Part(query, is_negated)


def _terms(where: exp.Expr) -> list[exp.Expr]:
    return list(where.flatten()) if isinstance(where, exp.And) else [where]


def _literal_key(node: exp.Expr) -> str | None:
    """The text of the literal a bound is made of (timestamps are written sortable)."""
    found = node if isinstance(node, exp.Literal) else node.find(exp.Literal)
    if found is None or node.find(exp.Column) is not None:
        return None
    return str(found.this)


def _common_bounds(wheres: list[exp.Expr]) -> list[exp.Expr]:
    """Filters every leaf implies, in a shape the scan takes before the OR (so DuckDB keeps
    pushing them into the table scan): ``col IN (each leaf's value)`` for a column every leaf
    tests for equality, the loosest ``col >= lo`` / ``col <= hi`` every leaf bounds.

    >>> from sqlglot import parse_one
    >>> ws = [parse_one("t.event = 'A' AND t.ts >= '2026-01-02' AND t.x > 1"),
    ...       parse_one("t.event = 'B' AND t.ts >= '2026-01-01'")]
    >>> [e.sql() for e in _common_bounds(ws)]
    ["t.event IN ('A', 'B')", "t.ts >= '2026-01-01'"]
    """
    kinds: list[tuple[type[exp.Expr], bool]] = [(exp.EQ, False), (exp.GTE, True), (exp.LTE, False)]
    out: list[exp.Expr] = []
    for kind, lowest in kinds:
        per_leaf: list[dict[str, list[tuple[str, exp.Expr]]]] = []
        for where in wheres:
            found: dict[str, list[tuple[str, exp.Expr]]] = defaultdict(list)
            for term in _terms(where):
                if type(term) is kind and isinstance(term.this, exp.Column):
                    key = _literal_key(term.expression)
                    if key is not None:
                        found[term.this.sql()].append((key, term))
            per_leaf.append(found)
        for column in sorted(set.intersection(*(set(f) for f in per_leaf))):
            picks = [f[column][0] for f in per_leaf]
            ref = picks[0][1].this.copy()
            if kind is exp.EQ:
                values = list({k: t.expression for k, t in picks}.values())
                out.append(ref.isin(*(v.copy() for v in values)))
            else:
                key, term = (min if lowest else max)(picks, key=lambda p: p[0])
                out.append(term.copy())
    return out


def flag_cte(view: str, fusions: list[Fusion]) -> tuple[str, exp.Select]:
    """One scan of ``view`` giving every contact with rows of any leaf its flags
    ``_f1 … _fk`` (leaves at any depth of the definition; each leaf then reads its flag).

    >>> w = exp.column("event", "t").eq(exp.Literal.string("A"))
    >>> h = exp.Count(this=exp.Star()) >= exp.Literal.number(2)
    >>> name, body = flag_cte("events", [Fusion("events", w, h)])
    >>> name, [s.alias for s in body.selects]
    ('_flags_events', ['', '_f1'])
    """
    where = exp.or_(*(exp.paren(f.where.copy(), copy=False) for f in fusions), copy=False)
    common = _common_bounds([f.where for f in fusions])
    if common:
        where = exp.and_(*common, exp.paren(where, copy=False), copy=False)
    flags = [_flag(f).as_(f"_f{i}") for i, f in enumerate(fusions, start=1)]
    body = (
        exp.select(col("contact_id"), *flags)
        .from_(exp.to_table(view).as_(ALIAS))
        .where(where, copy=False)
        .group_by(col("contact_id"), copy=False)
    )
    return FLAGS_PREFIX + view, body
