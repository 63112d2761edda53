"""What a run does next: pure, deterministic, explained.

``advance`` walks a run from its current node until it must wait (a timer or an event) or
it exits, returning the actions to take and one trace entry per decision. Determinism is
what makes execution exactly-once: a send's id and a split's branch derive from the run
and the node, so replaying a step after a crash makes the same send id (which the send
ledger takes once) and takes the same branch.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from retenta.journeys import actions
from retenta.journeys.definition import (
    AttributeIs,
    ConditionNode,
    EventHappened,
    ExitNode,
    InSegment,
    Journey,
    Node,
    SendNode,
    SplitNode,
    WaitEventNode,
    WaitNode,
)
from retenta.journeys.nodes import (
    CascadeNode,
    GoalNode,
    ListNode,
    MessageStatusIs,
    UpdateContactNode,
    WaitUntilNode,
    WebhookNode,
)
from retenta.journeys.steps import (
    Effect,
    Facts,
    MessageState,
    Run,
    SendAction,
    Step,
    TraceEntry,
    cascade_send_id,
    send_id_for,
)

__all__ = ["Effect", "Facts", "MessageState", "Run", "SendAction", "Step", "TraceEntry",
           "advance", "cascade_send_id", "compare", "send_id_for", "split_branch"]  # fmt: skip

ACTION_NODES = (UpdateContactNode, ListNode, WebhookNode, GoalNode, WaitUntilNode, CascadeNode)
MAX_STEPS = 1_000  # a guard: a valid (acyclic) journey never takes this many in one advance


def advance(journey: Journey, run: Run, facts: Facts, now: datetime) -> Step:
    step = Step(run.node_id, run.node_entered_at)
    for _ in range(MAX_STEPS):
        node = journey.node(step.node_id)
        target = _visit(journey, node, run, step, facts, now)
        if target is None:
            return step
        step.node_id, step.node_entered_at = target, now
    raise RuntimeError(f"run {run.run_id} took {MAX_STEPS} steps without waiting")


def _visit(
    journey: Journey, node: Node, run: Run, step: Step, facts: Facts, now: datetime
) -> str | None:
    """The next node, or ``None`` when the run waits or has finished."""
    if isinstance(node, ACTION_NODES):
        return _action(node, run, step, facts, now)
    if isinstance(node, ExitNode):
        step.finished = True
        step.trace.append(TraceEntry(node.id, "exit", "reached the exit"))
        return None
    if isinstance(node, SendNode):
        send_id = send_id_for(run.run_id, node.id)
        step.sends.append(SendAction(node.id, send_id, node.message_id, node.cascade,
                                     node.category))  # fmt: skip
        step.trace.append(TraceEntry(node.id, "sent", f"{node.message_id} queued as {send_id}"))
        return node.next
    if isinstance(node, WaitNode):
        due = step.node_entered_at + node.duration.delta()
        return _wait_until(node.id, due, node.next, step, now, f"{node.duration.amount} "
                           f"{node.duration.unit} passed")  # fmt: skip
    if isinstance(node, WaitEventNode):
        if facts.event_since(node.event, step.node_entered_at):
            step.trace.append(TraceEntry(node.id, "branch", f"{node.event!r} happened"))
            return node.then
        due = step.node_entered_at + node.timeout.delta()
        if now >= due:
            step.trace.append(TraceEntry(node.id, "branch", f"no {node.event!r} in time"))
            return node.else_
        step.wake_at, step.waiting_for = due, node.event
        step.trace.append(
            TraceEntry(node.id, "waiting", f"for {node.event!r} until {due:%Y-%m-%d %H:%M}Z")
        )
        return None
    if isinstance(node, ConditionNode):
        holds, why = _holds(journey, node, run, facts)
        step.trace.append(TraceEntry(node.id, "branch", f"{why}: {'yes' if holds else 'no'}"))
        return node.then if holds else node.else_
    assert isinstance(node, SplitNode)
    index = split_branch(run.run_id, node.id, [b.weight for b in node.branches])
    chosen = node.branches[index]
    step.trace.append(TraceEntry(node.id, "branch", f"split → {chosen.label or index}"))
    return chosen.next


def _action(node: Node, run: Run, step: Step, facts: Facts, now: datetime
            ) -> str | None:  # fmt: skip
    """The action nodes (``actions.py``)."""
    if isinstance(node, UpdateContactNode):
        return actions.update_contact(node, run, step, facts)
    if isinstance(node, ListNode):
        return actions.list_membership(node, run, step)
    if isinstance(node, WebhookNode):
        return actions.webhook(node, run, step, facts)
    if isinstance(node, GoalNode):
        return actions.goal(node, run, step, facts)
    if isinstance(node, WaitUntilNode):
        return actions.wait_until(node, step, facts, now)
    assert isinstance(node, CascadeNode)
    return actions.cascade(node, run, step, facts, now)


def _wait_until(
    node_id: str, due: datetime, then: str, step: Step, now: datetime, reason: str
) -> str | None:
    if now >= due:
        step.trace.append(TraceEntry(node_id, "waited", reason))
        return then
    step.wake_at = due
    step.trace.append(TraceEntry(node_id, "waiting", f"until {due:%Y-%m-%d %H:%M}Z"))
    return None


def _holds(journey: Journey, node: ConditionNode, run: Run, facts: Facts) -> tuple[bool, str]:
    predicate = node.if_
    if isinstance(predicate, MessageStatusIs):
        return message_status(journey, predicate, run, facts), (
            f"{predicate.node}'s message {predicate.status}"
        )
    if isinstance(predicate, EventHappened):
        since = run.entered_at if predicate.since == "entry" else None
        return facts.event_since(predicate.event, since), f"{predicate.event!r} happened"
    if isinstance(predicate, InSegment):
        return facts.in_segment(predicate.segment_id), f"in segment {predicate.segment_id}"
    assert isinstance(predicate, AttributeIs)
    value = facts.attribute(predicate.attribute)
    return compare(value, predicate.op, predicate.value), f"{predicate.attribute} {predicate.op}"


def message_status(journey: Journey, predicate: MessageStatusIs, run: Run, facts: Facts) -> bool:
    """Whether the send node's send (or any channel of the cascade node) reached the status."""
    node = journey.node(predicate.node)
    if isinstance(node, CascadeNode):
        ids = [cascade_send_id(run.run_id, node.id, i) for i in range(len(node.channels))]
    else:
        ids = [send_id_for(run.run_id, node.id)]
    states = [facts.message(send_id) for send_id in ids]
    return any(s is not None and s.reached(predicate.status) for s in states)


def compare(value: Any, op: str, expected: Any) -> bool:
    """A attribute/property comparison; a missing value fails everything but ``not_equals``.

    >>> compare(5, "gte", 3), compare("Kyiv", "in", ["Kyiv", "Lviv"]), compare(None, "gt", 1)
    (True, True, False)
    """
    if op == "exists":
        return value is not None
    if value is None:
        return op == "not_equals"
    try:
        match op:
            case "equals":
                return bool(value == expected)
            case "not_equals":
                return bool(value != expected)
            case "gt":
                return bool(value > expected)
            case "gte":
                return bool(value >= expected)
            case "lt":
                return bool(value < expected)
            case "lte":
                return bool(value <= expected)
            case "contains":
                return str(expected) in str(value)
            case "in":
                return value in (expected or ())
    except TypeError:
        return False
    return False


def split_branch(run_id: str, node_id: str, weights: list[int]) -> int:
    """A branch drawn once per run, in proportion to the weights.

    >>> split_branch("r", "s", [0, 1]), split_branch("r", "s", [1, 0])
    (1, 0)
    """
    draw = int(hashlib.sha256(f"{run_id}\x1f{node_id}".encode()).hexdigest()[:12], 16)
    point = draw % sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    return len(weights) - 1
