"""Segments as documented objects: create, edit, delete, read, preview, refresh, history.

Every change is checked first (definition or SQL, references, cycles) and then written in
ONE writer transaction together with its revision and where-used rows, so a rejected or
failed save leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from retenta.errors import ApiError, not_found
from retenta.segments import checks, evaluate, export, fields, flow, members, store
from retenta.segments.definition import DefinitionError
from retenta.segments.evaluate import Draft
from retenta.segments.references import segment_references
from retenta.segments.schemas import PreviewIn, SegmentIn, parse_body
from retenta.storage.base import Database
from retenta.storage.duckdb import event_facts
from retenta.tenancy.keys import new_id
from retenta.tenancy.service import Principal, Tenancy

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
DAILY_CHECK_S = 300.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def as_invalid() -> Iterator[None]:
    """A definition or template that cannot be evaluated (say, a parameter without a value)
    is the client's 400 with paths, not a server error."""
    try:
        yield
    except DefinitionError as exc:
        raise invalid(evaluate.definition_problems(exc)) from exc


def invalid(errors: list[dict[str, Any]]) -> ApiError:
    first = errors[0]
    return ApiError(
        400,
        "invalid_segment",
        f"{first['path']}: {first['reason']}",
        field=first["path"],
        details=errors,
    )


class SegmentService:
    def __init__(
        self, db: Database, tenancy: Tenancy, *, membership: Any = None, clock: Clock = utcnow
    ) -> None:
        self.db = db
        self.tenancy = tenancy
        self.membership = membership  # REALTIME's MembershipEngine, when wired
        self.clock = clock
        self._fields_cache = fields.FieldsCache()
        self._daily: asyncio.Task[None] | None = None

    # --- checking ------------------------------------------------------------------------

    def check(
        self, cur: Any, workspace_id: str, body: SegmentIn, segment_id: str | None
    ) -> list[dict[str, str]]:
        """Every problem with a segment as ``[{path, reason}]``; empty when it can be saved."""
        return checks.problems(cur, workspace_id, body, segment_id, now=self.clock())

    def validate(self, *, workspace_id: str, body: Any) -> dict[str, Any]:
        parsed, errors = parse_body(body)
        if parsed is not None:
            with self.db.read() as cur:
                errors = self.check(cur, workspace_id, parsed, None)
        return {"valid": not errors, "errors": errors}

    def _checked(
        self,
        workspace_id: str,
        body: Any,
        segment_id: str | None,
        model: type[SegmentIn],
        *,
        compile_it: bool = True,
    ) -> SegmentIn:
        parsed, errors = parse_body(body, model)
        if parsed is not None:
            with self.db.read() as cur:
                errors = checks.problems(
                    cur, workspace_id, parsed, segment_id, now=self.clock(), compile_it=compile_it
                )
        if errors or parsed is None:
            raise invalid(errors)
        return parsed

    # --- changes ---------------------------------------------------------------------------

    def owner_of(self, principal: Principal) -> str | None:
        """The user's email, ``key:<name>`` for an API key, the subject (``cli``, ``demo``)
        for in-process callers."""
        if principal.kind == "cli":
            return principal.subject
        if principal.kind == "user":
            users = self.tenancy.list_users(workspace_id=principal.workspace_id)
            return next((u["email"] for u in users if u["id"] == principal.subject), None)
        keys = self.tenancy.list_keys(workspace_id=principal.workspace_id)
        return next((f"key:{k['name']}" for k in keys if k["id"] == principal.subject), None)

    async def create(self, *, principal: Principal, body: Any) -> dict[str, Any]:
        ws = principal.workspace_id
        seg_in = self._checked(ws, body, None, SegmentIn)
        now = self.clock()
        seg = store.SegmentRow(
            id=new_id("seg"),
            workspace_id=ws,
            name=seg_in.name,
            description=seg_in.description,
            owner=self.owner_of(principal),
            tags=tuple(seg_in.tags),
            kind=seg_in.kind,
            definition=seg_in.definition,
            sql=seg_in.sql,
            params=seg_in.params or {},
            realtime=seg_in.realtime,
            created_at=now,
            updated_at=now,
        )
        refs = [ref for _, ref in segment_references((seg.definition or {}).get("root"))]

        def work(conn: Any) -> None:
            self._recheck(conn, seg, None)
            store.insert(conn, seg)
            store.record_revision(conn, seg, action="created", by=seg.owner)
            store.replace_segment_usages(conn, ws, seg, seg.id, refs)

        await self.db.awrite(work)
        return self.get(workspace_id=ws, segment_id=seg.id)

    async def update(self, *, principal: Principal, segment_id: str, body: Any) -> dict[str, Any]:
        """PUT: the fields given replace the current ones; the rest stay."""
        ws = principal.workspace_id
        current = self._get_row(ws, segment_id)
        if not isinstance(body, dict):
            raise invalid([{"path": "body", "reason": "must be a JSON object"}])
        merged = {**self._as_body(current), **body}
        if body.get("kind") == "sql" and "definition" not in body:
            merged["definition"] = None
        if body.get("kind") == "rules" and "sql" not in body:
            merged["sql"] = None
        seg_in = self._checked(ws, merged, segment_id, SegmentIn)
        if seg_in.model_dump() == SegmentIn.model_validate(self._as_body(current)).model_dump():
            return self.get(workspace_id=ws, segment_id=segment_id)  # nothing changed
        seg = current.changed(
            name=seg_in.name,
            description=seg_in.description,
            tags=tuple(seg_in.tags),
            kind=seg_in.kind,
            definition=seg_in.definition,
            sql=seg_in.sql,
            params=seg_in.params or {},
            realtime=seg_in.realtime,
            revision=current.revision + 1,
            updated_at=self.clock(),
        )
        refs = [ref for _, ref in segment_references((seg.definition or {}).get("root"))]
        by = self.owner_of(principal)

        def work(conn: Any) -> None:
            stored = store.get(conn, ws, segment_id)
            if stored is None:
                raise not_found("segment")
            if stored.revision != current.revision:
                raise ApiError(
                    409,
                    "segment_changed",
                    f"the segment was changed meanwhile (now revision {stored.revision});"
                    " reload it and edit again",
                )
            self._recheck(conn, seg, segment_id)
            store.update(conn, seg)
            store.record_revision(conn, seg, action="updated", by=by)
            store.replace_segment_usages(conn, ws, seg, seg.id, refs)

        await self.db.awrite(work)
        if self._definition_changed(current, seg):
            await self._after_definition_change(ws, segment_id)
        return self.get(workspace_id=ws, segment_id=segment_id)

    @staticmethod
    def _recheck(conn: Any, seg: store.SegmentRow, segment_id: str | None) -> None:
        """Inside the writer: what another save may have changed since the checks ran."""
        if store.name_taken(conn, seg.workspace_id, seg.name, segment_id):
            raise invalid([{"path": "name", "reason": f"a segment named {seg.name!r} exists"}])
        if seg.definition is not None:
            errors = checks.reference_problems(conn, seg.workspace_id, seg.definition, segment_id)
            if errors:
                raise invalid(errors)

    @staticmethod
    def _definition_changed(before: store.SegmentRow, after: store.SegmentRow) -> bool:
        keys = ("kind", "definition", "sql", "params", "realtime")
        return any(getattr(before, k) != getattr(after, k) for k in keys)

    async def _after_definition_change(self, workspace_id: str, segment_id: str) -> None:
        """Stored membership follows the new definition at once (entries/exits recorded)."""
        if self.membership is not None and self._has_membership(workspace_id, segment_id):
            await self.refresh(workspace_id=workspace_id, segment_id=segment_id)

    async def delete(self, *, principal: Principal, segment_id: str) -> None:
        ws = principal.workspace_id
        by = self.owner_of(principal)

        def work(conn: Any) -> None:
            current = store.get(conn, ws, segment_id)
            if current is None:
                raise not_found("segment")
            users = store.usages(conn, ws, [segment_id]).get(segment_id, [])
            if users:
                listed = ", ".join(f"{u['kind']} {u['name']!r} ({u['id']})" for u in users)
                raise ApiError(
                    409,
                    "segment_in_use",
                    f"segment is used by {listed}; remove those uses first",
                    details=[{"kind": u["kind"], "id": u["id"], "name": u["name"]} for u in users],
                )
            gone = current.changed(deleted_at=self.clock(), revision=current.revision + 1)
            store.update(conn, gone)
            store.record_revision(conn, gone, action="deleted", by=by)
            store.replace_segment_usages(conn, ws, None, segment_id, [])

        await self.db.awrite(work)

    # --- reads -----------------------------------------------------------------------------

    def _get_row(self, workspace_id: str, segment_id: str) -> store.SegmentRow:
        with self.db.read() as cur:
            seg = store.get(cur, workspace_id, segment_id)
        if seg is None:
            raise not_found("segment")
        return seg

    @staticmethod
    def _as_body(seg: store.SegmentRow) -> dict[str, Any]:
        return {
            "name": seg.name,
            "description": seg.description,
            "tags": list(seg.tags),
            "kind": seg.kind,
            "definition": seg.definition,
            "sql": seg.sql,
            "params": seg.params or None,
            "realtime": seg.realtime,
        }

    def list_segments(self, *, workspace_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            rows = store.list_live(cur, workspace_id)
            used = store.usages(cur, workspace_id, [s.id for s in rows])
            sizes = self._sizes(cur, workspace_id)
        return {"items": [self._summary(s, used, sizes) for s in rows]}

    def _sizes(self, cur: Any, workspace_id: str) -> dict[str, tuple[int, datetime]]:
        """The latest daily size, overridden by the live count of stored membership."""
        sizes = store.latest_sizes(cur, workspace_id)
        now = self.clock()
        for segment_id, size in members.current_sizes(cur, workspace_id).items():
            sizes[segment_id] = (size, now)
        return sizes

    @staticmethod
    def _summary(
        seg: store.SegmentRow,
        used: dict[str, list[dict[str, str]]],
        sizes: dict[str, tuple[int, datetime]],
    ) -> dict[str, Any]:
        size, size_at = sizes.get(seg.id, (None, None))
        return {
            "id": seg.id,
            "name": seg.name,
            "description": seg.description,
            "owner": seg.owner,
            "tags": list(seg.tags),
            "kind": seg.kind,
            "realtime": seg.realtime,
            "size": size,
            "size_at": size_at,
            "used_in": used.get(seg.id, []),
            "created_at": seg.created_at,
            "updated_at": seg.updated_at,
        }

    def get(self, *, workspace_id: str, segment_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            seg = store.get(cur, workspace_id, segment_id)
            if seg is None:
                raise not_found("segment")
            used = store.usages(cur, workspace_id, [segment_id])
            sizes = self._sizes(cur, workspace_id)
            uses = checks.uses(cur, workspace_id, segment_id)
        return {
            **self._summary(seg, used, sizes),
            "definition": seg.definition,
            "sql": seg.sql,
            "params": seg.params,
            "revision": seg.revision,
            "uses": [{"kind": store.USED_BY_SEGMENT, "id": s} for s in sorted(uses)],
        }

    def revisions(self, *, workspace_id: str, segment_id: str) -> dict[str, Any]:
        self._get_row(workspace_id, segment_id)
        with self.db.read() as cur:
            return {"items": store.revisions(cur, workspace_id, segment_id)}

    def preview(self, *, workspace_id: str, body: Any) -> dict[str, Any]:
        seg_in = self._checked(workspace_id, body, None, PreviewIn, compile_it=False)
        assert isinstance(seg_in, PreviewIn)
        draft = Draft(workspace_id, seg_in.kind, seg_in.definition, seg_in.sql, seg_in.params or {})
        with self.db.read() as cur, as_invalid():
            return evaluate.preview(cur, draft, sample=seg_in.sample, now=self.clock())

    def explain(self, *, workspace_id: str, segment_id: str) -> dict[str, str]:
        seg = self._get_row(workspace_id, segment_id)
        with self.db.read() as cur, as_invalid():
            return evaluate.explain(cur, Draft.of(seg), now=self.clock())

    def history(self, *, workspace_id: str, segment_id: str, days: int) -> dict[str, Any]:
        self._get_row(workspace_id, segment_id)
        since = self.clock().date() - timedelta(days=days - 1)
        with self.db.read() as cur:
            return {"items": store.size_history(cur, workspace_id, segment_id, since)}

    # --- membership --------------------------------------------------------------------------

    def _has_membership(self, workspace_id: str, segment_id: str) -> bool:
        """Whether REALTIME's tables hold this segment's membership (a full pass was made)."""
        with self.db.read() as cur:
            if not store.table_exists(cur, "segment_membership_state"):
                return False
            row = cur.execute(
                "SELECT 1 FROM segment_membership_state WHERE workspace_id = ? AND segment_id = ?",
                [workspace_id, segment_id],
            ).fetchone()
        return row is not None

    def _member_source(
        self, cur: Any, seg: store.SegmentRow, facts: bool
    ) -> tuple[str, dict[str, Any], bool]:
        """``(sql, params, has_entered_at)``: stored membership if current, else computed
        (``facts``: in an ``event_facts.snapshot`` that found the copy in sync)."""
        if members.stored_is_current(cur, seg):
            return members.STORED_MEMBERS, {"ws": seg.workspace_id, "seg": seg.id}, True
        sql = evaluate.members_sql(cur, Draft.of(seg), now=self.clock(), event_facts=facts,
                                   in_snapshot=True)  # fmt: skip
        return sql, {}, False

    def members(
        self, *, workspace_id: str, segment_id: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        seg = self._get_row(workspace_id, segment_id)
        with self.db.read() as cur, as_invalid(), event_facts.snapshot(cur) as facts:
            sql, params, entered = self._member_source(cur, seg, facts)
            return members.page(
                cur, workspace_id, sql, params, entered=entered, limit=limit, cursor=cursor
            )

    def events(self, *, workspace_id: str, segment_id: str, limit: int) -> dict[str, Any]:
        self._get_row(workspace_id, segment_id)
        with self.db.read() as cur:
            return {"items": members.events(cur, workspace_id, segment_id, limit)}

    def export(self, *, workspace_id: str, segment_id: str, fmt: str) -> tuple[Path, str]:
        """The members written to a temp file (the caller streams and removes it)."""
        seg = self._get_row(workspace_id, segment_id)
        with self.db.read() as cur, as_invalid(), event_facts.snapshot(cur) as facts:
            sql, params, entered = self._member_source(cur, seg, facts)
            path = export.write_file(
                cur, sql, workspace_id=workspace_id, entered=entered, fmt=fmt, params=params
            )
        return path, f"{segment_id}-{self.clock():%Y%m%d}.{fmt}"

    def flow(
        self, *, workspace_id: str, ids: list[str], day_from: date, day_to: date
    ) -> dict[str, Any]:
        with self.db.read() as cur:
            found = {s: store.get(cur, workspace_id, s) for s in dict.fromkeys(ids)}
            missing = [s for s, row in found.items() if row is None]
            if missing:
                raise ApiError(404, "not_found", f"segment {missing[0]} not found", field="ids")
            rows = (
                flow.flow_rows(cur, workspace_id, list(found), day_from, day_to)
                if store.table_exists(cur, "segment_membership")
                else []
            )
        listed = [{"id": s, "name": row.name} for s, row in found.items() if row is not None]
        return {
            "segments": listed,
            "from": day_from.isoformat(),
            "to": day_to.isoformat(),
            "matrix": rows,
        }

    def fields(self, *, workspace_id: str) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            with self.db.read() as cur:
                return fields.collect(cur, workspace_id, self.clock())

        return self._fields_cache.get(workspace_id, load)

    async def refresh(self, *, workspace_id: str, segment_id: str) -> dict[str, Any]:
        """Full recompute: stored membership (entries/exits) when wired, and today's size."""
        seg = self._get_row(workspace_id, segment_id)
        now = self.clock()
        if self.membership is not None:
            with as_invalid():
                result = await self.membership.arefresh(workspace_id, segment_id)
            size = int(result.size)
            out = {
                "size": size,
                "entered": int(result.entered),
                "exited": int(result.exited),
                "elapsed_ms": result.elapsed_ms,
            }
        else:
            with self.db.read() as cur, as_invalid(), event_facts.snapshot(cur) as facts:
                started = datetime.now(UTC)
                sql = evaluate.members_sql(cur, Draft.of(seg), now=now, event_facts=facts,
                                           in_snapshot=True)  # fmt: skip
                size = evaluate.count(cur, sql)
                elapsed = (datetime.now(UTC) - started).total_seconds() * 1000
            out = {"size": size, "entered": None, "exited": None, "elapsed_ms": round(elapsed, 1)}
        await self.db.awrite(lambda c: store.record_size(c, workspace_id, segment_id, size, now))
        return {"segment_id": segment_id, "refreshed_at": now, **out}

    async def refresh_all(self) -> int:
        """The daily job: refresh every live segment of every workspace; returns how many."""
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT workspace_id, id FROM segments WHERE deleted_at IS NULL ORDER BY 1, 2"
            ).fetchall()
        done = 0
        for workspace_id, segment_id in rows:
            try:
                await self.refresh(workspace_id=workspace_id, segment_id=segment_id)
                done += 1
            except Exception:
                log.exception("daily refresh of segment %s failed", segment_id)
        return done

    # --- the daily size snapshot ---------------------------------------------------------

    async def start(self) -> None:
        self._daily = asyncio.create_task(self._daily_sizes(), name="segment-daily-sizes")

    async def stop(self) -> None:
        if self._daily is not None:
            self._daily.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._daily
            self._daily = None

    def _days_missing(self) -> bool:
        """Whether some live segment has no size for today yet."""
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT 1 FROM segments s WHERE s.deleted_at IS NULL AND NOT EXISTS ("
                " SELECT 1 FROM segment_sizes z WHERE z.workspace_id = s.workspace_id"
                " AND z.segment_id = s.id AND z.day = ?) LIMIT 1",
                [self.clock().date()],
            ).fetchone()
        return row is not None

    async def _daily_sizes(self) -> None:
        """Once a day (checked every few minutes), refresh every segment and record its size."""
        while True:
            try:
                if self._days_missing():
                    await self.refresh_all()
            except Exception:
                log.exception("daily segment sizes failed")
            await asyncio.sleep(DAILY_CHECK_S)
