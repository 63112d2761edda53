"""Bulk import of contacts, orders, products and events from CSV and XLSX.

Flow: ``upload`` (file kept under ``<data_dir>/imports/``, sha256 recorded) → ``preview``
(columns, sample rows, suggested mapping) → ``create_job`` (a mapping, optionally saved by
name) → the worker runs the job chunk by chunk. Each chunk is ONE writer unit of work: the
entity writes, the chunk's rejects and the job's checkpoint (``processed_rows``) commit
together, so a crash resumes exactly after the last committed chunk and never half-applies
one. Re-importing a file creates nothing new: contacts resolve to the same identifiers,
orders and products upsert by key, events carry a messageId derived from (file, row).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from retenta.commerce.service import CommerceService
from retenta.errors import ApiError, not_found
from retenta.identity.service import IdentityService
from retenta.imports import store
from retenta.imports.coerce import clean
from retenta.imports.fields import SPECS
from retenta.imports.loaders import LoadContext, Loaded, plan_chunk, run_loader
from retenta.imports.mapping import (
    MappingError,
    Reject,
    active_mapping,
    coerce_chunk,
    spec_for,
    suggest_mapping,
    validate_mapping,
)
from retenta.imports.readers import (
    ReadError,
    SourceFile,
    TextChunk,
    file_format,
    open_source,
)
from retenta.imports.units import InFlight, Prepared
from retenta.ingest.pipeline import IngestPipeline
from retenta.settings import Settings
from retenta.storage.base import Database
from retenta.tenancy.keys import new_id

log = logging.getLogger(__name__)

# Rows per unit of work. A unit holds the single writer, so live ingestion waits for it:
# entities resolved message by message (contacts, events) take small bites (~1–3 s each).
CHUNK_ROWS = {"contacts": 5_000, "events": 5_000, "orders": 20_000, "products": 50_000}
MAX_UPLOAD_BYTES = 2 << 30  # 2 GiB: ~20M contact rows; larger files belong on the CLI
SAMPLE_ROWS = 10
ProgressFn = Callable[[dict[str, Any]], None]


def mapping_error(exc: MappingError) -> ApiError:
    return ApiError(422, "invalid_mapping", exc.message, field=exc.field)


class ImportService:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        pipeline: IngestPipeline,
        identity: IdentityService,
        commerce: CommerceService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pipeline = pipeline
        self.identity = identity
        self.commerce = commerce
        self.chunk_rows: int | None = None  # None = CHUNK_ROWS for the entity
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        self.files_dir = settings.data_dir / "imports"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- uploads -----------------------------------------------------------------------

    def upload(
        self, *, workspace_id: str, file_name: str, stream: BinaryIO, limited: bool = True
    ) -> dict[str, Any]:
        """Store an uploaded file (hashed; size-limited over HTTP) and return its preview."""
        fmt = self._format(file_name)
        upload_id = new_id("upl")
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / f"{upload_id}.{fmt}"
        try:
            size, digest = self._copy(stream, path, self.max_upload_bytes if limited else None)
            source = self._open(path, fmt)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = {
            "id": upload_id, "workspace_id": workspace_id, "file_name": Path(file_name).name,
            "file_sha256": digest, "stored_path": str(path), "format": fmt,
            "size_bytes": size, "columns": source.columns,
        }  # fmt: skip
        self.db.write(lambda c: store.insert_upload(c, upload))
        return self._preview(upload, source)

    def upload_path(self, *, workspace_id: str, path: Path) -> dict[str, Any]:
        """The CLI's upload: the same as the HTTP one, from a local file, without a size limit."""
        with path.open("rb") as fh:
            return self.upload(
                workspace_id=workspace_id, file_name=path.name, stream=fh, limited=False
            )

    def _format(self, file_name: str) -> str:
        try:
            return file_format(file_name)
        except ReadError as exc:
            raise ApiError(422, "unsupported_file", str(exc), field="file") from exc

    def _open(self, path: Path, fmt: str) -> SourceFile:
        try:
            return open_source(path, fmt)
        except ReadError as exc:
            raise ApiError(422, "unreadable_file", str(exc), field="file") from exc

    @staticmethod
    def _copy(stream: BinaryIO, path: Path, max_bytes: int | None) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as out:
            while block := stream.read(1 << 20):
                size += len(block)
                if max_bytes is not None and size > max_bytes:
                    limit = human_bytes(max_bytes)
                    msg = f"the file is larger than the upload limit of {limit}; use the CLI"
                    raise ApiError(413, "file_too_large", msg, field="file")
                digest.update(block)
                out.write(block)
        if size == 0:
            raise ApiError(422, "empty_file", "the file is empty", field="file")
        return size, digest.hexdigest()

    def preview(
        self, *, workspace_id: str, upload_id: str, entity: str = "contacts"
    ) -> dict[str, Any]:
        self.fields(entity=entity)  # 422 naming `entity` when unknown
        upload = self._upload(workspace_id, upload_id)
        source = self._open(Path(upload["stored_path"]), upload["format"])
        return self._preview(upload, source, entity)

    def _preview(
        self, upload: dict[str, Any], source: SourceFile, entity: str = "contacts"
    ) -> dict[str, Any]:
        first = next(source.chunks(skip=0, size=SAMPLE_ROWS), None)
        sample = first.table.to_pylist() if first else []
        suggestions = {e: suggest_mapping(e, source.columns) for e in SPECS}
        return {
            "upload_id": upload["id"],
            "file_name": upload["file_name"],
            "file_sha256": upload["file_sha256"],
            "size_bytes": upload["size_bytes"],
            "format": upload["format"],
            "columns": source.columns,
            "sample_rows": sample,
            "suggested_mapping": suggestions[entity],
            "suggested_mappings": suggestions,
        }

    def _upload(self, workspace_id: str, upload_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            upload = store.get_upload(cur, workspace_id, upload_id)
        if upload is None:
            raise ApiError(404, "not_found", f"upload {upload_id!r} not found", field="upload_id")
        return upload

    # -- fields and saved mappings ----------------------------------------------------

    def fields(self, *, entity: str) -> dict[str, Any]:
        try:
            spec = spec_for(entity)
        except MappingError as exc:
            raise mapping_error(exc) from exc
        return {
            "entity": entity,
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "description": f.description,
                    "required": f.required,
                    "identifier": f.identifier,
                }
                for f in spec.fields
            ],
            "custom_prefixes": [p for p, _ in spec.prefixes],
            "identifiers": list(spec.identifiers),
        }

    def save_mapping(
        self, *, workspace_id: str, name: str, entity: str, mapping: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Save (or replace) a named mapping after checking its fields exist."""
        try:
            spec = spec_for(entity)
        except MappingError as exc:
            raise mapping_error(exc) from exc
        for target in active_mapping(mapping).values():
            if spec.field(target) is None:
                raise ApiError(
                    422, "invalid_mapping", f"unknown field {target!r} for {entity}", field=target
                )
        clean_map = active_mapping(mapping)
        self.db.write(lambda c: store.save_mapping(c, workspace_id, name, entity, clean_map))
        return {"name": name, "entity": entity, "mapping": clean_map}

    def mappings(self, *, workspace_id: str) -> list[dict[str, Any]]:
        with self.db.read() as cur:
            return store.list_mappings(cur, workspace_id)

    def _saved(self, workspace_id: str, name: str, entity: str) -> dict[str, str]:
        with self.db.read() as cur:
            saved = store.get_mapping(cur, workspace_id, name)
        if saved is None:
            raise ApiError(
                404, "not_found", f"saved mapping {name!r} not found", field="mapping_name"
            )
        if saved["entity"] != entity:
            msg = f"mapping {name!r} is for {saved['entity']}, not {entity}"
            raise ApiError(422, "invalid_mapping", msg, field="mapping_name")
        return dict(saved["mapping"])

    # -- jobs ---------------------------------------------------------------------------

    def create_job(
        self,
        *,
        workspace_id: str,
        upload_id: str,
        entity: str,
        mapping: dict[str, str | None] | None = None,
        mapping_name: str | None = None,
        save_mapping_as: str | None = None,
    ) -> dict[str, Any]:
        """Queue a job; the mapping is given, saved by name, or suggested from the headers."""
        upload = self._upload(workspace_id, upload_id)
        columns: list[str] = upload["columns"]
        chosen = self._choose_mapping(workspace_id, entity, columns, mapping, mapping_name)
        try:
            validate_mapping(entity, columns, chosen)
        except MappingError as exc:
            raise mapping_error(exc) from exc
        active = active_mapping(chosen)
        if save_mapping_as:
            self.save_mapping(
                workspace_id=workspace_id, name=save_mapping_as, entity=entity, mapping=active
            )
        job = {
            "id": new_id("imp"), "workspace_id": workspace_id, "entity": entity,
            "file_name": upload["file_name"], "file_sha256": upload["file_sha256"],
            "stored_path": upload["stored_path"], "format": upload["format"], "mapping": active,
            "status": "queued", "upload_id": upload_id, "stats": {},
        }  # fmt: skip
        self.db.write(lambda c: store.insert_job(c, job))
        self._wake.set()
        return self.job(workspace_id=workspace_id, job_id=job["id"])

    def _choose_mapping(
        self,
        workspace_id: str,
        entity: str,
        columns: list[str],
        mapping: dict[str, str | None] | None,
        mapping_name: str | None,
    ) -> dict[str, str | None]:
        if entity not in SPECS:
            raise ApiError(
                422,
                "invalid_mapping",
                f"unknown entity {entity!r}; expected one of {', '.join(SPECS)}",
                field="entity",
            )
        if mapping is not None:
            return mapping
        if mapping_name:
            saved = self._saved(workspace_id, mapping_name, entity)
            return {col: target for col, target in saved.items() if col in columns}
        return suggest_mapping(entity, columns)

    def job(self, *, workspace_id: str, job_id: str) -> dict[str, Any]:
        with self.db.read() as cur:
            job = store.get_job(cur, job_id, workspace_id)
        if job is None:
            raise not_found("import job")
        return public_job(job)

    def retry(self, *, workspace_id: str, job_id: str) -> dict[str, Any]:
        """Queue a failed job again; it continues after its last committed chunk."""
        job = self.job(workspace_id=workspace_id, job_id=job_id)
        if job["status"] != "failed":
            msg = f"only a failed job can be retried; this one is {job['status']}"
            raise ApiError(409, "conflict", msg, field="status")
        self.db.write(lambda c: store.set_status(c, job_id, "queued"))
        self._wake.set()
        return self.job(workspace_id=workspace_id, job_id=job_id)

    def jobs(self, *, workspace_id: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as cur:
            return [public_job(j) for j in store.list_jobs(cur, workspace_id, limit)]

    def rejects(
        self, *, workspace_id: str, job_id: str, limit: int = 100, offset: int = 0
    ) -> dict[str, Any]:
        self.job(workspace_id=workspace_id, job_id=job_id)
        with self.db.read() as cur:
            total, items = store.list_rejects(cur, job_id, limit=limit, offset=offset)
        return {"job_id": job_id, "total": total, "items": items}

    # -- running ------------------------------------------------------------------------

    def run_job(
        self,
        job_id: str,
        *,
        on_progress: ProgressFn | None = None,
        stop: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Run (or resume) a job in this thread until done, failed, or ``stop`` is set."""
        with self.db.read() as cur:
            job = store.get_job(cur, job_id)
        if job is None:
            raise not_found("import job")
        if job["status"] in ("queued", "running"):
            try:
                self._run(job, on_progress or (lambda _: None), stop or self._stop)
            except Exception as exc:
                log.exception("import job %s failed", job_id)
                error = describe(exc)
                self.db.write(lambda c: store.set_status(c, job_id, "failed", error=error))
        with self.db.read() as cur:
            final = store.get_job(cur, job_id)
        assert final is not None
        return public_job(final)

    def run_pending(self) -> int:
        """Run every queued or interrupted job now (the CLI and tests; the server's worker
        does the same in the background)."""
        done = 0
        while (job_id := self._next_job()) is not None:
            self.run_job(job_id)
            done += 1
        return done

    def _next_job(self) -> str | None:
        with self.db.read() as cur:
            return store.next_job_id(cur)

    def _run(self, job: dict[str, Any], on_progress: ProgressFn, stop: threading.Event) -> None:
        job_id = job["id"]
        source = open_source(Path(job["stored_path"]), job["format"])
        counter = self._count_in_background(job, source) if job["total_rows"] is None else None
        self.db.write(lambda c: store.set_status(c, job_id, "running"))
        ctx = self._context(job)
        stats: dict[str, int] = dict(job["stats"] or {})
        with store.fewer_checkpoints(self.db):
            in_flight: InFlight | None = None
            try:
                for chunk in self._chunks(source, job):
                    # Read and coerce this chunk while the writer runs the previous one:
                    # pyarrow and DuckDB release the GIL, so on two cores they overlap.
                    prepared = self._prepare(ctx, job, chunk)
                    self._finish(in_flight, ctx, job, stats, on_progress)
                    in_flight = None
                    if stop.is_set():
                        return  # stays 'running': resumed from its last checkpoint next time
                    in_flight = self._submit(ctx, job, prepared, stats)
            finally:
                self._finish(in_flight, ctx, job, stats, on_progress)
        if counter is not None:
            counter.join()
        self.db.write(lambda c: store.set_status(c, job_id, "done"))
        on_progress(self.job(workspace_id=job["workspace_id"], job_id=job_id))

    def _count_in_background(self, job: dict[str, Any], source: SourceFile) -> threading.Thread:
        """Count the rows (for progress) beside the import: CSV parsing releases the GIL, so
        on two cores this costs no wall time."""

        def count() -> None:
            try:
                total = source.count_rows()
            except Exception:  # the import itself will report the unreadable file
                log.exception("counting rows of %s failed", job["id"])
                return
            self.db.write(lambda c: store.set_total(c, job["id"], total))

        thread = threading.Thread(target=count, name=f"count-{job['id']}", daemon=True)
        thread.start()
        return thread

    def _context(self, job: dict[str, Any]) -> LoadContext:
        created = job["created_at"]
        at = created.astimezone(UTC) if isinstance(created, datetime) else datetime.now(UTC)
        return LoadContext(
            workspace_id=job["workspace_id"], job_id=job["id"], file_sha256=job["file_sha256"],
            at=at, identity=self.identity, commerce=self.commerce, events=self.pipeline,
        )  # fmt: skip

    def _chunks(self, source: SourceFile, job: dict[str, Any]) -> Iterator[TextChunk]:
        with self.db.read() as cur:
            skip = job["processed_rows"] - store.malformed_lines(cur, job["id"])
        chunks = source.chunks(skip=skip, size=self.chunk_rows or CHUNK_ROWS[job["entity"]])
        order_col = _order_column(job)
        return keep_groups_whole(chunks, order_col) if order_col else chunks

    def _prepare(self, ctx: LoadContext, job: dict[str, Any], chunk: TextChunk) -> Prepared:
        """Coerce a chunk (and plan its loading) outside the writer."""
        started = time.perf_counter()
        coerced = coerce_chunk(job["entity"], chunk.table, job["mapping"], chunk.first_row)
        malformed = [Reject(m.line, None, m.reason, {"line": m.text}) for m in chunk.malformed]
        coerce_ms, started = _ms_since(started), time.perf_counter()
        planned = plan_chunk(job["entity"], ctx, coerced.table)
        return Prepared(chunk, coerced, malformed, coerce_ms, planned, _ms_since(started))

    def _submit(
        self, ctx: LoadContext, job: dict[str, Any], prepared: Prepared, stats: dict[str, int]
    ) -> InFlight:
        """Queue the chunk's unit of work: write, report rejects and checkpoint, as one."""
        chunk, coerced, malformed = prepared.chunk, prepared.coerced, prepared.malformed
        entity = job["entity"]
        base = dict(stats)  # the stats up to the previous unit, which has finished

        def unit(conn: Any) -> dict[str, int]:
            unit_started = time.perf_counter()
            loaded = (
                run_loader(entity, conn, ctx, coerced.table, prepared.plan)
                if coerced.table.num_rows
                else Loaded(0)
            )
            store.insert_rejects(conn, job["id"], [*malformed, *coerced.rejects, *loaded.rejects])
            timings = {
                "ms_coerce": prepared.coerce_ms,
                "ms_plan": prepared.plan_ms,
                "ms_unit": _ms_since(unit_started),
            }
            extra = {**loaded.stats, **timings}
            merged = _add_stats(base, extra, blank_rows=coerced.blank_rows)
            refused = coerced.table.num_rows - loaded.accepted  # by identity or commerce
            store.advance(
                conn,
                job["id"],
                processed=chunk.table.num_rows + len(malformed),
                accepted=loaded.accepted,
                rejected=coerced.rejected_rows + len(malformed) + refused,
                stats=merged,
            )
            return merged

        return InFlight(self.db.submit(unit), coerced.table)

    def _finish(
        self,
        in_flight: InFlight | None,
        ctx: LoadContext,
        job: dict[str, Any],
        stats: dict[str, int],
        on_progress: ProgressFn,
    ) -> None:
        """Wait for a queued unit; a failed one rolled back whole and fails the job."""
        if in_flight is None:
            return
        try:
            merged = in_flight.future.result()
        except Exception:
            self._forget_events(ctx, job, in_flight.table)
            raise
        stats.clear()
        stats.update(merged)
        on_progress(self.job(workspace_id=job["workspace_id"], job_id=job["id"]))

    def _forget_events(self, ctx: LoadContext, job: dict[str, Any], table: pa.Table) -> None:
        """A failed unit rolled back: the ingest dedup must not remember its messageIds."""
        dedup = getattr(self.pipeline, "dedup", None)
        if job["entity"] != "events" or dedup is None or table.num_rows == 0:
            return
        ids = table["message_id"].to_pylist() if "message_id" in table.column_names else None
        rows = table["_row"].to_pylist()
        keys = [
            (ctx.workspace_id, (ids[i] if ids and ids[i] else ctx.message_id(r)))
            for i, r in enumerate(rows)
        ]
        dedup.forget(keys)

    # -- background worker ----------------------------------------------------------

    async def start(self) -> None:
        """Start the import worker (resumes unfinished jobs)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="retenta-imports", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the import worker at a checkpoint."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        await asyncio.to_thread(self._thread.join, 120)
        self._thread = None

    def _work(self) -> None:
        while not self._stop.is_set():
            job_id = self._next_job()
            if job_id is None:
                self._wake.wait(timeout=2.0)
                self._wake.clear()
                continue
            self.run_job(job_id, stop=self._stop)


def _order_column(job: dict[str, Any]) -> str | None:
    """For order lines, the file column holding the order id (lines of one order stay in one
    chunk, because upsert_orders replaces an order's items with those it is given)."""
    if job["entity"] != "orders" or "sku" not in job["mapping"].values():
        return None
    mapping: dict[str, str] = job["mapping"]
    return next(col for col, target in mapping.items() if target == "order_id")


def keep_groups_whole(chunks: Iterator[TextChunk], column: str) -> Iterator[TextChunk]:
    """Move each chunk's trailing run of equal ``column`` values into the next chunk, so a
    run of consecutive rows (one order's lines) is never split between two chunks."""
    carry: TextChunk | None = None
    for chunk in chunks:
        if carry is not None:
            chunk = TextChunk(
                carry.first_row,
                pa.concat_tables([carry.table, chunk.table]),
                carry.malformed + chunk.malformed,
            )
        cut = _last_run_start(chunk.table.column(column).combine_chunks())
        if cut == 0:
            carry = chunk
            continue
        yield TextChunk(chunk.first_row, chunk.table.slice(0, cut), chunk.malformed)
        carry = TextChunk(chunk.first_row + cut, chunk.table.slice(cut), [])
    if carry is not None and carry.table.num_rows:
        yield carry


def _last_run_start(values: pa.Array) -> int:
    """Index where the final run of equal values begins.

    >>> _last_run_start(pa.array(["a", "b", "b"])), _last_run_start(pa.array(["a", "a"]))
    (1, 0)
    """
    keys = clean(values)
    last = keys[len(keys) - 1]
    same = pc.fill_null(pc.equal(keys, last), False) if last.is_valid else pc.is_null(keys)
    differs = pc.invert(same).to_numpy(zero_copy_only=False)
    idx = differs.nonzero()[0]
    return int(idx[-1]) + 1 if len(idx) else 0


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _add_stats(base: dict[str, int], extra: dict[str, int], *, blank_rows: int) -> dict[str, int]:
    out = dict(base)
    for key, value in {**extra, "blank_rows": blank_rows}.items():
        out[key] = out.get(key, 0) + int(value)
    return out


def human_bytes(n: int) -> str:
    """A size for people.

    >>> human_bytes(2 << 30), human_bytes(1024), human_bytes(10)
    ('2.0 GiB', '1.0 KiB', '10 bytes')
    """
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the API shows it (no storage paths), with a 0–1 ``progress``."""
    total = job["total_rows"]
    progress = (
        1.0
        if job["status"] == "done"
        else (min(job["processed_rows"] / total, 1.0) if total else 0.0)
    )
    keep = ("id", "entity", "file_name", "file_sha256", "status", "total_rows", "processed_rows",
            "accepted_rows", "rejected_rows", "error", "mapping", "stats", "created_at",
            "updated_at", "started_at", "finished_at")  # fmt: skip
    return {**{k: job[k] for k in keep}, "progress": round(progress, 4)}
