"""Builders for import test files (CSV text, XLSX via openpyxl) and a one-call import."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from retenta.app import Container


def write_csv(
    path: Path, header: list[str], rows: list[list[Any]], *, delimiter: str = ","
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def run_import(
    container: Container,
    workspace_id: str,
    path: Path,
    entity: str,
    mapping: dict[str, str | None] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Upload, create the job and run it here; returns the final job."""
    svc = container.imports
    upload = svc.upload_path(workspace_id=workspace_id, path=path)
    job = svc.create_job(
        workspace_id=workspace_id,
        upload_id=upload["upload_id"],
        entity=entity,
        mapping=mapping,
        **kwargs,
    )
    return svc.run_job(job["id"])


def rejects(container: Container, workspace_id: str, job_id: str) -> list[dict[str, Any]]:
    out = container.imports.rejects(workspace_id=workspace_id, job_id=job_id, limit=10_000)
    return list(out["items"])


def scalar(container: Container, sql: str, params: list[Any] | None = None) -> Any:
    with container.db.read() as cur:
        row = cur.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]
