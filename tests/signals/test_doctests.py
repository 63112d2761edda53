"""The ``>>>`` examples of the signals and the scenario builders are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "signals.rhythm",
    "signals.catalog",
    "signals.emit",
    "signals.service",
    "journeys.scenarios.model",
)


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(f"retenta.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
