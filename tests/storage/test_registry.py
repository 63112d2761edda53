"""The storage settings reach the database the registry opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from retenta.settings import Settings
from retenta.storage.registry import open_database


def _threshold(settings: Settings) -> str:
    db = open_database(settings)
    try:
        with db.read() as cur:
            row = cur.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
        assert row is not None
        return str(row[0])
    finally:
        db.close()


def test_duckdbs_own_checkpoint_is_at_128_mib_by_default(tmp_path: Path) -> None:
    """The writer's own post-ack checkpoint is at an eighth of it (16 MiB)."""
    assert _threshold(Settings(data_dir=tmp_path)).replace(" ", "") == "128.0MiB"


def test_the_checkpoint_threshold_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTA_STORAGE__CHECKPOINT_THRESHOLD", "64MiB")
    assert _threshold(Settings(data_dir=tmp_path)).replace(" ", "") == "64.0MiB"
