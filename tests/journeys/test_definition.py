"""Journey definitions: valid graphs parse; every broken one is refused with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from retenta.journeys.definition import DefinitionError, parse

CART: dict[str, Any] = {
    "name": "Abandoned cart",
    "entry": {"trigger": {"type": "event", "event": "Checkout Started",
                          "where": [{"property": "total", "op": "gte", "value": 50}]},
              "rule": {"type": "once_per", "period": {"amount": 7, "unit": "days"}}},
    "start": "wait",
    "nodes": [
        {"id": "wait", "type": "wait_event", "event": "Order Completed",
         "timeout": {"amount": 1, "unit": "hours"}, "then": "bought", "else": "remind"},
        {"id": "remind", "type": "send", "message_id": "msg_cart", "cascade": ["push", "email"],
         "next": "ab"},
        {"id": "ab", "type": "split", "branches": [
            {"weight": 90, "next": "discount", "label": "discount"},
            {"weight": 10, "next": "bought", "label": "holdout"}]},
        {"id": "discount", "type": "send", "message_id": "msg_discount", "next": "bought"},
        {"id": "bought", "type": "exit"},
    ],
}  # fmt: skip


def broken(change: Any) -> list[dict[str, str]]:
    doc = copy.deepcopy(CART)
    change(doc)
    with pytest.raises(DefinitionError) as error:
        parse(doc)
    return error.value.errors


def test_a_valid_journey() -> None:
    journey = parse(CART)
    assert journey.start == "wait"
    assert [n.type for n in journey.nodes] == ["wait_event", "send", "split", "send", "exit"]


def test_a_dangling_edge_names_the_node_and_field() -> None:
    errors = broken(lambda d: d["nodes"][1].update(next="nowhere"))
    assert errors[0] == {"path": "nodes[1].next", "reason": "no node 'nowhere'"}


def test_unreachable_nodes_and_loops() -> None:
    def orphan(d: Any) -> None:
        d["nodes"].append({"id": "lost", "type": "exit"})

    assert broken(orphan) == [{"path": "nodes[5]", "reason": "'lost' cannot be reached"}]
    loop = broken(lambda d: d["nodes"][3].update(next="remind"))
    assert loop[0]["reason"] == "a loop through 'remind'"


def test_shapes_and_fields() -> None:
    dup = broken(lambda d: d["nodes"][4].update(id="ab"))
    assert {"path": "nodes[4].id", "reason": "duplicate node id 'ab'"} in dup
    zero = broken(lambda d: [b.update(weight=0) for b in d["nodes"][2]["branches"]])
    assert zero == [{"path": "nodes[2].branches", "reason": "the weights add up to 0"}]
    missing = broken(lambda d: d["nodes"][1].pop("message_id"))
    assert missing[0]["path"].startswith("nodes[1]")
    assert "message_id" in missing[0]["path"]
    no_period = broken(lambda d: d["entry"]["rule"].pop("period"))
    assert "once_per needs a period" in no_period[0]["reason"]
    bad_start = broken(lambda d: d.update(start="x"))
    assert bad_start == [{"path": "start", "reason": "no node 'x'"}]
