"""The ``>>>`` examples of the pure commerce modules run as tests."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from retenta.commerce import apply, carts, events, lifecycle, memory

MODULES = [apply, carts, events, lifecycle, memory]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
