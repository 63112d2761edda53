"""The ``>>>`` examples in the import modules are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["coerce", "mapping", "readers", "loaders", "service", "cli"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    module = importlib.import_module(f"retenta.imports.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
