"""The ``>>>`` examples of the pure helpers are tests too."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from retenta.contacts import consent, queries, traits
from retenta.storage.duckdb import compaction


@pytest.mark.parametrize("module", [traits, queries, consent, compaction], ids=lambda m: m.__name__)
def test_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
