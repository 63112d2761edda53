"""RFM conditions: contacts whose scores or named cell match, read from the ``rfm`` scores.

The scores come from ``retenta.segments.rfm.rfm_query(config, dialect, now)`` (one row per
buyer with ``r``, ``f``, ``m`` and ``cell``), put once in front of the query as a CTE; the
workspace's own scoring config is passed by the caller (``compile_segment(rfm_config=…)``),
the default scoring otherwise.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlglot import exp

from retenta.segments.compiler.leaves import CompileError, Ctx, Part

RFM_CTE = "_rfm"


def rfm_part(cond: Any, ctx: Ctx, path: str) -> Part:
    try:
        rfm_module: Any = importlib.import_module("retenta.segments.rfm")
    except ImportError as exc:
        raise CompileError(path, "RFM scoring is not available in this build") from exc
    scores = rfm_module.rfm_query(ctx.rfm_config, ctx.d.name, ctx.now)
    if not isinstance(scores, exp.Query):
        raise CompileError(path, "RFM scoring returned no query")
    ctx.extra_ctes[RFM_CTE] = scores
    select = exp.select(exp.column("contact_id")).from_(RFM_CTE)
    if cond.cells:
        select = select.where(exp.column("cell").isin(*map(exp.Literal.string, cond.cells)))
    for axis in ("r", "f", "m"):
        rng = getattr(cond, axis)
        if rng is not None:
            low, high = (exp.Literal.number(v) for v in rng)
            select = select.where(exp.column(axis).between(low, high), copy=False)
    return Part(ctx.restrict(select, exp.column("contact_id")))
