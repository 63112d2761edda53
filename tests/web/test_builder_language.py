"""The visual builder offers every part of the definition language, no more and no less.

The builder's vocabulary lives in ``ui/src/pages/segments/model.ts``; the language's in the
JSON Schema the API serves (``GET /api/v1/segments/schema``) and, for what a schema cannot
say (which order and line-item fields a filter may name), in ``segments.definition_checks``.
When the language grows a condition type, operator, window, aggregation, status, field, trait
or RFM cell, this fails until the builder has it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.segments import definition_checks
from tests.conftest import Workspace

MODEL_TS = Path(__file__).parents[2] / "ui" / "src" / "pages" / "segments" / "model.ts"
GROUPS = {"all", "any", "not"}


def ts_block(name: str) -> str:
    """The source text of ``[export] const <name> ... ;`` in model.ts."""
    text = MODEL_TS.read_text(encoding="utf-8")
    found = re.search(rf"^(?:export )?const {name}\b.*?;\n", text, re.S | re.M)
    assert found, f"{name} not found in {MODEL_TS}"
    return found.group(0)


def ts_strings(name: str, key: str | None = None) -> set[str]:
    """The string literals of a constant (or only those after ``key:``)."""
    block = ts_block(name)
    if key:
        return set(re.findall(rf'{key}: "([^"]+)"', block))
    return set(re.findall(r'"([^"]+)"', block))


@pytest.fixture
def schema(client: TestClient, ws: Workspace) -> dict[str, Any]:
    resp = client.get("/api/v1/segments/schema", headers=ws.api_headers)
    assert resp.status_code == 200
    return resp.json()  # type: ignore[no-any-return]


def defs(schema: dict[str, Any], suffix: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in schema["$defs"].items() if k.endswith(suffix)}


def enum(schema: dict[str, Any], model: str, prop: str) -> set[str]:
    spec = schema["$defs"][model]["properties"][prop]
    return set(spec.get("enum") or [spec["const"]])


def test_every_condition_type_has_an_editor(schema: dict[str, Any]) -> None:
    types = {enum(schema, name, "type").pop() for name in defs(schema, "Condition")}
    assert types - GROUPS == ts_strings("LEAF_TYPES", "type")


def test_every_window_kind_can_be_picked(schema: dict[str, Any]) -> None:
    kinds = {enum(schema, name, "kind").pop() for name in defs(schema, "Window")}
    assert kinds == ts_strings("WINDOW_KINDS", "kind")
    assert enum(schema, "LastWindow", "unit") == ts_strings("UNITS")
    assert enum(schema, "ThisWindow", "unit") == ts_strings("THIS_UNITS")


def test_every_operator_aggregation_and_status_is_offered(schema: dict[str, Any]) -> None:
    offered = ts_strings("OPS_BY_TYPE") | ts_strings("PRESENCE")  # spread into each type's list
    assert enum(schema, "AttributeCondition", "op") == offered
    assert enum(schema, "AttributeCondition", "value_type") == ts_strings("VALUE_TYPES")
    assert enum(schema, "Aggregate", "fn") == ts_strings("AGG_FNS")
    assert enum(schema, "Compare", "op") == ts_strings("COMPARE_OPS")
    assert enum(schema, "PropertyFilter", "op") == ts_strings("WHERE_OPS")
    assert enum(schema, "MessageCondition", "status") == ts_strings("MESSAGE_STATUSES")
    assert enum(schema, "ConsentCondition", "status") == ts_strings("CONSENT_STATUSES")


def test_every_filterable_field_trait_and_rfm_cell_is_offered(schema: dict[str, Any]) -> None:
    assert set(definition_checks.ORDER_FIELDS) == ts_strings("ORDER_FIELDS")
    assert set(definition_checks.ITEM_FIELDS) == ts_strings("ITEM_FIELDS")
    assert set(definition_checks.TRAIT_TYPES) == ts_strings("TRAITS")
    assert enum(schema, "TraitCondition", "trait") == ts_strings("TRAITS")
    assert set(definition_checks.RFM_CELLS) == ts_strings("RFM_CELLS")
    per = schema["$defs"]["PurchaseCondition"]["properties"]["per"]["anyOf"][0]["enum"]
    assert set(per) == ts_strings("PURCHASE_PER")
