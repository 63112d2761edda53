"""The ``>>>`` examples of the campaigns' pure parts run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "retenta.campaigns.assign",
    "retenta.campaigns.definition",
    "retenta.campaigns.stats",
    "retenta.campaigns.service",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
