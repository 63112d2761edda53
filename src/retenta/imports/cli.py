"""``retenta import contacts|orders|products|events FILE``: run an import in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retenta.errors import ApiError
from retenta.imports.fields import ENTITIES

app = typer.Typer(help="Bulk import from CSV and XLSX.", no_args_is_help=True)
console = Console(stderr=True)

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .xlsx file.")
]
DataOpt = Annotated[Path, typer.Option("--data", help="Data directory.", envvar="RETENTA_DATA_DIR")]
WorkspaceOpt = Annotated[
    str, typer.Option("--workspace", help="Workspace id.", envvar="RETENTA_WORKSPACE")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="column=field (repeatable); '' field skips a column."),
]
MappingOpt = Annotated[str | None, typer.Option("--mapping", help="Use a saved mapping by name.")]
SaveOpt = Annotated[
    str | None, typer.Option("--save-mapping", help="Save the mapping used under this name.")
]
ChunkOpt = Annotated[
    int | None, typer.Option("--chunk-rows", min=1, help="Rows per unit of work.", hidden=True)
]


def parse_maps(pairs: list[str]) -> dict[str, str | None]:
    """``["E-mail=email", "Notes="]`` → ``{"E-mail": "email", "Notes": None}``.

    >>> parse_maps(["E-mail=email", "Notes="])
    {'E-mail': 'email', 'Notes': None}
    """
    out: dict[str, str | None] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: expected column=field", param_hint="--map")
        col, target = pair.rsplit("=", 1)
        out[col.strip()] = target.strip() or None
    return out


def run_import(
    entity: str,
    file: Path,
    *,
    data: Path,
    workspace: str,
    maps: list[str] | None,
    mapping_name: str | None,
    save_as: str | None,
    chunk_rows: int | None,
) -> None:
    from retenta.app import build_container
    from retenta.settings import Settings

    container = build_container(Settings(data_dir=data, background_workers=False))
    svc = container.imports
    svc.chunk_rows = chunk_rows
    try:
        container.tenancy.workspace(workspace)
        preview = svc.upload_path(workspace_id=workspace, path=file)
        mapping = _mapping(preview, entity, maps)
        job = svc.create_job(
            workspace_id=workspace, upload_id=preview["upload_id"], entity=entity,
            mapping=mapping, mapping_name=mapping_name, save_mapping_as=save_as,
        )  # fmt: skip
        _show_mapping(job["mapping"])
        final = _run_with_progress(svc, job)
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        console.print(f"[red]error{where}:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        container.close()
    _summary(final, data)
    if final["status"] != "done":
        raise typer.Exit(1)


def _mapping(
    preview: dict[str, Any], entity: str, maps: list[str] | None
) -> dict[str, str | None] | None:
    """Explicit ``--map`` pairs on top of the suggestion; None lets a saved mapping apply."""
    if not maps:
        return None
    mapping = dict(preview["suggested_mappings"].get(entity, {}))
    mapping.update(parse_maps(maps))
    return mapping


def _show_mapping(mapping: dict[str, str]) -> None:
    for col, target in mapping.items():
        console.print(f"  [dim]{col}[/dim] → [bold]{target}[/bold]")


def _run_with_progress(svc: Any, job: dict[str, Any]) -> dict[str, Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"import {job['entity']}", total=None)

        def update(state: dict[str, Any]) -> None:
            progress.update(task, total=state["total_rows"], completed=state["processed_rows"])

        return dict(svc.run_job(job["id"], on_progress=update))


def _summary(job: dict[str, Any], data: Path) -> None:
    console.print(
        f"[bold]{job['status']}[/bold]: {job['accepted_rows']} accepted, "
        f"{job['rejected_rows']} rejected of {job['processed_rows']} rows (job {job['id']})"
    )
    if job["error"]:
        console.print(f"[red]{job['error']}[/red]")
    if job["rejected_rows"]:
        console.print(
            f"rejected rows: GET /api/v1/imports/{job['id']}/rejects"
            f" (or: retenta import rejects {job['id']} --data {data})"
        )
    typer.echo(
        f"{job['id']}\t{job['status']}\taccepted={job['accepted_rows']}\trejected={job['rejected_rows']}"
    )


def _command(entity: str) -> None:
    def command(
        file: FileArg,
        data: DataOpt = Path("./data"),
        workspace: WorkspaceOpt = "",
        map_: MapOpt = None,
        mapping: MappingOpt = None,
        save_mapping: SaveOpt = None,
        chunk_rows: ChunkOpt = None,
    ) -> None:
        if not workspace:
            raise typer.BadParameter("give the workspace id", param_hint="--workspace")
        run_import(
            entity,
            file,
            data=data,
            workspace=workspace,
            maps=map_,
            mapping_name=mapping,
            save_as=save_mapping,
            chunk_rows=chunk_rows,
        )

    command.__doc__ = f"Import {entity} from a CSV or XLSX file (runs here, with a progress bar)."
    app.command(entity)(command)


for _entity in ENTITIES:
    _command(_entity)


@app.command("rejects")
def rejects(
    job_id: str,
    data: DataOpt = Path("./data"),
    workspace: WorkspaceOpt = "",
    limit: Annotated[int, typer.Option(min=1)] = 1000,
) -> None:
    """Print a job's rejected rows as CSV (row number, field, reason, raw cells)."""
    from retenta.app import build_container
    from retenta.imports.router import rejects_csv
    from retenta.imports.store import get_job
    from retenta.settings import Settings

    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with container.db.read() as cur:
            job = get_job(cur, job_id, workspace or None)
        if job is None:
            console.print(f"[red]import job {job_id!r} not found[/red]")
            raise typer.Exit(2)
        out = container.imports.rejects(
            workspace_id=job["workspace_id"], job_id=job_id, limit=limit
        )
    finally:
        container.close()
    typer.echo(rejects_csv(out["items"]), nl=False)
