"""The ``>>>`` examples of send-time optimization's pure parts run as tests."""

from __future__ import annotations

import doctest

from retenta.sendtime import model


def test_examples() -> None:
    result = doctest.testmod(model)
    assert result.attempted > 0
    assert result.failed == 0
