"""AND / OR / NOT over leaf sets, keeping complements symbolic until the very end.

A ``Part`` is a set ``S`` (members = S) or a negated one (members = everybody − S). With
P the plain children and N the negated ones:

- AND  = (P1 ∩ P2 …) − (N1 ∪ N2 …), or, without any P, ¬(N1 ∪ N2 …);
- OR   = P1 ∪ P2 …, or, with some N, ¬((N1 ∩ N2 …) − (P1 ∪ P2 …));
- NOT  flips the flag.

So "everybody" is read once, at the top, and only when the whole definition is negated.
``shape="semijoin"`` (the default) writes ∩ as a chain of ``IN`` filters (each plain leaf's
scan takes the contacts of the leaves before it, before its GROUP BY) and − as a ``NOT IN``
filter; ``"setops"`` writes INTERSECT / EXCEPT.
bench/bench_segments.py compares both (docs/segments.md has the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlglot import exp

from retenta.segments.compiler.leaves import Part

Shape = Literal["setops", "semijoin"]


def _operand(query: exp.Query, n: int) -> exp.Query:
    """A set operation becomes ``SELECT contact_id FROM (…)`` so precedence never matters."""
    if isinstance(query, exp.SetOperation):
        return exp.select("contact_id").from_(query.subquery(f"s{n}"))
    return query


def _chain(kind: type[exp.SetOperation], queries: list[exp.Query]) -> exp.Query:
    result = _operand(queries[0], 0)
    for n, query in enumerate(queries[1:], start=1):
        result = kind(this=_operand(result, 100 + n), expression=_operand(query, n), distinct=True)
    return result


def union(queries: list[exp.Query]) -> exp.Query:
    return queries[0] if len(queries) == 1 else _chain(exp.Union, queries)


def intersect(queries: list[exp.Query], shape: Shape) -> exp.Query:
    if len(queries) == 1:
        return queries[0]
    if shape == "semijoin":
        return _reduced(queries)
    return _chain(exp.Intersect, queries)


def _reduced(queries: list[exp.Query]) -> exp.Query:
    """The intersection as a chain of semi-join reductions: each set is read only for the
    contacts in all the sets before it (``contact_id IN (previous)`` in its own WHERE, so a
    leaf scan groups only those contacts' rows). Exact, since every leaf groups by contact:
    a contact's rows decide alone whether it is in the set.

    Heavy 10-condition count at 1M (CPU medians, load 5-6, same members): the first leaf
    filtered by every other set, each computed in full, 1,785-1,912 ms; chained 1,367-1,528.
    The order measured even (definition order 1,371; the purchase and event leaves first
    1,368; attribute, flag and other leaves ranked 1,454-1,533), so it is the definition's,
    except that a union never ends the chain (it would have to drop duplicates there; the
    members' DISTINCT after the last filter instead measured even, 1,502 vs 1,528).

    >>> a, b = (exp.select("contact_id").from_(t) for t in ("x", "y"))
    >>> _reduced([a, b]).sql()
    'SELECT contact_id FROM y WHERE contact_id IN (SELECT contact_id FROM x)'
    """
    queries = list(queries)
    if not isinstance(queries[-1], exp.Select):
        # The last set is the result, so a union there would have to drop duplicates; read
        # by ``IN`` it need not (``_as_bag``): a leaf ends the chain when there is one.
        last = max((i for i, q in enumerate(queries) if isinstance(q, exp.Select)), default=-1)
        if last >= 0:
            queries.append(queries.pop(last))
    kept = queries[0]
    for query in queries[1:]:
        kept = _filtered(query, [kept], negate=False)
    return kept


def minus(left: exp.Query, right: exp.Query, shape: Shape) -> exp.Query:
    if shape == "semijoin":
        return _filtered(left, [right], negate=True)
    return _chain(exp.Except, [left, right])


def _filtered(base: exp.Query, others: list[exp.Query], negate: bool) -> exp.Query:
    """``base`` with ``contact_id [NOT] IN (other)`` filters.

    A leaf scan takes them in its own WHERE, before its GROUP BY (fewer rows to group);
    anything else is wrapped: ``SELECT contact_id FROM (base) WHERE …``.
    """
    if isinstance(base, exp.Select) and not base.args.get("limit"):
        column = base.selects[0].copy()
        select = base.copy()
    else:
        column = exp.column("contact_id", table="b")
        select = exp.select(column).from_(base.subquery("b"))
    for other in others:
        test: exp.Expr = column.isin(query=_as_bag(other))
        select = select.where(exp.Not(this=test) if negate else test, copy=False)
    return select


def _as_bag(query: exp.Query) -> exp.Query:
    """An ``IN (…)`` test asks only whether a contact is there, so a union it reads (and the
    unions chained into it by ``_chain``) need not drop duplicates: ``UNION ALL`` skips a
    hash aggregate of every contact of its operands (heavy 10-condition count at 1M:
    1,575 -> 1,492 ms CPU, same members). Returns a new tree; ``query`` is left as is."""
    if isinstance(query, exp.Union):
        bag = query.copy()
        bag.set("distinct", False)
        bag.set("this", _as_bag(query.this))
        bag.set("expression", _as_bag(query.expression))
        return bag
    source = query.args.get("from_")
    inner = source.this if isinstance(query, exp.Select) and source else None
    # A WHERE on top keeps a bag a bag; grouping or DISTINCT would count or drop rows.
    plain = not any(query.args.get(k) for k in ("distinct", "group", "having", "limit"))
    if plain and isinstance(inner, exp.Subquery) and isinstance(inner.this, exp.Union):
        # ``_operand``'s SELECT contact_id FROM (union) AS sN, or ``_filtered``'s with a WHERE
        wrapped = query.copy()
        wrapped.args["from_"].this.set("this", _as_bag(inner.this))
        return wrapped
    return query


def all_of(parts: list[Part], shape: Shape) -> Part:
    plain = [p.query for p in parts if not p.negated]
    negated = [p.query for p in parts if p.negated]
    if not plain:
        return Part(union(negated), negated=True)
    kept = intersect(plain, shape)
    return Part(minus(kept, union(negated), shape) if negated else kept)


def any_of(parts: list[Part], shape: Shape) -> Part:
    plain = [p.query for p in parts if not p.negated]
    negated = [p.query for p in parts if p.negated]
    if not negated:
        return Part(union(plain))
    common = intersect(negated, shape)
    return Part(minus(common, union(plain), shape) if plain else common, negated=True)


def members(part: Part, universe: Callable[[], exp.Select], shape: Shape) -> exp.Query:
    """The final set: a negated part is taken from everybody."""
    if not part.negated:
        return part.query
    return minus(universe(), part.query, shape)
