"""The ``>>>`` examples of VIEWS' modules (views, SQL templates, RFM) are tests too."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from retenta.segments import rfm, rfm_service, sqlcheck, sqlsegments, view_sql, views

MODULES = [views, view_sql, sqlcheck, sqlsegments, rfm, rfm_service]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
