"""The ``>>>`` examples of SERVICE's pure helpers are tests too."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from retenta.segments import evaluate, export, fields, flow, references, schemas

MODULES = [references, schemas, export, fields, flow, evaluate]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
