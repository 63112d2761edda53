"""The ``retenta`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from retenta.app import build_container, serve_until_stopped
from retenta.demo.cli import demo
from retenta.imports.cli import app as import_app
from retenta.segments.cli import app as segment_app
from retenta.settings import Settings

app = typer.Typer(help="Retenta: customer data and retention platform.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
key_app = typer.Typer(help="API and write keys.", no_args_is_help=True)
user_app = typer.Typer(help="UI users.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(key_app, name="key")
app.add_typer(user_app, name="user")
app.add_typer(import_app, name="import")
app.add_typer(segment_app, name="segment")
app.command("demo")(demo)
console = Console(stderr=True)

DataOpt = Annotated[Path, typer.Option("--data", help="Data directory.", envvar="RETENTA_DATA_DIR")]


def settings_for(data: Path) -> Settings:
    return Settings(data_dir=data)


def emit(payload: dict[str, object], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        for k, v in payload.items():
            console.print(f"[bold]{k}[/bold]: {v}")


@app.command()
def init(
    data: DataOpt = Path("./data"),
    name: Annotated[str, typer.Option(help="First workspace's name.")] = "Default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create the data directory and a first workspace; print its keys once."""
    c = build_container(settings_for(data))
    try:
        ws_id = c.tenancy.create_workspace(name=name)
        write = c.tenancy.issue_key(workspace_id=ws_id, kind="write")
        api = c.tenancy.issue_key(workspace_id=ws_id, kind="api")
    finally:
        c.close()
    emit({"workspace_id": ws_id, "write_key": write.secret, "api_key": api.secret}, as_json)


@workspace_app.command("create")
def workspace_create(
    name: str,
    data: DataOpt = Path("./data"),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a workspace with its first keys."""
    init(data=data, name=name, as_json=as_json)


@workspace_app.command("list")
def workspace_list(data: DataOpt = Path("./data")) -> None:
    c = build_container(settings_for(data))
    try:
        for ws in c.tenancy.list_workspaces():
            sys.stdout.write(f"{ws['id']}\t{ws['name']}\n")
    finally:
        c.close()


@key_app.command("create")
def key_create(
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
    kind: Annotated[str, typer.Option(help="write or api.")] = "api",
    name: str = "cli",
    data: DataOpt = Path("./data"),
) -> None:
    """Issue a key; the secret is printed once."""
    if kind not in ("write", "api"):
        raise typer.BadParameter("kind must be 'write' or 'api'")
    c = build_container(settings_for(data))
    try:
        key = c.tenancy.issue_key(workspace_id=workspace, kind=kind, name=name)  # type: ignore[arg-type]
    finally:
        c.close()
    sys.stdout.write(json.dumps({"id": key.id, "kind": key.kind, "secret": key.secret}) + "\n")


@user_app.command("create")
def user_create(
    workspace: Annotated[str, typer.Option(help="Workspace id.")],
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    role: Annotated[str, typer.Option(help="admin, marketer or analyst.")] = "admin",
    data: DataOpt = Path("./data"),
) -> None:
    """Create a UI user."""
    c = build_container(settings_for(data))
    try:
        user_id = c.tenancy.create_user(
            workspace_id=workspace, email=email, password=password, role=role
        )
    finally:
        c.close()
    sys.stdout.write(json.dumps({"id": user_id}) + "\n")


@app.command()
def serve(
    data: DataOpt = Path("./data"),
    host: str = "127.0.0.1",
    port: int = 8000,
    ingest_workers: Annotated[
        int, typer.Option(help="Worker processes serving /v1/* on --ingest-port (0: off).")
    ] = 0,
    ingest_port: Annotated[
        int | None, typer.Option(help="Port of the ingest workers (default: --port + 1).")
    ] = None,
) -> None:
    """Run the HTTP server: ingestion, API, UI and background work."""
    settings = settings_for(data)
    if ingest_workers > 0:  # docs/ingest.md: the multi-process ingest front
        settings.ingest_workers = ingest_workers
    if settings.ingest_workers > 0:  # from the option or RETENTA_INGEST_WORKERS
        settings.ingest_host = host
        if ingest_port is not None or settings.ingest_port is None:
            settings.ingest_port = ingest_port if ingest_port is not None else port + 1
    container = build_container(settings)
    container.ingest.settle_heap_at_start = True  # a serving process (docs/ingest.md)
    serve_until_stopped(container, host, port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
