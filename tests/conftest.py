"""Shared fixtures: a real DuckDB in a temp data directory, the real ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container, build_container, create_app
from retenta.settings import Settings


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
