"""``retenta demo``: a workspace, a realistic generated store, the server and a live trickle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retenta.demo.setup import DemoError, DemoInfo, prepare_demo

console = Console(stderr=True)


def _prepare(data: Path, contacts: int, seed: int, days: int, reset: bool) -> DemoInfo:
    columns = (
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("contacts · {task.fields[events]:,} events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("store", total=contacts, events=0)

        def progress(done: int, total: int, rows: dict[str, int]) -> None:
            bar.update(task, completed=done, events=rows.get("events", 0))

        return prepare_demo(
            data, contacts=contacts, seed=seed, days=days, reset=reset, progress=progress
        )


def _announce(info: DemoInfo, host: str, port: int) -> None:
    url = f"http://{host}:{port}/"
    console.print(f"[bold green]Retenta demo[/] — {info.contacts:,} contacts (seed {info.seed})")
    if info.rows:
        rows = info.rows
        console.print(
            f"  store: {rows.get('events', 0):,} events, {rows.get('orders', 0):,} orders, "
            f"{rows.get('products', 0):,} products, generated in {info.seconds} s"
        )
    console.print(f"  open      [bold]{url}[/]")
    console.print(f"  log in    [bold]{info.email}[/] / [bold]{info.password}[/]")
    console.print(f"  workspace {info.workspace_id}")
    console.print(f"  write key {info.write_key}", soft_wrap=True)
    console.print(f"  API key   {info.api_key}", soft_wrap=True)


def _serve(data: Path, info: DemoInfo, host: str, port: int, live: bool) -> None:
    from retenta.app import build_container, serve_until_stopped
    from retenta.demo.trickle import LiveTrickle
    from retenta.settings import Settings

    container = build_container(Settings(data_dir=data))
    if live:
        container.lifecycle.append(
            LiveTrickle(db=container.db, ingest=container.ingest, workspace_id=info.workspace_id)
        )
    serve_until_stopped(container, host, port)


def demo(
    data: Annotated[Path, typer.Option("--data", help="Demo data directory.")] = Path(
        "./demo-data"
    ),
    contacts: Annotated[int, typer.Option(min=0, help="People to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same store.")] = 42,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 365,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_live: Annotated[bool, typer.Option("--no-live", help="Do not stream live events.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Delete and regenerate the demo.")] = False,
    generate_only: Annotated[
        bool, typer.Option("--generate-only", help="Generate, print, exit.")
    ] = False,
) -> None:
    """Create a demo workspace and store, then serve it with live events flowing.

    Re-running on an existing demo directory reuses it (no regeneration) unless --reset.
    """
    existing = None if reset else DemoInfo.load(data)
    try:
        if existing is not None and existing.generated:
            console.print(f"reusing the demo in {data} (--reset to generate it again)")
            info = existing
        else:
            info = _prepare(data, contacts, seed, days, reset)
    except DemoError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    _announce(info, host, port)
    if generate_only:
        return
    _serve(data, info, host, port, live=not no_live)
