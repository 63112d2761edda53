"""An import raises DuckDB's automatic-checkpoint threshold while it runs, and only then."""

from __future__ import annotations

import pytest

from retenta.app import Container
from retenta.imports import store


def threshold(container: Container) -> str:
    with container.db.read() as cur:
        value: str = cur.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    return value


def test_threshold_is_raised_for_the_block_and_restored(container: Container) -> None:
    before = threshold(container)
    with store.fewer_checkpoints(container.db):
        assert threshold(container) == "1.0 GiB"
    assert threshold(container) == before


def test_threshold_is_restored_when_the_job_fails(container: Container) -> None:
    before = threshold(container)
    seen = []

    def failing_job() -> None:
        with store.fewer_checkpoints(container.db, "64MiB"):
            seen.append(threshold(container))
            raise RuntimeError("a chunk failed")

    with pytest.raises(RuntimeError):
        failing_job()
    assert seen == ["64.0 MiB"]
    assert threshold(container) == before


def test_overlapping_jobs_restore_once_the_last_ends(container: Container) -> None:
    before = threshold(container)
    with store.fewer_checkpoints(container.db):
        with store.fewer_checkpoints(container.db):
            assert threshold(container) == "1.0 GiB"
        assert threshold(container) == "1.0 GiB"  # the first job still runs
    assert threshold(container) == before
