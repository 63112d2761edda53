"""The journey canvas offers every part of the journey language, no more and no less.

The canvas's vocabulary lives in ``ui/src/pages/journeys/model.ts``; the language's in the
pydantic models of ``retenta.journeys.definition`` (their JSON Schema). When the language
grows a node type, trigger, condition kind, status, channel, operator or unit, this fails
until the canvas has a palette entry and a form for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from retenta.journeys.definition import Journey

MODEL_TS = Path(__file__).parents[2] / "ui" / "src" / "pages" / "journeys" / "model.ts"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return TypeAdapter(Journey).json_schema()


def ts_block(name: str) -> str:
    """The source text of ``export const <name> ... ;`` in model.ts."""
    text = MODEL_TS.read_text(encoding="utf-8")
    found = re.search(rf"^export const {name}\b.*?;\n", text, re.S | re.M)
    assert found, f"{name} not found in {MODEL_TS}"
    return found.group(0)


def ts_strings(name: str) -> set[str]:
    return set(re.findall(r'"([^"]+)"', ts_block(name).split("=", 1)[1]))


def ts_keys(name: str) -> set[str]:
    """The keys of a ``Record<…, string>`` constant (``key: "label"`` lines)."""
    return set(re.findall(r"^\s+(\w+): \"", ts_block(name), re.M))


def mapping(spec: dict[str, Any]) -> set[str]:
    return set(spec["discriminator"]["mapping"])


def enum(schema: dict[str, Any], model: str, prop: str, items: bool = False) -> set[str]:
    spec = schema["$defs"][model]["properties"][prop]
    if "anyOf" in spec:  # optional: the non-null branch
        spec = next(s for s in spec["anyOf"] if s.get("type") != "null")
    if items:
        spec = spec["items"]
    return set(spec.get("enum") or [spec["const"]])


def test_every_node_type_is_in_the_palette(schema: dict[str, Any]) -> None:
    assert mapping(schema["properties"]["nodes"]["items"]) == ts_keys("NODE_LABEL")


def test_every_trigger_type_is_in_the_palette(schema: dict[str, Any]) -> None:
    trigger = schema["$defs"]["Entry"]["properties"]["trigger"]
    assert mapping(trigger) == ts_keys("TRIGGER_LABEL")


def test_every_condition_kind_and_status_is_offered(schema: dict[str, Any]) -> None:
    predicate = schema["$defs"]["ConditionNode"]["properties"]["if"]
    assert mapping(predicate) == ts_keys("PREDICATE_LABEL")
    assert enum(schema, "MessageStatusIs", "status") == ts_strings("PREDICATE_MESSAGE_STATUSES")


def test_every_status_channel_operator_and_unit_is_offered(schema: dict[str, Any]) -> None:
    assert enum(schema, "MessageTrigger", "on") == ts_strings("MESSAGE_STATUSES")
    assert enum(schema, "CascadeNode", "channels", items=True) == ts_strings("CASCADE_CHANNELS")
    assert enum(schema, "PropertyFilter", "op") == ts_strings("OPS")
    assert enum(schema, "Duration", "unit") == ts_strings("UNITS")
