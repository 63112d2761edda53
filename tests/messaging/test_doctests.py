"""The ``>>>`` examples of the pure messaging modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "retenta.messaging.context",
    "retenta.messaging.sandbox",
    "retenta.messaging.filters",
    "retenta.messaging.templates",
    "retenta.messaging.i18n",
    "retenta.messaging.email.text",
    "retenta.messaging.email.protect",
    "retenta.messaging.email.render",
    "retenta.messaging.email.canonical",
    "retenta.messaging.email.headers",
    "retenta.messaging.email.mime",
    "retenta.messaging.signing",
    "retenta.messaging.channels.smtp",
    "retenta.messaging.preview",
    "retenta.messaging.tracking",
    "retenta.messaging.consent",
    "retenta.messaging.suppression",
    "retenta.messaging.unsubscribe_page",
    "retenta.messaging.promocodes",
    "retenta.messaging.dispatch",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
