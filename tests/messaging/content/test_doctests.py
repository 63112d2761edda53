"""The ``>>>`` examples of the content modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "retenta.messaging.content.compose",
    "retenta.messaging.content.compiled",
    "retenta.messaging.content.checks",
    "retenta.messaging.content.testsend",
    "retenta.messaging.content.seed",
    "retenta.messaging.templates",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0


def test_data_keys_come_before_methods_but_never_open_attributes() -> None:
    from retenta.messaging.templates import RenderError, compile_template

    t = compile_template("{{ d.items | join(',') }}/{{ d.__class__ }}", name="t")
    assert t.render({"d": {"items": ["a", "b"], "__class__": "data"}}) == "a,b/data"
    with pytest.raises(RenderError, match="not allowed"):
        compile_template("{{ d.x.__class__ }}", name="t").render({"d": {"x": "s"}})
