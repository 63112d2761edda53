"""The definition language: parsing, errors with paths, params, references, labels, schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retenta.segments.definition import (
    SCHEMA_PATH,
    DefinitionError,
    EventCondition,
    bind_params,
    declared_params,
    describe,
    leaves,
    parse_definition,
    referenced_segments,
    schema_text,
)


def errors_of(obj: Any) -> list[dict[str, str]]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(obj)
    return info.value.errors


def test_must_work_examples_parse_and_read_well() -> None:
    examples = {
        "blog opens in September but no promo": {
            "type": "all",
            "conditions": [
                {"type": "message", "status": "opened", "tag": "blog-update",
                 "window": {"kind": "calendar", "month": 9}},
                {"type": "not", "condition": {"type": "message", "status": "delivered",
                 "tag": "promo", "window": {"kind": "calendar", "month": 9}}},
            ],
        },
        "two big orders": {
            "type": "order", "where": [{"property": "total", "op": "gt", "value": 1000}],
            "window": {"kind": "last", "amount": 90, "unit": "days"},
            "compare": {"op": "gte", "value": 2},
        },
        "viewed same product, did not buy": {
            "type": "event", "event": "Product Viewed", "per": "product_id",
            "window": {"kind": "this", "unit": "week"}, "compare": {"op": "gte", "value": 3},
            "unless": {"source": "purchase", "property": "sku"},
        },
        "birthday soon": {"type": "attribute", "field": "birthday", "value_type": "date",
                          "op": "anniversary_in_next", "value": 7},
    }  # fmt: skip
    labels = {
        name: describe(parse_definition({"root": root}).root) for name, root in examples.items()
    }
    assert labels["two big orders"] == "orders where total > 1,000 ≥ 2 times in the last 90 days"
    assert labels["birthday soon"] == "birthday anniversary in the next 7 days"
    assert "for the same product_id this week" in labels["viewed same product, did not buy"]
    assert "unless a purchase with that sku" in labels["viewed same product, did not buy"]
    assert labels["blog opens in September but no promo"].startswith(
        "(message opened tag blog-update"
    )


@pytest.mark.parametrize(
    ("root", "path", "reason"),
    [
        ({"type": "all", "conditions": [{"type": "event", "event": "x"},
          {"type": "event", "event": "y", "window": {"kind": "last", "amount": 0}}]},
         "root.conditions[1].window.amount", "greater than or equal to 1"),
        ({"type": "any", "conditions": [{"type": "not", "condition": {"type": "event",
          "event": "y", "window": {"kind": "last", "amount": "abc"}}}]},
         "root.conditions[0].condition.window.amount", "valid integer"),
        ({"type": "event"}, "root.event", "Field required"),
        ({"type": "bogus"}, "root", "does not match any of the expected tags"),
        ({"type": "attribute", "field": "age", "value_type": "number", "op": "between",
          "value": [1]}, "root.value", "between needs two values"),
        ({"type": "attribute", "field": "city", "op": "gt", "value": 1}, "root.op",
         "gt does not apply to text values"),
        ({"type": "attribute", "field": "city", "op": "in", "value": []}, "root.value",
         "non-empty list"),
        ({"type": "attribute", "field": "vip", "value_type": "boolean", "op": "is_true",
          "value": 1}, "root.value", "takes no value"),
        ({"type": "attribute", "field": "city", "op": "equals", "value": "@nope"}, "root.value",
         "unknown parameter @nope"),
        ({"type": "order", "aggregate": {"fn": "sum"}, "compare": {"op": "gt", "value": 3}},
         "root.aggregate.property", "needs a property"),
        ({"type": "order", "aggregate": {"fn": "sum", "property": "coupon"},
          "compare": {"op": "gt", "value": 3}}, "root.aggregate.property", "not possible"),
        ({"type": "order", "where": [{"property": "colour", "op": "equals", "value": "x"}]},
         "root.where[0].property", "unknown field 'colour'"),
        ({"type": "event", "event": "x", "unless": {"event": "y", "property": "sku"}},
         "root.unless", "set per"),
        ({"type": "event", "event": "x", "window": {"kind": "between", "from": "2026-02-01",
          "to": "2026-01-01"}}, "root.window.to", "after from"),
        ({"type": "event", "event": "x", "window": {"kind": "calendar", "month": 13}},
         "root.window.month", "less than or equal to 12"),
        ({"type": "rfm", "cells": ["heroes"]}, "root.cells[0]", "unknown RFM cell"),
        ({"type": "rfm"}, "root", "give cells"),
        ({"type": "trait", "trait": "orders", "op": "contains", "value": "x"}, "root.op",
         "does not apply to number"),
        ({"type": "attribute", "field": "birthday", "value_type": "date", "op": "after",
          "value": "last tuesday"}, "root.value", "not an ISO date"),
        ({"type": "event", "event": "x", "colour": "red"}, "root.colour", "Extra inputs"),
    ],
)  # fmt: skip
def test_errors_name_the_path_and_the_reason(root: dict[str, Any], path: str, reason: str) -> None:
    errors = errors_of({"root": root})
    assert any(e["path"] == path and reason in e["reason"] for e in errors), errors


def test_not_json_and_several_errors_at_once() -> None:
    assert errors_of("{nope")[0]["reason"].startswith("not JSON")
    errors = errors_of({"root": {"type": "all", "conditions": [
        {"type": "attribute", "field": "a", "op": "gt", "value": 1},
        {"type": "attribute", "field": "b", "op": "in", "value": []},
    ]}})  # fmt: skip
    assert [e["path"] for e in errors] == ["root.conditions[0].op", "root.conditions[1].value"]


def test_params_shorthand_binding_and_defaults() -> None:
    defn = parse_definition({
        "params": {"n": {"type": "number", "default": 2}, "ev": {"type": "text"}},
        "root": {"type": "event", "event": "@ev", "compare": {"op": "gte", "value": {"param": "n"}},
                 "where": [{"property": "email", "op": "ends_with", "value": "@gmail.com"},
                           {"property": "handle", "op": "equals", "value": "@@retenta"}]},
    })  # fmt: skip
    assert set(declared_params(defn)) == {"n", "ev"}
    with pytest.raises(DefinitionError) as info:
        bind_params(defn, {})
    assert info.value.errors == [
        {"path": "root.event", "reason": "parameter @ev has no value and no default"}
    ]
    bound, used = bind_params(defn, {"ev": "Order Completed"})
    assert used == {"ev": "Order Completed", "n": 2}
    assert isinstance(bound.root, EventCondition)
    assert (bound.root.event, bound.root.compare.value) == ("Order Completed", 2)
    assert [f.value for f in bound.root.where] == ["@gmail.com", "@retenta"]
    with pytest.raises(DefinitionError, match="not a declared parameter"):
        bind_params(defn, {"zz": 1})


def test_a_bound_value_is_checked_like_a_literal() -> None:
    defn = parse_definition(
        {
            "params": {"d": {"type": "number"}},
            "root": {"type": "event", "event": "x", "window": {"kind": "last", "amount": "@d"}},
        }
    )
    with pytest.raises(DefinitionError) as info:
        bind_params(defn, {"d": -3})
    assert info.value.errors[0]["path"] == "root.window.amount"


def test_leaves_references_and_round_trip() -> None:
    raw = {"root": {"type": "any", "conditions": [
        {"type": "segment", "segment_id": "seg_a"},
        {"type": "not", "condition": {"type": "segment", "segment_id": "seg_b", "member": False}},
        {"type": "all", "conditions": [{"type": "consent", "channel": "email"},
                                       {"type": "segment", "segment_id": "seg_a"}]},
    ]}}  # fmt: skip
    defn = parse_definition(raw)
    assert referenced_segments(defn) == ["seg_a", "seg_b"]
    assert [p for p, _ in leaves(defn)] == [
        "root.conditions[0]", "root.conditions[1].condition",
        "root.conditions[2].conditions[0]", "root.conditions[2].conditions[1]",
    ]  # fmt: skip
    assert parse_definition(json.dumps(defn.to_json())) == defn
    windowed = parse_definition(
        {
            "root": {
                "type": "event",
                "event": "x",
                "window": {"kind": "between", "from": "2026-01-01", "to": "2026-02-01T00:00:00Z"},
            }
        }
    )
    assert windowed.to_json()["root"]["window"]["from"] == "2026-01-01"
    assert parse_definition(windowed.to_json()) == windowed


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -m retenta.segments.definition > src/retenta/segments/schema.json"
    )
    schema = json.loads(schema_text())
    assert "root" in schema["required"]


@pytest.mark.parametrize("module", ["definition", "definition_checks", "definition_labels"])
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"retenta.segments.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_example_in_the_docs_parses() -> None:
    """docs/segments.md's JSON examples (blocks and one-line ones) are valid conditions."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "segments.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`(\{\"type\": [^`]*\})`", text)
    shapes_only = [i for i in inline if "…" in i]  # the groups table shows shapes, not examples
    candidates = [b for block in blocks for b in _json_values(block)]
    candidates += [i for i in inline if i not in shapes_only]
    parsed = 0
    for raw in candidates:
        obj = json.loads(raw)
        if isinstance(obj, dict) and ("root" in obj or "type" in obj):
            parse_definition(obj if "root" in obj else {"root": obj})
            parsed += 1
    assert parsed >= 20


def _json_values(block: str) -> list[str]:
    """A block is one JSON document, or one document per line."""
    try:
        json.loads(block)
    except json.JSONDecodeError:
        return [line for line in block.splitlines() if line.strip().startswith("{")]
    return [block]


def test_an_event_condition_needs_an_event_name() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"version": 1, "root": {"type": "event", "event": ""}})
    assert [e["path"] for e in caught.value.errors] == ["root.event"]
