"""Segment definition → ONE sqlglot query → DuckDB or ClickHouse SQL.

>>> from datetime import datetime, UTC
>>> c = compile_segment({"root": {"type": "order", "compare": {"op": "gte", "value": 2},
...     "window": {"kind": "last", "amount": 90}}}, workspace_id="ws_1",
...     now=datetime(2026, 11, 28, tzinfo=UTC))
>>> "HAVING COUNT(*) >= 2" in c.sql and "'ws_1'" in c.sql
True

Every leaf reads one documented view (``segments.views``) in one GROUP BY / HAVING scan with
its window in the WHERE; groups combine the sets (``algebra``). User values only ever
become sqlglot literals. ``now`` is bound by the caller so both engines answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from retenta.segments.compiler import algebra
from retenta.segments.compiler.algebra import Shape
from retenta.segments.compiler.dialects import DialectName, SqlDialect
from retenta.segments.compiler.fusion import flag_cte, fuse
from retenta.segments.compiler.leaves import (
    CANDIDATES,
    CompileError,
    Ctx,
    Part,
    attribute_part,
    consent_part,
    tad_part,
    trait_part,
    universe,
)
from retenta.segments.compiler.windows import utc
from retenta.segments.definition import Definition, bind_params, parse_definition

__all__ = ["CompileError", "Compiled", "compile_reasons", "compile_segment", "count_sql"]

Resolver = Callable[[str], Any]
TAD_TYPES = {"event", "order", "purchase", "message"}


@dataclass(frozen=True)
class Compiled:
    sql: str
    ast: exp.Query
    params_used: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Compiler:
    ctx: Ctx
    shape: Shape
    resolve: Resolver | None
    stack: list[str] = field(default_factory=list)
    anchor: str | None = None  # path of the outermost reference being inlined
    fuse: bool = True  # leaves of a group over one view share one scan (compiler.fusion)

    def node(self, cond: Any, path: str) -> Part:
        kind = cond.type
        if kind in {"all", "any"}:
            parts = [self.node(c, f"{path}.conditions[{i}]") for i, c in enumerate(cond.conditions)]
            if self.fuse:
                parts = fuse(parts, kind)
            combine = algebra.all_of if kind == "all" else algebra.any_of
            return combine(parts, self.shape)
        if kind == "not":
            return self.node(cond.condition, f"{path}.condition").flip()
        return self.leaf(cond, path)

    def leaf(self, cond: Any, path: str) -> Part:
        kind = cond.type
        if kind in TAD_TYPES:
            return tad_part(cond, self.ctx)
        if kind == "attribute":
            return attribute_part(cond, self.ctx)
        if kind == "trait":
            return trait_part(cond, self.ctx)
        if kind == "consent":
            return consent_part(cond, self.ctx)
        if kind == "segment":
            part = self.segment(cond.segment_id, path)
            return part if cond.member else part.flip()
        return self.rfm(cond, path)

    def segment(self, segment_id: str, path: str) -> Part:
        """The referenced segment's own query, inlined (its params at their defaults)."""
        if self.resolve is None:
            raise CompileError(f"{path}.segment_id", "segment references need a resolver")
        where = f"{self.anchor or path}.segment_id"  # errors point into the definition at hand
        if segment_id in self.stack:
            cycle = " → ".join([*self.stack[self.stack.index(segment_id) :], segment_id])
            raise CompileError(where, f"segments refer to each other: {cycle}")
        try:
            referenced = parse_definition(self.resolve(segment_id))
        except LookupError as exc:
            raise CompileError(where, f"no segment {segment_id!r}") from exc
        bound, _ = bind_params(referenced, {})
        self.stack.append(segment_id)
        self.anchor = self.anchor or path
        try:
            return self.node(bound.root, path)
        finally:
            self.stack.pop()
            if not self.stack:
                self.anchor = None

    def rfm(self, cond: Any, path: str) -> Part:
        from retenta.segments.compiler.rfm import rfm_part

        return rfm_part(cond, self.ctx, path)


def _prepare(
    definition: Any, params: dict[str, Any] | None, dialect: DialectName, now: datetime
) -> tuple[Definition, dict[str, Any], Ctx]:
    if dialect not in ("duckdb", "clickhouse"):
        raise ValueError(f"unknown dialect {dialect!r}")
    bound, used = bind_params(parse_definition(definition), params)
    return bound, used, Ctx(SqlDialect(dialect), utc(now))


def compile_segment(
    definition: Any,
    *,
    workspace_id: str,
    dialect: DialectName = "duckdb",
    params: dict[str, Any] | None = None,
    now: datetime,
    resolve_segment: Resolver | None = None,
    candidates: str | None = None,
    shape: Shape = "semijoin",
    rfm_config: Any = None,
    fuse_leaves: bool = True,
    event_facts: bool = False,
    order_summary: bool = False,
    order_delta: bool = True,
) -> Compiled:
    """The query yielding the distinct ``contact_id`` of the members.

    ``fuse_leaves=False`` gives every leaf its own scan (the bench and tests compare both).
    ``event_facts=True`` lets event conditions on hot properties read the time-ordered
    ``event_facts`` table: pass it only when ``storage.duckdb.event_facts.in_sync`` said so in the
    snapshot the query runs in (DuckDB without candidates; ignored otherwise).
    ``order_summary=True`` lets order traits read the per-contact ``order_summary``: pass it
    only when ``segments.order_summary.in_sync`` said so in that snapshot (same conditions).
    ``order_delta=False`` (that check found no contact in the delta) reads the summary alone.
    """
    bound, used, ctx = _prepare(definition, params, dialect, now)
    ctx.candidates, ctx.rfm_config = candidates is not None, rfm_config
    ctx.event_facts = event_facts and candidates is None and dialect == "duckdb"
    ctx.order_summary = order_summary and candidates is None and dialect == "duckdb"
    ctx.order_delta = order_delta
    part = _Compiler(ctx, shape, resolve_segment, fuse=fuse_leaves).node(bound.root, "root")
    shared = frozenset(v for v, n in ctx.fusable.items() if n >= 2)
    if fuse_leaves and shared and candidates is None and dialect == "duckdb":
        # Second pass: the views with several fusable leaves anywhere are read once, as
        # flags (ClickHouse would re-run a CTE per reference; candidates prune anyway).
        ctx = Ctx(ctx.d, ctx.now, rfm_config=rfm_config, flag_views=shared,
                  event_facts=ctx.event_facts, order_summary=ctx.order_summary,
                  order_delta=ctx.order_delta)  # fmt: skip
        part = _Compiler(ctx, shape, resolve_segment, fuse=False).node(bound.root, "root")
    query = algebra.members(part, lambda: universe(ctx), shape)
    outer = exp.select("contact_id").from_(query.subquery("members"))
    for view, fusions in ctx.flags.items():
        name, body = flag_cte(view, fusions)
        outer = outer.with_(name, as_=body, materialized=True)
    final = finish(outer, workspace_id, dialect, ctx, candidates)
    return Compiled(final.sql(dialect), final, used)


def finish(
    query: exp.Select,
    workspace_id: str,
    dialect: DialectName,
    ctx: Ctx,
    candidates: str | None = None,
    candidate_rows: exp.Query | None = None,
) -> exp.Query:
    """Prepend the views the query reads, and the ``_candidates`` relation the scans read.

    ``candidates`` (a relation's name) is also handed to the views, which then hold only
    those contacts' rows, read through the raw contact columns so the scans prune;
    ``candidate_rows`` (literal ids, for reasons) becomes the ``_candidates`` CTE itself.
    """
    from retenta.segments.views import with_views

    for name, body in ctx.extra_ctes.items():  # e.g. the RFM scores, read by rfm leaves
        query = query.with_(name, as_=body)
    if candidates is not None:
        query = query.with_(
            CANDIDATES, as_=exp.select("contact_id").from_(exp.to_table(candidates))
        )
    elif candidate_rows is not None:
        query = query.with_(CANDIDATES, as_=candidate_rows)
        candidates = CANDIDATES
    return with_views(query, workspace_id, dialect, candidates=candidates)


def count_sql(compiled: Compiled, dialect: DialectName = "duckdb") -> str:
    """``SELECT count(*)`` of a compiled segment (views and all)."""
    query = compiled.ast.copy()
    with_ = query.args.get("with_")
    query.set("with_", None)
    counted = exp.select(exp.Count(this=exp.Star()).as_("size")).from_(query.subquery("m"))
    if with_ is not None:
        counted.set("with_", with_)
    return counted.sql(dialect)


def compile_reasons(
    definition: Any,
    *,
    workspace_id: str,
    dialect: DialectName = "duckdb",
    params: dict[str, Any] | None = None,
    now: datetime,
    resolve_segment: Resolver | None = None,
    contact_ids: list[int],
    rfm_config: Any = None,
) -> Compiled:
    """Rows ``(contact_id, path, matched, value)``: each leaf's verdict for each contact."""
    from retenta.segments.compiler.reasons import reasons_query

    bound, used, ctx = _prepare(definition, params, dialect, now)
    ctx.candidates, ctx.rfm_config = True, rfm_config
    compiler = _Compiler(ctx, "semijoin", resolve_segment)
    query = reasons_query(bound, compiler.leaf, ctx)
    ids = ctx.d.id_list([int(i) for i in contact_ids] or [-1])
    final = finish(query, workspace_id, dialect, ctx, candidate_rows=ids)
    return Compiled(final.sql(dialect), final, used)
