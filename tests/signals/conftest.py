"""One generated demo store per test module (generation and app start take seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.journeys.scenarios.helpers import Store, demo_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield from demo_store(tmp_path_factory.mktemp("signals") / "data")
