"""Shared fixtures: a real DuckDB in a temp data directory, the real ASGI app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.settings import Settings
from retenta.storage.duckdb.engine import DuckDatabase

# The suite reads the store right after ingesting (directly, not through the API's wait
# for journaled requests), so its servers and containers answer /v1 after COMMIT; the
# intake journal, the product's default, has its own tests (tests/ingest/test_journal.py,
# the SIGKILL drill) that ask for it.
os.environ.setdefault("RETENTA_INGEST_ACKNOWLEDGE", "commit")


@dataclass
class Workspace:
    id: str
    write_key: str
    api_key: str

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def write_auth(self) -> tuple[str, str]:
        return (self.write_key, "")


def make_workspace(container: Container, name: str = "Shop") -> Workspace:
    ws_id = container.tenancy.create_workspace(name=name)
    write = container.tenancy.issue_key(workspace_id=ws_id, kind="write")
    api = container.tenancy.issue_key(workspace_id=ws_id, kind="api")
    return Workspace(ws_id, write.secret, api.secret)


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store the real engine created and migrated, once per test process."""
    path = tmp_path_factory.mktemp("template") / "retenta.duckdb"
    DuckDatabase(path).close()  # closed with a checkpoint: the file alone is the store
    return path


@pytest.fixture(autouse=True)
def stores_start_migrated(request: pytest.FixtureRequest, migrated_store: Path) -> Iterator[None]:
    """A new store starts as a copy of ``migrated_store``, not by running every migration.

    Applying the ~50 migrations is ~0.35 s of a test's set-up, and most tests make a store;
    a copy is a few milliseconds. The copy is what the same migrations made, and the
    engine still applies any that it lacks. ``@pytest.mark.migrations`` opts out, for
    tests of the migrations themselves.
    """
    if request.node.get_closest_marker("migrations"):
        yield
        return
    opened = DuckDatabase.__init__

    def from_template(self: DuckDatabase, path: Path | str, **kwargs: Any) -> None:
        if str(path) not in ("", ":memory:") and not os.path.exists(path):
            shutil.copyfile(migrated_store, path)
        opened(self, path, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DuckDatabase, "__init__", from_template)
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", background_workers=False)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    c = build_container(settings)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as tc:
        yield tc


@pytest.fixture
def ws(container: Container) -> Workspace:
    return make_workspace(container)


@pytest.fixture
def other_ws(container: Container) -> Workspace:
    return make_workspace(container, "Other shop")
