"""The ``>>>`` examples in the demo package are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "model", "catalog", "people", "behaviour", "jsonparts", "tables", "entities", "trickle",
)  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(f"retenta.demo.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
