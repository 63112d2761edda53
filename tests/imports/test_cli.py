"""``retenta import …`` through Typer's CliRunner: mapping flags, progress, summary, exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from retenta.app import build_container
from retenta.cli import app
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.imports.helpers import write_csv

runner = CliRunner()


def _workspace(data: Path) -> str:
    c = build_container(Settings(data_dir=data, background_workers=False))
    try:
        return make_workspace(c).id
    finally:
        c.close()


def test_import_contacts_with_map_flags_and_progress(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = _workspace(data)
    rows = [[f"u{i}@example.com", f"id-{i}", "gold"] for i in range(7)] + [["bad", "", ""]]
    path = write_csv(tmp_path / "people.csv", ["mail", "crm id", "level"], rows)
    args = ["import", "contacts", str(path), "--data", str(data), "--workspace", ws]
    args += ["--map", "mail=email", "--map", "crm id=external_id", "--map", "level=attr.level"]
    args += ["--save-mapping", "crm", "--chunk-rows", "100"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "7 accepted, 1 rejected of 8 rows" in result.output
    assert "8/8" in result.output  # the progress bar's final state
    assert "/rejects" in result.output
    job_id = result.output.strip().splitlines()[-1].split("\t")[0]
    assert job_id.startswith("imp_")
    listed = runner.invoke(app, ["import", "rejects", job_id, "--data", str(data)])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[1].startswith("9,email,'bad': not an e-mail address")
    again = runner.invoke(
        app,
        [
            "import",
            "contacts",
            str(path),
            "--data",
            str(data),
            "--workspace",
            ws,
            "--mapping",
            "crm",
        ],
    )
    assert again.exit_code == 0, again.output
    c = build_container(Settings(data_dir=data, background_workers=False))
    try:
        with c.db.read() as cur:
            row = cur.execute(
                "SELECT count(*) FROM contacts WHERE workspace_id = ?", [ws]
            ).fetchone()
        assert row == (7,)
    finally:
        c.close()


def test_mapping_error_names_the_field(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = _workspace(data)
    path = write_csv(tmp_path / "o.csv", ["id", "mail"], [["1", "a@example.com"]])
    result = runner.invoke(
        app,
        [
            "import",
            "orders",
            str(path),
            "--data",
            str(data),
            "--workspace",
            ws,
            "--map",
            "id=order_id",
        ],
    )
    assert result.exit_code == 2
    assert "error (placed_at): required field 'placed_at' is not mapped" in result.output


def test_unknown_workspace_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ["sku"], [["A"]])
    result = runner.invoke(
        app,
        ["import", "products", str(path), "--data", str(tmp_path / "d"), "--workspace", "ws_nope"],
    )
    assert result.exit_code == 2
    assert "workspace not found" in result.output
