"""``retenta import …`` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Bulk import from CSV and XLSX.", no_args_is_help=True)
