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

# Tests read the store right after ingesting, often directly (not through the API, which
# waits for journaled requests): in the product's default, ``journal``, an in-process app's
# ``/v1`` answer is followed by that wait (``reads_after_ingestion``). RETENTA_INGEST_ACKNOWLEDGE
# picks the mode the whole suite runs in.


@pytest.fixture(autouse=True)
def reads_after_ingestion() -> Iterator[None]:
    """After an in-process app answers a ``/v1`` request, wait until what it answered is
    readable (``IngestPipeline.caught_up``), as the management API's reads do: a test that
    then reads the store directly sees what it sent, in either acknowledgement mode."""
    sent = TestClient.request

    def request(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        response = sent(self, method, url, *args, **kwargs)
        container = getattr(getattr(self.app, "state", None), "container", None)
        if self.portal is not None and container is not None and str(url).startswith("/v1/"):
            self.portal.call(container.ingest.caught_up)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TestClient, "request", request)
        yield


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
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    overrides: dict[str, Any] = {}
    if request.node.get_closest_marker("acknowledge_after_commit"):
        overrides["ingest_acknowledge"] = "commit"
    return Settings(data_dir=tmp_path / "data", background_workers=False, **overrides)


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
