"""``retenta segment …`` through Typer's CliRunner on a real data directory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retenta.app import build_container, create_app
from retenta.cli import app
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.segments.conftest import in_city, rules, seed, viewed

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory with one workspace and the seeded people (then closed)."""
    directory = tmp_path / "data"
    container = build_container(Settings(data_dir=directory, background_workers=False))
    try:
        ws = make_workspace(container)
        with TestClient(create_app(container)) as client:
            seed(client, ws)
    finally:
        container.close()
    return directory


def invoke(*args: str) -> str:
    result = runner.invoke(app, ["segment", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def write(tmp_path: Path, name: str, body: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_create_list_show_preview_explain_refresh_export(data: Path, tmp_path: Path) -> None:
    d = ["--data", str(data)]
    kyiv = write(tmp_path, "kyiv.json", {"name": "Kyiv", "tags": ["geo"], **rules(in_city("Kyiv"))})
    created = json.loads(invoke("create", "--file", str(kyiv), *d))
    seg_id = created["id"]
    assert created["owner"] == "cli"

    [listed] = json.loads(invoke("list", *d))["items"]
    assert listed["id"] == seg_id
    assert json.loads(invoke("show", seg_id, *d))["definition"]["root"]["value"] == "Kyiv"

    draft = write(tmp_path, "draft.json", rules(viewed(2)))
    preview = json.loads(invoke("preview", "--file", str(draft), "--sample", "1", *d))
    assert preview["count"] == 2
    assert len(preview["sample"]) == 1

    assert "'Kyiv'" in invoke("explain", seg_id, *d)
    assert "'Kyiv'" in invoke("explain", seg_id, "--dialect", "clickhouse", *d)
    assert json.loads(invoke("refresh", seg_id, *d))["size"] == 2

    out_csv = tmp_path / "kyiv.csv"
    invoke("export", seg_id, "--format", "csv", "--out", str(out_csv), *d)
    with out_csv.open(encoding="utf-8") as fh:
        emails = sorted(r["email"] for r in csv.DictReader(fh))
    assert emails == ["ivan@shop.example", "olena@shop.example"]
    out_pq = tmp_path / "kyiv.parquet"
    invoke("export", seg_id, "--format", "parquet", "--out", str(out_pq), *d)
    assert pq.read_table(out_pq).num_rows == 2


def test_bad_input_exits_non_zero_with_the_path(data: Path, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", {"name": "Bad", **rules({"type": "all", "conditions": []})})
    result = runner.invoke(app, ["segment", "create", "--file", str(bad), "--data", str(data)])
    assert result.exit_code == 1
    assert "root.conditions" in result.output
    missing = runner.invoke(app, ["segment", "show", "seg_nope", "--data", str(data)])
    assert missing.exit_code == 1
    assert "not found" in missing.output
    wrong = runner.invoke(
        app, ["segment", "explain", "x", "--dialect", "oracle", "--data", str(data)]
    )
    assert wrong.exit_code == 2


def test_rfm_report(data: Path) -> None:
    report = json.loads(invoke("rfm", "--data", str(data)))
    assert {"grid", "cells"} <= set(report)
    assert {c["name"] for c in report["cells"]} >= {"champions", "lost"}


def test_event_facts_status_and_rebuild(data: Path) -> None:
    """The seeded events sit in the recent tier: in sync with an empty copy; after moving
    them into L2 behind the copy's back it is out of sync until ``--rebuild``."""
    assert json.loads(invoke("event-facts", "--data", str(data))) == {
        "rows": 0, "in_sync": True, "rebuilt": False}  # fmt: skip
    container = build_container(Settings(data_dir=data, background_workers=False))
    try:
        container.db.write(
            lambda c: (
                c.execute("INSERT INTO events SELECT * FROM events_recent"),
                c.execute("DELETE FROM events_recent"),
            )
        )
        with container.db.read() as cur:
            (moved,) = cur.execute("SELECT count(*) FROM events").fetchone()
    finally:
        container.close()
    assert moved > 0
    assert json.loads(invoke("event-facts", "--data", str(data)))["in_sync"] is False
    after = json.loads(invoke("event-facts", "--data", str(data), "--rebuild"))
    assert after == {"rows": moved, "in_sync": True, "rebuilt": True}
