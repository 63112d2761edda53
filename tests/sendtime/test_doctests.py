"""The ``>>>`` examples of send-time optimization's pure parts run as tests."""

from __future__ import annotations

import doctest

import pytest

from retenta.sendtime import model, service, store


@pytest.mark.parametrize("module", [model, service, store])
def test_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
