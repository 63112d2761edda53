"""Why is she in: per leaf and contact, whether the leaf matched and the value it saw.

One ``UNION ALL`` branch per leaf over the candidate contacts: ``matched`` tests membership
in the leaf's own set (the same query the segment uses), ``value`` is the aggregate (TAD),
the attribute / trait as text, or the consent status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.leaves import (
    ALIAS,
    CANDIDATES,
    Ctx,
    Part,
    aggregate,
    contacts_field,
    scan,
)
from retenta.segments.compiler.sources import col, source_of
from retenta.segments.definition import Definition, leaves

TAD_TYPES = {"event", "order", "purchase", "message"}


def _value_query(cond: Any, ctx: Ctx) -> exp.Select | None:
    """``SELECT contact_id, value`` for the leaf's candidates, or None (nothing to show)."""
    d, kind = ctx.d, cond.type
    if kind in TAD_TYPES:
        source = source_of(cond, d)
        agg, extra = aggregate(cond, source, ctx)
        select = scan(source, cond.where, cond.window, ctx)
        if extra is not None:
            select = select.where(extra, copy=False)
        value = d.text_of(agg).as_("value")
        return select.select(col("contact_id"), value, copy=False).group_by(col("contact_id"))
    if kind in {"attribute", "trait"}:
        view = "contacts" if kind == "attribute" else "contact_traits"
        target = contacts_field(cond.field, d).text() if kind == "attribute" else col(cond.trait)
        select = exp.select(col("contact_id"), d.text_of(target).as_("value"))
        return ctx.restrict(select.from_(exp.to_table(view).as_(ALIAS)), col("contact_id"))
    if kind == "consent":
        select = exp.select(col("contact_id"), exp.func("MAX", col("status")).as_("value"))
        select = select.from_(exp.to_table("consents").as_(ALIAS)).where(
            col("channel").eq(exp.Literal.string(str(cond.channel))),
            col("topic").eq(exp.Literal.string(str(cond.topic))),
        )
        return ctx.restrict(select, col("contact_id")).group_by(col("contact_id"))
    return None


def _branch(path: str, cond: Any, part: Part, ctx: Ctx) -> exp.Select:
    cid = exp.column("contact_id", table="c")
    inside: exp.Expr = cid.isin(query=part.query)
    matched = exp.Not(this=inside) if part.negated else inside
    values = _value_query(cond, ctx)
    value: exp.Expr = exp.cast(exp.Null(), "VARCHAR")
    select = exp.select(
        cid, exp.Literal.string(path).as_("path"), exp.paren(matched, copy=False).as_("matched")
    ).from_(exp.to_table(CANDIDATES).as_("c"))
    if values is not None:
        select = select.join(
            values.subquery("v"), on=exp.column("contact_id", "v").eq(cid), join_type="left"
        )
        value = exp.column("value", table="v")
    known = exp.select("contact_id").from_("contacts")
    return select.select(value.as_("value"), copy=False).where(cid.isin(query=known), copy=False)


def reasons_query(defn: Definition, leaf: Callable[[Any, str], Part], ctx: Ctx) -> exp.Select:
    """All leaves' branches, ordered by contact and path."""
    branches: list[exp.Query] = [_branch(p, c, leaf(c, p), ctx) for p, c in leaves(defn)]
    query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    return (
        exp.select("contact_id", "path", "matched", "value")
        .from_(query.subquery("r"))
        .order_by("contact_id", "path")
    )
