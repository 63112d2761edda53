"""A journey as data: an entry (trigger + rules) and a graph of nodes, validated whole.

A node names the nodes that follow it (``next``, ``then``/``else``, ``branches``), so an
edge cannot dangle without the validator saying which node and which field. The graph
must be acyclic (loops are a later feature, with a cap), every node reachable from
``start``, and every path must end in an ``exit`` node.

>>> j = parse({"name": "Welcome", "entry": {"trigger": {"type": "event", "event": "Signed Up"}},
...            "start": "hello", "nodes": [
...     {"id": "hello", "type": "send", "message_id": "msg_1", "next": "bye"},
...     {"id": "bye", "type": "exit"}]})
>>> [n.id for n in j.nodes], j.entry.rule.type
(['hello', 'bye'], 'once')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from retenta.journeys.nodes import (
    CascadeNode,
    GoalNode,
    JourneyGoal,
    ListNode,
    MessageStatusIs,
    UpdateContactNode,
    WaitUntilNode,
    WebhookNode,
    node_errors,
)
from retenta.journeys.triggers import (
    OPS,
    UNIT_SECONDS,
    ApiTrigger,
    Duration,
    Entry,
    EntryRule,
    EventTrigger,
    PropertyFilter,
    SegmentTrigger,
    Strict,
    Trigger,
)

# The trigger models live in triggers.py, re-exported here so existing imports keep working
# (names defined in this module are importable whether listed or not).
__all__ = [
    "OPS",
    "UNIT_SECONDS",
    "ApiTrigger",
    "CascadeNode",
    "Duration",
    "Entry",
    "EntryRule",
    "EventTrigger",
    "GoalNode",
    "JourneyGoal",
    "ListNode",
    "MessageStatusIs",
    "PropertyFilter",
    "SegmentTrigger",
    "Strict",
    "Trigger",
    "UpdateContactNode",
    "WaitUntilNode",
    "WebhookNode",
]


class SendNode(Strict):
    id: str
    type: Literal["send"]
    message_id: str = Field(min_length=1, max_length=100)
    cascade: tuple[str, ...] = ("email",)
    category: Literal["transactional", "trigger", "promo"] = "trigger"
    next: str


class WaitNode(Strict):
    """A fixed wait: ``duration`` from when the run reached the node."""

    id: str
    type: Literal["wait"]
    duration: Duration
    next: str


class WaitEventNode(Strict):
    """Until ``event`` happens (``then``) or ``timeout`` passes (``else``)."""

    id: str
    type: Literal["wait_event"]
    event: str = Field(min_length=1, max_length=200)
    timeout: Duration
    then: str
    else_: str = Field(alias="else")


class EventHappened(Strict):
    kind: Literal["event_happened"]
    event: str = Field(min_length=1, max_length=200)
    since: Literal["entry", "ever"] = "entry"


class AttributeIs(Strict):
    kind: Literal["attribute"]
    attribute: str = Field(min_length=1, max_length=200)
    op: Literal["equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "contains", "in"]
    value: Any = None


class InSegment(Strict):
    kind: Literal["segment"]
    segment_id: str = Field(min_length=1, max_length=100)


Predicate = Annotated[
    EventHappened | AttributeIs | InSegment | MessageStatusIs, Field(discriminator="kind")
]


class ConditionNode(Strict):
    id: str
    type: Literal["condition"]
    if_: Predicate = Field(alias="if")
    then: str
    else_: str = Field(alias="else")


class Branch(Strict):
    weight: int = Field(ge=0, le=10_000)
    next: str
    label: str = ""


class SplitNode(Strict):
    """Random split (A/B/n, holdout): a run's branch is fixed by its id, never re-drawn."""

    id: str
    type: Literal["split"]
    branches: tuple[Branch, ...] = Field(min_length=2, max_length=10)


class ExitNode(Strict):
    id: str
    type: Literal["exit"]


Node = Annotated[
    SendNode
    | WaitNode
    | WaitEventNode
    | ConditionNode
    | SplitNode
    | ExitNode
    | UpdateContactNode
    | ListNode
    | WebhookNode
    | GoalNode
    | WaitUntilNode
    | CascadeNode,
    Field(discriminator="type"),
]


class Journey(Strict):
    name: str = Field(min_length=1, max_length=200)
    entry: Entry
    start: str
    nodes: tuple[Node, ...] = Field(min_length=1, max_length=500)
    goal: JourneyGoal | None = None  # this event while a run is active: converted

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


class DefinitionError(ValueError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['reason']}" for e in errors))
        self.errors = errors


_ADAPTER = TypeAdapter(Journey)
_NODE_TYPES = frozenset({"send", "wait", "wait_event", "condition", "split", "exit",
                         "update_contact", "list", "webhook", "goal", "wait_until",
                         "cascade"})  # fmt: skip
_UNION_TAGS = frozenset({"event_happened", "attribute", "segment", "message", "event", "api",
                         "schedule", "date", "subscription", "list", "goal"})  # fmt: skip


def parse(doc: Any) -> Journey:
    """The journey, or :class:`DefinitionError` listing every problem with its path."""
    try:
        journey = _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        raise DefinitionError([_pydantic_error(e) for e in exc.errors()]) from None
    errors = list(graph_errors(journey))
    if errors:
        raise DefinitionError(errors)
    return journey


def _pydantic_error(error: Any) -> dict[str, str]:
    loc = _without_tags(tuple(error["loc"]))
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return {"path": path.lstrip(".") or "$", "reason": str(error["msg"])}


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location without pydantic's union tags, which are no field of the document.

    >>> _without_tags(("nodes", 0, "wait_until", "at")), _without_tags(("if", "message", "node"))
    (('nodes', 0, 'at'), ('if', 'node'))
    >>> _without_tags(("entry", "trigger", "event", "event"))
    ('entry', 'trigger', 'event')
    """
    out: list[Any] = []
    for index, part in enumerate(loc):
        previous = loc[index - 1] if index else None
        tagged = (isinstance(previous, int) and part in _NODE_TYPES) or (
            previous in ("if", "trigger") and isinstance(part, str) and part in _UNION_TAGS
        )
        if not tagged or index == len(loc) - 1:
            out.append(part)
    return tuple(out)


def successors(node: Node) -> list[tuple[str, str]]:
    """``(field, target)`` for each edge leaving ``node``."""
    if isinstance(node, SendNode | WaitNode | UpdateContactNode | ListNode | WebhookNode
                  | WaitUntilNode | CascadeNode):  # fmt: skip
        return [("next", node.next)]
    if isinstance(node, GoalNode):
        return [] if node.next is None else [("next", node.next)]
    if isinstance(node, WaitEventNode | ConditionNode):
        return [("then", node.then), ("else", node.else_)]
    if isinstance(node, SplitNode):
        return [(f"branches[{i}].next", b.next) for i, b in enumerate(node.branches)]
    return []


def graph_errors(journey: Journey) -> Iterator[dict[str, str]]:
    index: dict[str, int] = {}
    for position, node in enumerate(journey.nodes):
        if node.id in index:
            yield {"path": f"nodes[{position}].id", "reason": f"duplicate node id {node.id!r}"}
        index.setdefault(node.id, position)
    if journey.start not in index:
        yield {"path": "start", "reason": f"no node {journey.start!r}"}
        return
    for position, node in enumerate(journey.nodes):
        for field, target in successors(node):
            if target not in index:
                yield {"path": f"nodes[{position}].{field}", "reason": f"no node {target!r}"}
        if isinstance(node, SplitNode) and sum(b.weight for b in node.branches) == 0:
            yield {"path": f"nodes[{position}].branches", "reason": "the weights add up to 0"}
        yield from node_errors(node, f"nodes[{position}]")
        yield from _message_ref_errors(journey, node, position, index)
    yield from _shape_errors(journey, index)


def _message_ref_errors(
    journey: Journey, node: Node, position: int, index: dict[str, int]
) -> Iterator[dict[str, str]]:
    """A message-status condition names a send or cascade node of the same journey."""
    if not isinstance(node, ConditionNode) or not isinstance(node.if_, MessageStatusIs):
        return
    target = node.if_.node
    if target not in index or not isinstance(journey.nodes[index[target]], SendNode | CascadeNode):
        yield {
            "path": f"nodes[{position}].if.node",
            "reason": f"no send or cascade node {target!r}",
        }


def _shape_errors(journey: Journey, index: dict[str, int]) -> Iterator[dict[str, str]]:
    """Unreachable nodes and cycles (every path then ends in an exit or a goal: only they
    have no successors)."""
    state: dict[str, str] = {}
    cycle: list[str] = []

    def visit(node_id: str) -> None:
        state[node_id] = "open"
        for _, target in successors(journey.nodes[index[node_id]]):
            if target not in index:
                continue
            if state.get(target) == "open" and not cycle:
                cycle.append(target)
            elif target not in state:
                visit(target)
        state[node_id] = "done"

    visit(journey.start)
    if cycle:
        yield {"path": f"nodes[{index[cycle[0]]}]", "reason": f"a loop through {cycle[0]!r}"}
    for position, node in enumerate(journey.nodes):
        if node.id not in state:
            yield {"path": f"nodes[{position}]", "reason": f"{node.id!r} cannot be reached"}
