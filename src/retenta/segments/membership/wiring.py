"""``build_membership(container)``: the engine with the real compiler and SQL-segment runner,
listening to the ingest pipeline's commits. SERVICE adds it to the container's lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retenta.segments.membership.engine import MembershipEngine
from retenta.segments.membership.model import SegmentSpec


def sql_segment_query(cur: Any, spec: SegmentSpec, *, now: datetime, candidates: str | None) -> str:
    """A SQL-template segment's member query (checked by VIEWS' sandbox, views prepended).
    ``now`` is the template's own (``now()``); the candidate restriction is applied by the
    diff around the query."""
    from retenta.segments import sqlsegments

    query = sqlsegments.segment_query(cur, spec.workspace_id, spec.sql or "", dict(spec.params))
    return str(query.sql("duckdb"))


def compile_rules(definition: Any, **kwargs: Any) -> Any:
    """COMPILER's ``compile_segment``, imported on first use (the app starts without sqlglot)."""
    from retenta.segments.compiler import compile_segment

    return compile_segment(definition, **kwargs)


def build_membership(container: Any) -> MembershipEngine:
    """The engine for this process, registered as a commit listener of ``container.ingest``."""
    engine = MembershipEngine(container.db, compile_rules, sql_fn=sql_segment_query)
    container.ingest.add_listener(engine)
    return engine
