"""``retenta segment …``: list, create, show, preview, explain, refresh, export — in this process.

Each command opens the data directory, calls the same service the HTTP API uses, prints
JSON (or writes the export file) and closes. ``--workspace`` may be left out when the data
directory holds exactly one workspace.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console

from retenta.errors import ApiError
from retenta.tenancy.service import Principal

if TYPE_CHECKING:  # importing the app at run time here would be a cycle
    from retenta.app import Container

app = typer.Typer(help="Segments: define, preview, refresh, export.", no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")

DataOpt = Annotated[Path, typer.Option("--data", help="Data directory.", envvar="RETENTA_DATA_DIR")]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace", help="Workspace id (default: the only one).", envvar="RETENTA_WORKSPACE"
    ),
]
FileOpt = Annotated[
    Path,
    typer.Option(
        "--file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="A segment as JSON (the POST body).",
    ),
]


def emit(payload: Any) -> None:
    sys.stdout.write(orjson.dumps(payload, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def opened(data: Path) -> Iterator[Container]:
    from retenta.app import build_container
    from retenta.settings import Settings

    c = build_container(Settings(data_dir=data, background_workers=False))
    try:
        yield c
    finally:
        c.close()


def workspace_of(c: Container, given: str | None) -> str:
    if given:
        c.tenancy.workspace(given)  # 404 → ApiError if unknown
        return given
    ids = [w["id"] for w in c.tenancy.list_workspaces()]
    if len(ids) != 1:
        raise typer.BadParameter(
            f"the data directory has {len(ids)} workspaces; name one", param_hint="--workspace"
        )
    return str(ids[0])


def cli_principal(workspace_id: str) -> Principal:
    return Principal(workspace_id=workspace_id, kind="cli", subject="cli", role="admin")


def run(data: Path, workspace: str | None, work: Callable[[Container, str], T]) -> T:
    """Open, run ``work(container, workspace_id)``, close; API errors exit 1 with their details."""
    with opened(data) as c:
        try:
            return work(c, workspace_of(c, workspace))
        except ApiError as exc:
            console.print(f"[red]error[/red]: {exc.message}")
            for detail in exc.details:
                console.print(f"  {detail.get('path', '')}: {detail.get('reason', detail)}")
            raise typer.Exit(1) from None


def read_body(file: Path) -> Any:
    try:
        return orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--file") from None


@app.command("list")
def list_cmd(data: DataOpt = Path("./data"), workspace: WorkspaceOpt = None) -> None:
    """Segments with size, owner and where-used."""
    emit(run(data, workspace, lambda c, ws: c.segments.list_segments(workspace_id=ws)))


@app.command("create")
def create_cmd(
    file: FileOpt, data: DataOpt = Path("./data"), workspace: WorkspaceOpt = None
) -> None:
    """Create a segment from a JSON file (the same body as POST /api/v1/segments)."""
    body = read_body(file)
    emit(
        run(
            data,
            workspace,
            lambda c, ws: asyncio.run(c.segments.create(principal=cli_principal(ws), body=body)),
        )
    )


@app.command("show")
def show_cmd(
    segment_id: str, data: DataOpt = Path("./data"), workspace: WorkspaceOpt = None
) -> None:
    """One segment: definition, size, where-used, revision."""
    emit(run(data, workspace, lambda c, ws: c.segments.get(workspace_id=ws, segment_id=segment_id)))


@app.command("preview")
def preview_cmd(
    file: FileOpt,
    data: DataOpt = Path("./data"),
    workspace: WorkspaceOpt = None,
    sample: Annotated[int, typer.Option(min=0, max=50, help="Sample profiles to show.")] = 10,
) -> None:
    """Count and sample members (with reasons) of a definition, without saving it."""
    body = read_body(file)
    if isinstance(body, dict):
        body = {**body, "sample": sample}
    emit(run(data, workspace, lambda c, ws: c.segments.preview(workspace_id=ws, body=body)))


@app.command("explain")
def explain_cmd(
    segment_id: str,
    data: DataOpt = Path("./data"),
    workspace: WorkspaceOpt = None,
    dialect: Annotated[str, typer.Option(help="duckdb or clickhouse.")] = "duckdb",
) -> None:
    """Print the member query in one dialect."""
    if dialect not in ("duckdb", "clickhouse"):
        raise typer.BadParameter("duckdb or clickhouse", param_hint="--dialect")
    sql = run(
        data, workspace, lambda c, ws: c.segments.explain(workspace_id=ws, segment_id=segment_id)
    )
    sys.stdout.write(sql[dialect] + "\n")


@app.command("refresh")
def refresh_cmd(
    segment_id: str, data: DataOpt = Path("./data"), workspace: WorkspaceOpt = None
) -> None:
    """Recompute membership now and record today's size."""
    emit(
        run(
            data,
            workspace,
            lambda c, ws: asyncio.run(c.segments.refresh(workspace_id=ws, segment_id=segment_id)),
        )
    )


@app.command("export")
def export_cmd(
    segment_id: str,
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="File to write.")],
    data: DataOpt = Path("./data"),
    workspace: WorkspaceOpt = None,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write the members to a CSV or Parquet file."""
    if format not in ("csv", "parquet"):
        raise typer.BadParameter("csv or parquet", param_hint="--format")
    path, _ = run(
        data,
        workspace,
        lambda c, ws: c.segments.export(workspace_id=ws, segment_id=segment_id, fmt=format),
    )
    shutil.move(str(path), out)
    console.print(f"wrote {out}")


@app.command("rfm")
def rfm_cmd(data: DataOpt = Path("./data"), workspace: WorkspaceOpt = None) -> None:
    """The RFM report: the R×F grid and the named cells with counts and shares."""
    from retenta.segments.rfm_service import RfmService

    emit(run(data, workspace, lambda c, ws: RfmService(c.db).report(ws)))


@app.command("event-facts")
def event_facts_cmd(
    data: DataOpt = Path("./data"),
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Refill the copy from the event tiers first.")
    ] = False,
) -> None:
    """Whether the time-ordered copy of the events (``event_facts``) is in sync; refill it.

    Out of sync, event conditions read the tiers (same members, slower). A refill holds the
    writer while it reads every flushed event once (minutes at 50M events)."""
    from retenta.storage.duckdb import event_facts

    with opened(data) as c:
        rebuilt = c.db.write(event_facts.rebuild) if rebuild else None
        with c.db.read() as cur:
            (rows,) = cur.execute(f"SELECT count(*) FROM {event_facts.TABLE}").fetchone()
            synced = event_facts.in_sync(cur)
    emit({"rows": int(rows), "in_sync": synced, "rebuilt": rebuilt is not None})


@app.command("order-summary")
def order_summary_cmd(
    data: DataOpt = Path("./data"),
    workspace: WorkspaceOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Refill the workspace's summary from its orders.")
    ] = False,
) -> None:
    """Whether the per-contact order figures (``order_summary``) are in sync; refill them.

    Out of sync, order traits read the orders and their lines (same members, slower). A
    refill holds the writer while it reads every order and line once (seconds at 1M)."""
    from retenta.storage.duckdb import order_summary

    def work(c: Container, ws: str) -> dict[str, Any]:
        rows = c.db.write(lambda conn: order_summary.rebuild(conn, ws)) if rebuild else None
        with c.db.read() as cur:
            synced = order_summary.in_sync(cur, ws)
        return {"workspace_id": ws, "in_sync": synced, "rebuilt_rows": rows}

    emit(run(data, workspace, work))
