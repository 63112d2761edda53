"""The ``>>>`` examples of the send path's pure parts run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "retenta.messaging.outbox.model",
    "retenta.messaging.outbox.push_step",
    "retenta.messaging.outbox.steps",
    "retenta.messaging.settings_store",
    "retenta.messaging.channels.webpush_config",
    "retenta.messaging.channels.webpush",
    "retenta.messaging.dispatch",
    "retenta.messaging.channels.registry",
    "retenta.messaging.outbox.delivery",
    "retenta.messaging.outbox.ticks",
    "retenta.messaging.outbox.journal",
    "retenta.messaging.channels.smtp_data",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
