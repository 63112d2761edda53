"""The ``>>>`` examples of the pure identity modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "retenta.identity.normalize",
    "retenta.identity.rules",
    "retenta.identity.profile",
    "retenta.identity.state",
    "retenta.identity.known",
    "retenta.identity.cache",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
