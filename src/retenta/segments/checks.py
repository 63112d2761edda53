"""Everything that must hold before a segment is saved, as ``[{path, reason}]``.

Rules segments: the definition parses (COMPILER's ``parse_definition``), every referenced
segment exists in this workspace, no reference closes a cycle, and the whole compiles.
SQL segments: VIEWS' checker accepts the template against this workspace's views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retenta.segments import evaluate, store
from retenta.segments.definition import DefinitionError, parse_definition
from retenta.segments.evaluate import Draft
from retenta.segments.references import find_cycle, segment_references
from retenta.segments.schemas import SegmentIn

Problems = list[dict[str, str]]


def problems(
    cur: Any,
    workspace_id: str,
    body: SegmentIn,
    segment_id: str | None,
    *,
    now: datetime,
    compile_it: bool = True,
) -> Problems:
    """Every problem with a segment; empty when it can be saved. ``segment_id``: when editing.

    ``compile_it=False`` leaves the compile step to the caller (preview compiles anyway, and
    reports the compiler's problems the same way)."""
    if body.kind == "sql":
        return sql_problems(cur, workspace_id, body)
    if body.definition is None:
        return [{"path": "definition", "reason": "a rules segment needs a definition"}]
    if body.sql is not None:
        return [{"path": "sql", "reason": "only a segment of kind 'sql' has sql"}]
    try:
        parse_definition(body.definition)
    except DefinitionError as exc:
        return evaluate.definition_problems(exc)
    errors = reference_problems(cur, workspace_id, body.definition, segment_id)
    if errors or not compile_it:
        return errors
    return compile_problems(cur, workspace_id, body, now)


def sql_problems(cur: Any, workspace_id: str, body: SegmentIn) -> Problems:
    if not body.sql or not body.sql.strip():
        return [{"path": "sql", "reason": "a SQL segment needs a SELECT"}]
    if body.definition is not None:
        return [{"path": "definition", "reason": "a SQL segment has sql, not a definition"}]
    return evaluate.sql_problems(cur, workspace_id, body.sql, body.params or {})


def reference_problems(
    cur: Any, workspace_id: str, definition: dict[str, Any], segment_id: str | None
) -> Problems:
    """Unknown referenced segments, and references that would close a cycle."""
    errors = []
    for path, ref in segment_references(definition.get("root")):
        if store.get(cur, workspace_id, ref) is None:
            errors.append(
                {"path": f"{path}.segment_id", "reason": f"no segment {ref} in this workspace"}
            )
            continue
        if segment_id is None:
            continue  # a new segment cannot be referenced by anything yet
        chain = find_cycle(segment_id, ref, lambda s: uses(cur, workspace_id, s))
        if chain:
            names = " → ".join(_label(cur, workspace_id, s) for s in chain)
            errors.append({"path": f"{path}.segment_id", "reason": f"cycle: {names}"})
    return errors


def uses(cur: Any, workspace_id: str, segment_id: str) -> list[str]:
    """The segments ``segment_id`` references, as stored."""
    rows = cur.execute(
        "SELECT segment_id FROM segment_usages WHERE workspace_id = ? AND used_by_kind = ?"
        " AND used_by_id = ? ORDER BY segment_id",
        [workspace_id, store.USED_BY_SEGMENT, segment_id],
    ).fetchall()
    return [r[0] for r in rows]


def _label(cur: Any, workspace_id: str, segment_id: str) -> str:
    seg = store.get(cur, workspace_id, segment_id)
    return f"{seg.name} ({segment_id})" if seg else segment_id


def compile_problems(cur: Any, workspace_id: str, body: SegmentIn, now: datetime) -> Problems:
    """What the compiler refuses. A parameter without a default is bound when the segment
    is used, so a definition that has one is only parsed here."""
    parsed = parse_definition(body.definition)
    if any(spec.default is None for spec in parsed.params.values()) and not body.params:
        return []
    draft = Draft(workspace_id, body.kind, body.definition, body.sql, body.params or {})
    try:
        evaluate.members_sql(cur, draft, now=now)
    except DefinitionError as exc:
        return evaluate.definition_problems(exc)
    return []
