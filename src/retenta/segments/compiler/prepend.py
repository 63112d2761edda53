"""Prepend the logical views a compiled query reads, with the views' CTEs memoized.

``views.with_views`` parses the views' SQL on every call (about 60 % of compiling a
10-condition definition). The CTE bodies depend only on (workspace, view names, dialect,
columns read), so they are built once by ``views.view_ctes`` and copied after; the WITH is
assembled exactly as ``with_views`` does (the live-contact map MATERIALIZED on DuckDB).
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp

from retenta.segments import views


@lru_cache(maxsize=256)
def _ctes(
    workspace_id: str, names: tuple[str, ...], dialect: str, used: frozenset[str] | None
) -> tuple[tuple[str, exp.Query], ...]:
    columns = set(used) if used is not None else None
    built = views.view_ctes(workspace_id, names, dialect, columns_used=columns)  # type: ignore[arg-type]
    return tuple(built)


def with_views(query: exp.Select, workspace_id: str, dialect: str) -> exp.Select:
    """``query`` (a SELECT, changed in place) with the CTEs of the views it reads in front."""
    names = tuple(views.views_read(query))
    used = views.columns_mentioned(query)
    ctes = _ctes(workspace_id, names, dialect, frozenset(used) if used is not None else None)
    built = [
        exp.CTE(
            this=body.copy(),
            alias=exp.TableAlias(this=exp.to_identifier(name)),
            materialized=(name == views.LIVE_MAP) if dialect == "duckdb" else None,
        )
        for name, body in ctes
    ]
    existing = query.args.get("with_")
    own = list(existing.expressions) if existing else []
    if built or own:
        query.set("with_", exp.With(expressions=built + own))
    return query
